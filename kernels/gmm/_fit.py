"""Batched mixture fitting: k-means starts, EM, Stochastic EM and Classification EM.

A batch is ``B`` data sets of the same size and dimension (the combinations of one dimension,
for one facies) given as quadratic feature tables ``Q`` (B, n, p), and ``G`` covariance models
fitted to each with ``K`` components, so ``B * G`` fits advance together. Parameters are arrays
``weights (B, G, K)``, ``means (B, G, K, d)``, ``covariances (B, G, K, d, d)``. Every step is a
few batched matrix products and element-wise operations; nothing loops over voxels or fits
(the loop over models only dispatches each model's closed-form M-step on its slice).

Works on NumPy and CuPy arrays alike; the hot steps are those of the array module of ``q``
(:func:`~facies.kernels.gmm.ops_for`: ``NumpyOps`` on the CPU, ``CudaOps`` with RawKernels on a
GPU). The ``ops`` argument overrides that choice (tests pass the reference ``MixtureOps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facies.kernels.array_module import array_module
from facies.kernels.gmm._density import (DEFAULT_RCOND, covariance_checks, feature_dimension,
                                        log_joint_coefficients)
from facies.kernels.gmm._models import m_step, scatter
from facies.kernels.gmm._ops import ops_for


@dataclass
class Mixture:
    """Parameters of a stack of fits (see module docstring for shapes)."""

    # NumPy or CuPy arrays.
    weights: Any
    means: Any
    covariances: Any

    def where(self, mask, other: Mixture) -> Mixture:
        """``self`` where ``mask`` (B, G) holds, else ``other``."""
        xp = array_module(self.weights)
        return Mixture(xp.where(mask[..., None], self.weights, other.weights),
                       xp.where(mask[..., None, None], self.means, other.means),
                       xp.where(mask[..., None, None, None], self.covariances, other.covariances))


@dataclass
class FitResult:
    """Outcome of :func:`fit_mixtures` for a batch.

    ``loglik`` is the observed log-likelihood (B, G), ``-inf`` for invalid fits; ``valid`` (B, G);
    ``classification_loglik`` the classification log-likelihood ``sum_i max_k log(pi_k f_k(x_i))`` of the
    same parameters (the CEM objective; ``-inf`` for invalid fits).
    """

    mixture: Mixture
    loglik: Any
    valid: Any
    classification_loglik: Any = None


def coefficients(mix: Mixture, rcond: float = DEFAULT_RCOND, ok=None):
    """E-step coefficient matrix (B, G*K, p) and the per-component covariance checks (B, G, K).

    ``ok`` is ``covariance_checks(mix.covariances, rcond)`` when the caller already has it.
    """
    if ok is None:
        ok = covariance_checks(mix.covariances, rcond)
    c = log_joint_coefficients(mix.weights, mix.means, mix.covariances, ok)  # (B, G, K, p)
    b, g, k, p = c.shape
    return c.reshape(b, g * k, p), ok


def maximise(models, nk, sk, s2k, scattered=None) -> Mixture:
    """Closed-form M-step of each model on its slice of the statistics.

    ``scattered`` is ``scatter(nk, sk, s2k)`` when the caller already has it.
    """
    xp = array_module(nk)
    means, w = scatter(nk, sk, s2k) if scattered is None else scattered
    parts = [m_step(model, nk[:, g], sk[:, g], s2k[:, g], scattered=(means[:, g], w[:, g]))
             for g, model in enumerate(models)]
    return Mixture(*(xp.stack([p[i] for p in parts], axis=1) for i in range(3)))


def usable(nk, w, ok, rcond: float = DEFAULT_RCOND):
    """A fit is usable when every cluster holds at least ``d + 1`` voxels, its own sample covariance
    (scatter ``w`` / size) is non-singular, and every model covariance ``ok`` passes the checks.

    Checking the cluster's sample covariance too keeps spherical models from hiding a constant
    attribute: data on a hyperplane make the combination invalid whatever the model.
    """
    d = w.shape[-1]
    sample_ok = covariance_checks(w, rcond)
    return ((nk >= d + 1) & sample_ok & ok).all(axis=-1)


def m_step_checked(models, nk, sk, s2k, rcond: float = DEFAULT_RCOND):
    """Every model's M-step on the statistics of a partition, and whether its result can be used.

    The scatter matrices serve both the M-steps and :func:`usable`, and the covariance checks
    both :func:`usable` and the next E-step: each is computed once.

    Returns
    -------
    (Mixture, ok (B, G, K), usable (B, G))
    """
    scattered = scatter(nk, sk, s2k)
    mix = maximise(models, nk, sk, s2k, scattered)
    ok = covariance_checks(mix.covariances, rcond)
    return mix, ok, usable(nk, scattered[1], ok, rcond)


def _keep(mask, new, old):
    """Checks ``new`` (B, G, K) where ``mask`` (B, G) holds, else ``old``: the checks of ``Mixture.where``'s result."""
    return array_module(new).where(mask[..., None], new, old)


def em(q, mix: Mixture, models, n_iter: int, *, rcond: float = DEFAULT_RCOND, ops=None):
    """Plain EM (soft responsibilities), ``n_iter`` iterations; returns the mixture and the log-likelihoods
    of each iterate.

    Used to check the M-steps against scikit-learn's EM; the selection itself uses SEM then CEM.
    """
    xp = array_module(q)
    ops = ops or ops_for(q)
    d = mix.means.shape[-1]
    k = mix.weights.shape[-1]
    history = []
    for _ in range(n_iter):
        coef, _ = coefficients(mix, rcond)
        ll, resp = ops.posterior(ops.log_joint(q, coef, k))
        history.append(ll)
        mix = maximise(models, *ops.statistics(q, resp, d))
    return mix, xp.stack(history)


def principal_projection(lin, dims: int = 2):
    """The linear features ``[1, x]`` (B, n, 1 + d) projected on each item's first ``min(dims, d)`` principal
    axes (eigenvectors of its sample covariance with the largest eigenvalues): ``[1, y]`` (B, n, 1 + dims').

    The scores are centred on each item's mean. Eigenvector signs do not matter to k-means.
    """
    xp = array_module(lin)
    b, n, p = lin.shape
    d = p - 1
    x = lin[..., 1:]
    centred = x - x.mean(axis=1, keepdims=True)
    cov = xp.swapaxes(centred, 1, 2) @ centred / max(n - 1, 1)  # (B, d, d)
    _, vectors = xp.linalg.eigh(cov)  # ascending eigenvalues
    m = min(dims, d)
    axes = vectors[..., ::-1][..., :m]  # (B, d, m), the largest first
    scores = centred @ axes  # (B, n, m)
    return xp.ascontiguousarray(xp.concatenate([lin[..., :1], scores], axis=-1))


def kmeans(q, k: int, draws, *, starts: int = 3, n_iter: int = 20, init: str = "full"):
    """Lloyd's k-means on the linear features, several seeded starts, best inertia among usable starts.

    ``init="full"`` clusters in the space of all ``d`` attributes; ``init="pca2"`` (AASPI) in the space of
    each item's first two principal axes (:func:`principal_projection`). A start stops early once its
    labels no longer change (a fixed point of Lloyd's iteration, so the result is the same as running on).
    Returns one-hot labels (B, K, n) and a mask (B,) of items with a start whose clusters all hold
    more than ``d`` voxels (``d`` the data's dimension, whatever space the clustering ran in).
    Distances are the products ``[|c|^2, -2c] . [1, x]`` (``|x - c|^2`` less ``|x|^2``), laid out
    (B, K, n) so that every pass runs along the voxels; ties go to the lowest centre.
    """
    if init not in ("full", "pca2"):
        raise ValueError(f"k-means init must be 'full' or 'pca2', not {init!r}")
    xp = array_module(q)
    b, n, _ = q.shape
    d = feature_dimension(q.shape[-1])
    lin = xp.ascontiguousarray(q[..., :1 + d])  # [1, x], (B, n, 1 + d)
    if init == "pca2":
        lin = principal_projection(lin, 2)
    lin_t = xp.ascontiguousarray(xp.swapaxes(lin, 1, 2))
    rows = xp.arange(b)[:, None]
    components = xp.arange(k)[:, None]
    best_labels = xp.zeros((b, k, n), dtype=q.dtype)
    best_inertia = xp.full(b, xp.inf)
    for s in range(starts):
        u = xp.asarray(draws.kmeans(s, k))
        idx = xp.minimum((u * n).astype(xp.int64), n - 1)
        centres = lin[rows, idx, 1:]  # (B, K, d)
        previous = None
        for _ in range(n_iter):
            coef = xp.concatenate([(centres ** 2).sum(-1)[..., None], -2 * centres], axis=-1)  # (B, K, 1 + d)
            score = coef @ lin_t  # (B, K, n)
            if k == 2:
                second = score[:, 1] < score[:, 0]
                onehot = xp.stack([~second, second], axis=1).astype(q.dtype)
            else:
                onehot = (score.argmin(axis=1)[:, None, :] == components).astype(q.dtype)
            if previous is not None and bool((onehot == previous).all()):
                break  # every item at a fixed point: the centres below would be recomputed unchanged
            previous = onehot
            stats = onehot @ lin  # (B, K, 1 + d)
            counts = stats[..., 0]
            new = stats[..., 1:] / xp.maximum(counts, 1)[..., None]
            centres = xp.where(counts[..., None] > 0, new, centres)
        inertia = score.min(axis=1).sum(-1)
        good = (counts >= d + 1).all(-1) & (inertia < best_inertia)
        best_inertia = xp.where(good, inertia, best_inertia)
        best_labels = xp.where(good[:, None, None], onehot, best_labels)
    return best_labels, xp.isfinite(best_inertia)


def sem(q, mix: Mixture, alive, models, n_iter: int, draws, *, ok=None, rcond: float = DEFAULT_RCOND,
        ops=None, total=None):
    """Stochastic EM: ``n_iter`` S-steps; returns the iterate with the best observed log-likelihood.

    A draw whose partition is not usable (a cluster with at most ``d`` voxels or a singular
    covariance) is rejected: the fit keeps its previous parameters for that iteration.
    ``ok`` is ``covariance_checks(mix.covariances)`` and ``total`` is ``q.sum(1)`` (computed when
    not given). Returns the best mixture, its log-likelihood (B, G) and its covariance checks.
    """
    xp = array_module(q)
    ops = ops or ops_for(q)
    k = mix.weights.shape[-1]
    total = q.sum(axis=1) if total is None else total
    ok = covariance_checks(mix.covariances, rcond) if ok is None else ok
    best, best_ll, best_ok = mix, xp.full(alive.shape, -xp.inf), ok
    for t in range(n_iter + 1):
        coef, _ = coefficients(mix, rcond, ok)
        if t == n_iter:
            ll = ops.observed_loglik(q, coef, k, total)
        else:
            ll, stats = ops.s_step(q, coef, k, draws, t, total)
        better = alive & ok.all(-1) & (ll > best_ll)
        best, best_ll, best_ok = mix.where(better, best), xp.where(better, ll, best_ll), _keep(better, ok, best_ok)
        if t == n_iter:
            break
        nk, sk, s2k = stats
        new, new_ok, accept = m_step_checked(models, nk, sk, s2k, rcond)
        mix, ok = new.where(accept, mix), _keep(accept, new_ok, ok)
    return best, best_ll, best_ok


def _take(mix: Mixture, rows) -> Mixture:
    return Mixture(mix.weights[rows], mix.means[rows], mix.covariances[rows])


def cem(q, mix: Mixture, alive, models, *, ok=None, tol: float = 1e-8, max_iter: int = 100,
        rcond: float = DEFAULT_RCOND, ops=None, total=None):
    """Classification EM from ``mix`` until the classification log-likelihood changes by less than ``tol`` (relative).

    A fit whose C-step partition is not usable stops at its previous parameters. Iterations run
    only on the batch items that still have an active fit: CEM converges in a few iterations for
    most fits but has a long tail, so the working set is compacted whenever it has shrunk by a
    quarter (each item's arithmetic is unchanged by this). ``mix`` is updated in place; ``ok`` is
    ``covariance_checks(mix.covariances)`` (computed when not given).
    Returns the mixture and its covariance checks (B, G, K).
    """
    xp = array_module(q)
    ops = ops or ops_for(q)
    k = mix.weights.shape[-1]
    total = q.sum(axis=1) if total is None else total
    ok = covariance_checks(mix.covariances, rcond) if ok is None else ok.copy()
    active = alive.copy()
    previous = xp.full(alive.shape, -xp.inf)
    rows = xp.arange(q.shape[0])
    qs, ts = q, total
    for _ in range(max_iter):
        live = active[rows].any(axis=-1)
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= 0.75 * rows.size:
            rows = rows[live]
            qs, ts = q[rows], total[rows]
        sub, sub_ok = _take(mix, rows), ok[rows]
        act = active[rows]
        coef, _ = coefficients(sub, rcond, sub_ok)
        cl, stats = ops.c_step(qs, coef, k, ts)
        converged = xp.abs(cl - previous[rows]) <= tol * xp.abs(cl)
        act &= ~converged
        previous[rows] = cl
        nk, sk, s2k = stats
        new, new_ok, good = m_step_checked(models, nk, sk, s2k, rcond)
        accept = act & good
        active[rows] = accept
        sub = new.where(accept, sub)
        mix.weights[rows], mix.means[rows], mix.covariances[rows] = sub.weights, sub.means, sub.covariances
        ok[rows] = _keep(accept, new_ok, sub_ok)
    return mix, ok


def fit_mixtures(q, k: int, models, draws, *, sem_iter: int = 200, kmeans_starts: int = 3, kmeans_iter: int = 20,
                 kmeans_init: str = "full", cem_tol: float = 1e-8, cem_max_iter: int = 100,
                 rcond: float = DEFAULT_RCOND, ops=None) -> FitResult:
    """Fit ``K``-component mixtures of every model to every item of the batch.

    ``K = 1`` is closed form (one M-step). Otherwise: k-means partition (shared by all models; in the
    full space or that of the first two principal axes, ``kmeans_init``, see :func:`kmeans`),
    each model's M-step on it, SEM for ``sem_iter`` iterations keeping its best iterate, then CEM.
    Invalid fits come back with ``valid = False`` and ``loglik = -inf``, never NaN. The hot steps
    are ``ops_for(q)`` (NumPy or CUDA, by the array module of ``q``) unless ``ops`` is given.
    """
    xp = array_module(q)
    ops = ops or ops_for(q)
    b, n, p = q.shape
    g = len(models)
    d = feature_dimension(p)
    total = q.sum(axis=1)
    if k == 1:
        labels = xp.ones((b, 1, n), dtype=q.dtype)
        alive = xp.full(b, n >= d + 1)
    else:
        labels, alive = kmeans(q, k, draws, starts=kmeans_starts, n_iter=kmeans_iter, init=kmeans_init)
    # One partition for every model: its statistics once, broadcast to the G models.
    start = ops.hard_statistics(q, labels[:, None, :k - 1], total, d)
    nk, sk, s2k = (xp.broadcast_to(a, (b, g) + a.shape[2:]) for a in start)
    mix, ok, good = m_step_checked(models, nk, sk, s2k, rcond)
    alive = alive[:, None] & good
    if k > 1:
        mix, sem_ll, ok = sem(q, mix, alive, models, sem_iter, draws, ok=ok, rcond=rcond, ops=ops, total=total)
        alive &= xp.isfinite(sem_ll)
        mix, ok = cem(q, Mixture(*(a.copy() for a in (mix.weights, mix.means, mix.covariances))), alive, models,
                      ok=ok, tol=cem_tol, max_iter=cem_max_iter, rcond=rcond, ops=ops, total=total)
    coef, _ = coefficients(mix, rcond, ok)
    ll = ops.observed_loglik(q, coef, k, total)
    cl, (nk, sk, s2k) = ops.c_step(q, coef, k, total)
    valid = alive & usable(nk, scatter(nk, sk, s2k)[1], ok, rcond) & xp.isfinite(ll) & xp.isfinite(cl)
    return FitResult(mix, xp.where(valid, ll, -xp.inf), valid, xp.where(valid, cl, -xp.inf))
