"""Batched mixture fitting: k-means starts, EM, Stochastic EM and Classification EM.

A batch is ``B`` data sets of the same size and dimension (the combinations of one dimension,
for one facies) given as quadratic feature tables ``Q`` (B, n, p), and ``G`` covariance models
fitted to each with ``K`` components, so ``B * G`` fits advance together. Parameters are arrays
``weights (B, G, K)``, ``means (B, G, K, d)``, ``covariances (B, G, K, d, d)``. Every step is a
few batched matrix products and element-wise operations; nothing loops over voxels or fits
(the loop over models only dispatches each model's closed-form M-step on its slice).

Works on NumPy and CuPy arrays alike; the GPU module swaps in RawKernels for the hot steps
through the ``ops`` argument (see :class:`NumpyOps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facies.engine.backend import array_module
from facies.kernels.gmm_density import (DEFAULT_RCOND, covariance_checks, log_joint_coefficients,
                                        unpack_statistics)
from facies.kernels.gmm_models import m_step, scatter


@dataclass
class Mixture:
    """Parameters of a stack of fits (see module docstring for shapes)."""

    weights: object
    means: object
    covariances: object

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
    ``sizes`` (B, G, K) the voxels of each cluster under the final classification;
    ``sem_loglik`` the best SEM log-likelihood; ``cem_iterations`` (B, G).
    """

    mixture: Mixture
    loglik: object
    valid: object
    sizes: object
    sem_loglik: object
    cem_iterations: object


class NumpyOps:
    """The hot steps, vectorised with the array module of the inputs (NumPy or CuPy).

    Log-joint densities are laid out (B, G, K, n): each component's row is contiguous over
    voxels, so every element-wise pass and every sum over voxels streams through memory.
    """

    @staticmethod
    def _logsumexp(lj):
        xp = array_module(lj)
        k = lj.shape[-2]
        if k == 1:
            return lj[..., 0, :]
        if k == 2:  # -inf - -inf only happens in fits already marked invalid
            with np.errstate(invalid="ignore"):
                return xp.logaddexp(lj[..., 0, :], lj[..., 1, :])
        m = lj.max(axis=-2)
        return m + xp.log(xp.exp(lj - m[..., None, :]).sum(axis=-2))

    @staticmethod
    def posterior(lj):
        """Observed log-likelihood per fit (B, G) and responsibilities (B, G, K, n) from log(pi f) (B, G, K, n)."""
        xp = array_module(lj)
        lse = NumpyOps._logsumexp(lj)
        return lse.sum(axis=-1), xp.exp(lj - lse[..., None, :])

    @staticmethod
    def sstep(lj, words):
        """E-step and S-step together: log-likelihood (B, G) and one-hot labels (B, G, K, n).

        ``words`` (B, G, n) are 32-bit Philox words, ``u = (w + 0.5) / 2**32``; voxel i goes to the
        first component j with ``u < p_0 + ... + p_j`` (``p`` its responsibilities).
        """
        xp = array_module(lj)
        k = lj.shape[-2]
        lse = NumpyOps._logsumexp(lj)
        scaled = words + 0.5  # u * 2**32, exact in float64
        labels = xp.empty_like(lj)
        taken = xp.zeros(words.shape, dtype=bool)
        cum = xp.zeros(lse.shape)
        for j in range(k - 1):
            cum += xp.exp(lj[..., j, :] - lse)
            hit = scaled < cum * 4294967296.0
            hit &= ~taken
            labels[..., j, :] = hit
            taken |= hit
        xp.logical_not(taken, out=taken)
        labels[..., k - 1, :] = taken
        return lse.sum(axis=-1), labels

    @staticmethod
    def classify(lj):
        """C-step: one-hot MAP labels (ties to the lowest index) and the classification log-likelihood (B, G)."""
        xp = array_module(lj)
        k = lj.shape[-2]
        z = lj.argmax(axis=-2)
        onehot = (z[..., None, :] == xp.arange(k)[:, None]).astype(lj.dtype)
        return onehot, lj.max(axis=-2).sum(axis=-1)


def coefficients(mix: Mixture, rcond: float = DEFAULT_RCOND):
    """E-step coefficient matrix (B, G*K, p) and the per-component covariance checks (B, G, K)."""
    ok = covariance_checks(mix.covariances, rcond)
    c = log_joint_coefficients(mix.weights, mix.means, mix.covariances, ok)  # (B, G, K, p)
    b, g, k, p = c.shape
    return c.reshape(b, g * k, p), ok


def log_joint(q, coef, k: int):
    """``log(pi_k f_k(x_i))`` for every model, component and voxel: (B, G, K, n)."""
    xp = array_module(q)
    lj = coef @ xp.swapaxes(q, -1, -2)
    return lj.reshape(lj.shape[0], -1, k, lj.shape[-1])


def statistics(q, r, d: int):
    """Sufficient statistics of responsibilities ``r`` (B, G, K, n): nk (B,G,K), sk, s2k."""
    xp = array_module(q)
    b, g, k, n = r.shape
    s = r.reshape(b, g * k, n) @ q  # (B, G*K, p)
    return unpack_statistics(xp.swapaxes(s.reshape(b, g, k, -1), -1, -2), d)


def maximise(models, nk, sk, s2k) -> Mixture:
    """Closed-form M-step of each model on its slice of the statistics."""
    xp = array_module(nk)
    parts = [m_step(model, nk[:, g], sk[:, g], s2k[:, g]) for g, model in enumerate(models)]
    return Mixture(*(xp.stack([p[i] for p in parts], axis=1) for i in range(3)))


def usable(nk, sk, s2k, ok, rcond: float = DEFAULT_RCOND):
    """A fit is usable when every cluster holds at least ``d + 1`` voxels, its own sample covariance
    (scatter / size) is non-singular, and every model covariance ``ok`` passes the checks.

    Checking the cluster's sample covariance too keeps spherical models from hiding a constant
    attribute: data on a hyperplane make the combination invalid whatever the model.
    """
    d = sk.shape[-1]
    _, w = scatter(nk, sk, s2k)
    sample_ok = covariance_checks(w, rcond)
    return ((nk >= d + 1) & sample_ok & ok).all(axis=-1)


def em(q, mix: Mixture, models, n_iter: int, *, rcond: float = DEFAULT_RCOND, ops=NumpyOps):
    """Plain EM (soft responsibilities), ``n_iter`` iterations; returns the mixture and the log-likelihoods of each iterate.

    Used to check the M-steps against scikit-learn's EM; the selection itself uses SEM then CEM.
    """
    xp = array_module(q)
    d = mix.means.shape[-1]
    k = mix.weights.shape[-1]
    history = []
    for _ in range(n_iter):
        coef, _ = coefficients(mix, rcond)
        ll, resp = ops.posterior(log_joint(q, coef, k))
        history.append(ll)
        mix = maximise(models, *statistics(q, resp, d))
    return mix, xp.stack(history)


def kmeans(q, k: int, draws, *, starts: int = 3, n_iter: int = 20):
    """Lloyd's k-means on the linear features, several seeded starts, best inertia among usable starts.

    Returns one-hot labels (B, K, n) and a mask (B,) of items with a start whose clusters all hold
    more than ``d`` voxels.
    """
    xp = array_module(q)
    b, n, _ = q.shape
    d = int(round((-3 + np.sqrt(9 - 8 * (1 - q.shape[-1]))) / 2))
    lin = q[..., :1 + d]
    x = q[..., 1:1 + d]
    rows = xp.arange(b)[:, None]
    best_labels = xp.zeros((b, n, k))
    best_inertia = xp.full(b, xp.inf)
    for s in range(starts):
        u = xp.asarray(draws.kmeans(s, k))
        idx = xp.minimum((u * n).astype(xp.int64), n - 1)
        centres = x[rows, idx]  # (B, K, d)
        for _ in range(n_iter):
            coef = xp.concatenate([(centres ** 2).sum(-1)[:, None, :], -2 * xp.swapaxes(centres, 1, 2)], axis=1)
            score = lin @ coef  # |x-c|^2 - |x|^2, (B, n, K)
            onehot = (score.argmin(-1)[..., None] == xp.arange(k)).astype(q.dtype)
            stats = xp.swapaxes(lin, 1, 2) @ onehot  # (B, 1+d, K)
            counts = stats[:, 0, :]
            new = xp.swapaxes(stats[:, 1:, :], 1, 2) / xp.maximum(counts, 1)[..., None]
            centres = xp.where(counts[..., None] > 0, new, centres)
        inertia = score.min(-1).sum(-1)
        good = (counts >= d + 1).all(-1) & (inertia < best_inertia)
        best_inertia = xp.where(good, inertia, best_inertia)
        best_labels = xp.where(good[:, None, None], onehot, best_labels)
    return xp.ascontiguousarray(xp.swapaxes(best_labels, 1, 2)), xp.isfinite(best_inertia)


def sem(q, mix: Mixture, alive, models, n_iter: int, draws, *, rcond: float = DEFAULT_RCOND, ops=NumpyOps):
    """Stochastic EM: ``n_iter`` S-steps; returns the iterate with the best observed log-likelihood.

    A draw whose partition is not usable (a cluster with at most ``d`` voxels or a singular
    covariance) is rejected: the fit keeps its previous parameters for that iteration.
    """
    xp = array_module(q)
    d = mix.means.shape[-1]
    k = mix.weights.shape[-1]
    best, best_ll = mix, xp.full(alive.shape, -xp.inf)
    for t in range(n_iter + 1):
        coef, ok = coefficients(mix, rcond)
        lj = log_joint(q, coef, k)
        if t == n_iter:
            ll, _ = ops.posterior(lj)
        else:
            ll, labels = ops.sstep(lj, xp.asarray(draws.sstep(t)))
        del lj
        better = alive & ok.all(-1) & (ll > best_ll)
        best, best_ll = mix.where(better, best), xp.where(better, ll, best_ll)
        if t == n_iter:
            break
        nk, sk, s2k = statistics(q, labels, d)
        new = maximise(models, nk, sk, s2k)
        accept = usable(nk, sk, s2k, covariance_checks(new.covariances, rcond), rcond)
        mix = new.where(accept, mix)
    return best, best_ll


def cem(q, mix: Mixture, alive, models, *, tol: float = 1e-8, max_iter: int = 100,
        rcond: float = DEFAULT_RCOND, ops=NumpyOps):
    """Classification EM from ``mix`` until the classification log-likelihood changes by less than ``tol`` (relative).

    A fit whose C-step partition is not usable stops at its previous parameters.
    Returns the mixture and the number of iterations per fit.
    """
    xp = array_module(q)
    d = mix.means.shape[-1]
    k = mix.weights.shape[-1]
    active = alive.copy()
    previous = xp.full(alive.shape, -xp.inf)
    iterations = xp.zeros(alive.shape, dtype=xp.int64)
    for _ in range(max_iter):
        if not bool(active.any()):
            break
        coef, _ = coefficients(mix, rcond)
        labels, cl = ops.classify(log_joint(q, coef, k))
        converged = xp.abs(cl - previous) <= tol * xp.abs(cl)
        active &= ~converged
        previous = cl
        nk, sk, s2k = statistics(q, labels, d)
        new = maximise(models, nk, sk, s2k)
        accept = active & usable(nk, sk, s2k, covariance_checks(new.covariances, rcond), rcond)
        active &= accept
        iterations += accept
        mix = new.where(accept, mix)
    return mix, iterations


def fit_mixtures(q, k: int, models, draws, *, sem_iter: int = 200, kmeans_starts: int = 3, kmeans_iter: int = 20,
                 cem_tol: float = 1e-8, cem_max_iter: int = 100, rcond: float = DEFAULT_RCOND,
                 ops=NumpyOps) -> FitResult:
    """Fit ``K``-component mixtures of every model to every item of the batch.

    ``K = 1`` is closed form (one M-step). Otherwise: k-means partition (shared by all models),
    each model's M-step on it, SEM for ``sem_iter`` iterations keeping its best iterate, then CEM.
    Invalid fits come back with ``valid = False`` and ``loglik = -inf``, never NaN.
    """
    xp = array_module(q)
    b, n, p = q.shape
    g = len(models)
    d = int(round((-3 + np.sqrt(9 - 8 * (1 - p))) / 2))
    if k == 1:
        labels = xp.ones((b, 1, n), dtype=q.dtype)
        alive = xp.full(b, n >= d + 1)
    else:
        labels, alive = kmeans(q, k, draws, starts=kmeans_starts, n_iter=kmeans_iter)
    nk, sk, s2k = statistics(q, xp.broadcast_to(labels[:, None], (b, g, k, n)), d)
    mix = maximise(models, nk, sk, s2k)
    alive = alive[:, None] & usable(nk, sk, s2k, covariance_checks(mix.covariances, rcond), rcond)
    sem_ll = xp.full((b, g), -xp.inf)
    iterations = xp.zeros((b, g), dtype=xp.int64)
    if k > 1:
        mix, sem_ll = sem(q, mix, alive, models, sem_iter, draws, rcond=rcond, ops=ops)
        alive &= xp.isfinite(sem_ll)
        mix, iterations = cem(q, mix, alive, models, tol=cem_tol, max_iter=cem_max_iter, rcond=rcond, ops=ops)
    coef, ok = coefficients(mix, rcond)
    lj = log_joint(q, coef, k)
    ll, _ = ops.posterior(lj)
    labels, _ = ops.classify(lj)
    nk, sk, s2k = statistics(q, labels, d)
    valid = alive & usable(nk, sk, s2k, ok, rcond) & xp.isfinite(ll)
    sizes = nk
    return FitResult(mix, xp.where(valid, ll, -xp.inf), valid, sizes, sem_ll, iterations)
