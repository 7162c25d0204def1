"""Fitting a GTM by EM, exact over chunks, and turning its responsibilities into facies weights.

The E-step runs on the array module of the data (NumPy, or CuPy for the n x K products on the GPU);
the M-step works on sums over the points (``G``, ``R T``, ``sum |t|^2``, ``N``) accumulated chunk by
chunk, so a chunked fit is the whole-sample fit to rounding, and the small (M+1) x (M+1) solve runs in
float64 NumPy. docs/gtm.md has the equations.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from numbers import Integral

import numpy as np
import scipy.linalg

from facies.kernels.array_module import array_module
from facies.kernels.gtm._model import (GtmFit, GtmSettings, basis_matrix, initialise, initialise_from_moments,
                                       latent_grid)

logger = logging.getLogger(__name__)

# Elements of each n_i x K work array per chunk: 2^21 float64 (16 MiB) keeps NumPy's passes over it near
# the caches; on the GPU larger chunks keep the device busy between launches.
_CELLS_CPU = 1 << 21
_CELLS_GPU = 1 << 24

METHODS = ("bhattacharyya", "gtc")


def _to_numpy(xp, a) -> np.ndarray:
    return np.asarray(a if xp is np else xp.asnumpy(a), dtype=np.float64)


def _check_chunk(xp, t, d: int | None):
    """``t`` as a float64 (n, D) array of its own module, or a ValueError saying what is wrong."""
    if t.ndim != 2 or t.shape[1] < 1:
        raise ValueError(f"GTM data must be a 2-D array (points, attributes), got shape {tuple(t.shape)}")
    if d is not None and t.shape[1] != d:
        raise ValueError(f"GTM data chunks disagree on the number of attributes: {t.shape[1]} after {d}")
    if t.dtype.kind not in "fiu":
        raise ValueError(f"GTM data must be numeric, got dtype {t.dtype}")
    t = xp.asarray(t, dtype=xp.float64)
    if not bool(xp.isfinite(t).all()):
        raise ValueError("GTM data contain NaN or infinite values; drop or fill them before fitting")
    return t


def _log_responsibilities(t, nodes, beta: float):
    """Scaled responsibilities and their log-normaliser for a chunk, in the chunk's array module.

    Returns ``(R, lse)``: ``R[n, k] = exp(l_nk - lse_n)`` with ``l_nk = -beta/2 |t_n - y_k|^2`` and
    ``lse_n = logsumexp_k l_nk``. Distances as ``|t|^2 - 2 t.y + |y|^2`` (one matrix product) clamped at 0,
    where rounding could make a tiny distance negative.
    """
    xp = array_module(t)
    work = t @ nodes.T
    work *= -2.0
    work += (t * t).sum(axis=1)[:, None]
    work += (nodes * nodes).sum(axis=1)[None, :]
    xp.maximum(work, 0.0, out=work)
    work *= -0.5 * beta
    top = work.max(axis=1)
    work -= top[:, None]
    xp.exp(work, out=work)
    total = work.sum(axis=1)
    work /= total[:, None]
    return work, top + xp.log(total)


def _log_norm(beta: float, d: int, k: int) -> float:
    """The constant of each point's log-likelihood: ``D/2 log(beta/2pi) - log K``."""
    return 0.5 * d * math.log(beta / (2.0 * math.pi)) - math.log(k)


def responsibilities(t, nodes, beta: float):
    """Posterior responsibilities of the nodes for each point, and each point's log-likelihood.

    Parameters
    ----------
    t : array (n, D)
        Points in the model's (standardised) units; NumPy or CuPy (the result is on the same module).
    nodes : array (K, D)
        Node positions ``Y = Phi W``.
    beta : float
        Inverse noise variance.

    Returns
    -------
    R : array (n, K), float64
        ``R[n, k] = p(k | t_n)``; rows sum to 1 (computed in log space, so far points do not underflow).
    loglik : array (n,), float64
        ``log p(t_n) = logsumexp_k(-beta/2 |t_n - y_k|^2) + D/2 log(beta/2pi) - log K``.
    """
    xp = array_module(t)
    t = _check_chunk(xp, xp.asarray(t), None)
    nodes = xp.asarray(nodes, dtype=xp.float64)
    if nodes.ndim != 2 or nodes.shape[1] != t.shape[1]:
        raise ValueError(f"nodes must have shape (K, {t.shape[1]}), got {tuple(nodes.shape)}")
    beta = _check_beta(beta)
    r, lse = _log_responsibilities(t, nodes, beta)
    return r, lse + _log_norm(beta, t.shape[1], nodes.shape[0])


def _check_beta(beta) -> float:
    beta = float(beta)
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta (inverse noise variance) must be a finite number > 0, got {beta!r}")
    return beta


def _source(data) -> tuple[Callable[[], Iterable], int | None]:
    """A zero-argument callable yielding the data's chunks; an in-memory array is checked once here."""
    if callable(data):
        return data, None
    xp = array_module(data)
    t = _check_chunk(xp, xp.asarray(data), None)
    return (lambda: (t,)), t.shape[0]


def _split(source: Callable[[], Iterable], rows: int | None, k: int, checked: bool) -> Iterator:
    """The chunks of one pass, cut to at most ``rows`` rows (a default from K when None), each checked."""
    d = None
    for chunk in source():
        xp = array_module(chunk)
        t = xp.asarray(chunk) if checked else _check_chunk(xp, xp.asarray(chunk), d)
        d = t.shape[1]
        step = rows or max(1, (_CELLS_CPU if xp is np else _CELLS_GPU) // k)
        for start in range(0, t.shape[0], step):
            yield t[start:start + step]


class _Stats:
    """The sums over points that the M-step needs, accumulated chunk by chunk (kept on the chunks' device)."""

    def __init__(self) -> None:
        self.parts: dict[int, dict] = {}
        self.n = 0

    def add(self, t, nodes_np: np.ndarray, beta: float) -> None:
        if t.shape[1] != nodes_np.shape[1]:
            raise ValueError(f"GTM data have {t.shape[1]} attributes but the model maps to {nodes_np.shape[1]}")
        xp = array_module(t)
        part = self.parts.get(id(xp))
        if part is None:
            part = self.parts[id(xp)] = {"xp": xp, "nodes": xp.asarray(nodes_np), "g": 0.0, "rt": 0.0, "tt": 0.0,
                                         "lse": 0.0}
        r, lse = _log_responsibilities(t, part["nodes"], beta)
        part["g"] = part["g"] + r.sum(axis=0)
        part["rt"] = part["rt"] + r.T @ t
        part["tt"] = part["tt"] + (t * t).sum()
        part["lse"] = part["lse"] + lse.sum()
        self.n += t.shape[0]

    def totals(self, k: int, d: int) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``(G diagonal (K,), R T (K, D), sum |t|^2, sum_n lse_n)`` in float64 NumPy."""
        g, rt, tt, lse = np.zeros(k), np.zeros((k, d)), 0.0, 0.0
        for part in self.parts.values():
            xp = part["xp"]
            g += _to_numpy(xp, part["g"])
            rt += _to_numpy(xp, part["rt"])
            tt += float(part["tt"])
            lse += float(part["lse"])
        return g, rt, tt, lse


def _moments(chunks: Iterable) -> tuple[int, np.ndarray, np.ndarray]:
    """Count, mean and (n - 1)-normalised covariance in one pass (sums about the first point, for accuracy)."""
    n, shift, s1, s2 = 0, None, None, None
    for t in chunks:
        xp = array_module(t)
        if shift is None:
            shift = _to_numpy(xp, t[0])
            s1, s2 = np.zeros_like(shift), np.zeros((shift.size, shift.size))
        c = t - xp.asarray(shift)
        s1 += _to_numpy(xp, c.sum(axis=0))
        s2 += _to_numpy(xp, c.T @ c)
        n += t.shape[0]
    if n < 2 or shift is None or s1 is None or s2 is None:
        raise ValueError(f"GTM data need at least 2 points, got {n}")
    m = s1 / n
    return n, shift + m, (s2 - n * np.outer(m, m)) / (n - 1)


def _initial(init, rows: int) -> tuple[np.ndarray, float]:
    """``(W, beta)`` from ``init``: a :class:`GtmFit` or a ``(W, beta)`` pair, checked against the model's shape."""
    if isinstance(init, GtmFit):
        w, beta = init.W, init.beta
    else:
        try:
            w, beta = init
        except (TypeError, ValueError):
            raise ValueError("init must be a GtmFit or a (W, beta) pair") from None
    w = np.array(w, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != rows or not np.isfinite(w).all():
        raise ValueError(f"initial W must be a finite array of shape ({rows}, D), got {w.shape}")
    return w, _check_beta(beta)


def _solve(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the M-step's normal equations by Cholesky, or by least squares (with a warning) if not positive definite.

    Without regularisation a basis function that no responsibility reaches leaves ``lhs`` singular;
    least squares then picks the minimum-norm weights instead of failing.
    """
    try:
        factor = scipy.linalg.cho_factor(lhs, lower=True, check_finite=True)
        w = scipy.linalg.cho_solve(factor, rhs)
        if np.isfinite(w).all():
            return w
    except np.linalg.LinAlgError:
        pass
    logger.warning("GTM M-step: the normal equations are not positive definite (too little regularisation for "
                   "the data?); solving by least squares instead")
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def _check_rows(chunk_size) -> int | None:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


def fit_gtm(data, settings: GtmSettings = GtmSettings(), *, init=None, chunk_size: int | None = None,
            progress: Callable[[int, float], object] | None = None) -> GtmFit:
    """Fit a GTM by EM (Bishop, Svensén and Williams 1998).

    Parameters
    ----------
    data : array (n, D) or callable
        Standardised points, NumPy or CuPy (the E-step runs where they are); or a zero-argument
        callable returning an iterable of (n_i, D) chunks, called once per EM iteration (and once
        more for the initialisation when ``init`` is None): out-of-core, exact EM.
    settings : GtmSettings
    init : GtmFit or (W, beta), optional
        Starting weights ``(M + 1, D)`` and inverse variance; by default :func:`initialise` (PCA).
    chunk_size : int, optional
        Rows per E-step chunk (chunks of a callable are cut further); by default about 2^21 / K rows
        on the CPU and 2^24 / K on the GPU. The result does not depend on it beyond rounding.
    progress : callable(iteration, loglik), optional
        Called after each iteration with its number (from 1) and its log-likelihood.

    Returns
    -------
    GtmFit
        ``loglik[i]`` is the log-likelihood of the parameters entering iteration ``i + 1``; ``W`` and
        ``beta`` are those after the last M-step.

    Raises
    ------
    ValueError
        Non-finite or non-numeric data, fewer points than nodes, chunks of different widths, a bad
        ``init`` or ``chunk_size``.
    """
    if not isinstance(settings, GtmSettings):
        raise ValueError(f"settings must be a GtmSettings, got {type(settings).__name__}")
    rows = _check_rows(chunk_size)
    latent = latent_grid(settings.grid)
    phi = basis_matrix(latent, settings.basis, settings.width)
    k = latent.shape[0]
    source, n_known = _source(data)
    checked = n_known is not None
    if n_known is not None and n_known < k:
        raise ValueError(f"GTM needs at least as many points as nodes: {n_known} points for {k} nodes "
                         f"(grid {settings.grid} x {settings.grid}); use a smaller grid or more points")
    if init is not None:
        w, beta = _initial(init, phi.shape[1])
    elif checked:
        (t_all,) = source()
        w, beta = initialise(t_all, phi, latent)
    else:
        _, mean, covariance = _moments(_split(source, rows, k, checked))
        w, beta = initialise_from_moments(mean, covariance, phi, latent)
    d = w.shape[1]
    lam = settings.regularisation
    penalty_rows = np.ones(phi.shape[1], dtype=bool)
    penalty_rows[-1] = settings.regularise_bias
    logliks: list[float] = []
    penalised: list[float] = []
    converged = False
    for iteration in range(1, settings.iterations + 1):
        stats, nodes = _Stats(), phi @ w
        for t in _split(source, rows, k, checked):
            stats.add(t, nodes, beta)
        if stats.n < k:
            raise ValueError(f"GTM needs at least as many points as nodes: {stats.n} points for {k} nodes "
                             f"(grid {settings.grid} x {settings.grid}); use a smaller grid or more points")
        g, rt, tt, lse = stats.totals(k, d)
        loglik = lse + stats.n * _log_norm(beta, d, k)
        logliks.append(loglik)
        penalised.append(loglik - 0.5 * lam * float((w[penalty_rows] ** 2).sum()))
        # M-step: (Phi^T G Phi + lambda/beta I') W = Phi^T R T, with the old beta (Bishop et al. 1998).
        lhs = (phi * g[:, None]).T @ phi + np.diag(np.where(penalty_rows, lam / beta, 0.0))
        w = _solve(lhs, phi.T @ rt)
        # beta from the new nodes and the same sums: sum_kn R_kn |y_k - t_n|^2, no second pass over the data.
        y = phi @ w
        spread = tt - 2.0 * float((y * rt).sum()) + float((g * (y * y).sum(axis=1)).sum())
        beta = stats.n * d / max(spread, np.finfo(np.float64).tiny * stats.n * d)
        if progress is not None:
            progress(iteration, loglik)
        if iteration > 1 and abs(loglik - logliks[-2]) < settings.tolerance * abs(loglik):
            converged = True
            break
    return GtmFit(settings=settings, latent=latent, phi=phi, W=w, beta=float(beta), loglik=np.array(logliks),
                  penalised=np.array(penalised), iterations=len(logliks), converged=converged)


def facies_pdf(t_c, model, beta: float | None = None, *, chunk_size: int | None = None) -> np.ndarray:
    """One facies' distribution over the nodes: the mean responsibility of its training points.

    Parameters
    ----------
    t_c : array (n_c, D)
        The facies' training points, standardised as the fit's data; NumPy or CuPy.
    model : GtmFit or array (K, D)
        The fit, or its node positions (then ``beta`` is required).
    beta : float, optional
        Inverse noise variance, when ``model`` is the nodes.
    chunk_size : int, optional
        Rows per chunk, to bound the n_c x K work array.

    Returns
    -------
    ndarray (K,), float64
        ``p_c(k) = (1 / n_c) sum_{n in c} R_k(t_n)``; sums to 1.
    """
    if isinstance(model, GtmFit):
        nodes, beta = model.nodes, model.beta if beta is None else beta
    else:
        nodes = model
        if beta is None:
            raise ValueError("beta is required when the model is given as its nodes")
    beta = _check_beta(beta)
    rows = _check_rows(chunk_size)
    xp = array_module(t_c)
    t_c = _check_chunk(xp, xp.asarray(t_c), None)
    if t_c.shape[0] == 0:
        raise ValueError("a facies needs at least one training point for its node distribution")
    nodes = np.asarray(nodes, dtype=np.float64)
    if nodes.ndim != 2 or nodes.shape[1] != t_c.shape[1]:
        raise ValueError(f"nodes must have shape (K, {t_c.shape[1]}), got {nodes.shape}")
    stats = _Stats()
    for t in _split(lambda: (t_c,), rows, nodes.shape[0], True):
        stats.add(t, nodes, beta)
    g, *_ = stats.totals(nodes.shape[0], nodes.shape[1])
    return g / t_c.shape[0]


def projection_weights(pdfs, method: str, priors=None) -> tuple[np.ndarray, bool]:
    """Per-facies node weights for the projection kernel, and whether it takes the square root of R.

    Parameters
    ----------
    pdfs : array (C, K)
        Each facies' node distribution ``p_c(k)`` (:func:`facies_pdf`); non-negative.
    method : {"bhattacharyya", "gtc"}
        ``"bhattacharyya"``: the Bhattacharyya coefficient between a voxel's responsibilities and each
        facies' distribution, ``BC_c(x) = sum_k sqrt(R_k(x) p_c(k))``: weights ``sqrt(p_c(k))``, square root
        taken. ``"gtc"`` (generative topographic classification): ``P(c | x) = sum_k R_k(x) P(c | k)`` with
        ``P(c | k) = p_c(k) pi_c / sum_c' p_c'(k) pi_c'``: weights ``P(c | k)``, no square root. The kernel
        normalises the scores over facies either way.
    priors : array (C,), optional
        Facies priors ``pi_c`` for ``"gtc"`` (positive; normalised here), e.g. the training shares;
        equal by default. Not accepted for ``"bhattacharyya"``, which has no priors.

    Returns
    -------
    weights : ndarray (C, K), float64
    sqrt_weights : bool
        True for ``"bhattacharyya"``.

    Notes
    -----
    A node that no facies reaches (``p_c(k) = 0`` for all c) gets ``P(c | k) = 1 / C`` under ``"gtc"``:
    it carries no evidence, so it splits its responsibility evenly rather than dropping it.
    """
    p = np.array(pdfs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"pdfs must have shape (facies, nodes), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("pdfs must be finite and non-negative")
    if method == "bhattacharyya":
        if priors is not None:
            raise ValueError("priors apply only to method 'gtc'; the Bhattacharyya method has none")
        return np.sqrt(p), True
    if method != "gtc":
        raise ValueError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}")
    c = p.shape[0]
    if priors is None:
        pi = np.full(c, 1.0 / c)
    else:
        pi = np.array(priors, dtype=np.float64).reshape(-1)
        if pi.shape != (c,) or not np.isfinite(pi).all() or (pi <= 0).any():
            raise ValueError(f"priors must be {c} finite positive numbers, one per facies")
        pi = pi / pi.sum()
    joint = p * pi[:, None]
    total = joint.sum(axis=0)
    reached = total > 0
    weights = np.full_like(p, 1.0 / c)
    weights[:, reached] = joint[:, reached] / total[reached]
    return weights, False
