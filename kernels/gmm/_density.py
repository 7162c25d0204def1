"""Gaussian log-densities as a matrix product over quadratic features.

``log(pi_k N(x; mu_k, Sigma_k))`` is a quadratic polynomial in ``x``; with the features
``q(x) = [1, x_1..x_d, x_i x_j (i <= j)]`` it is ``q(x) . c_k`` for a coefficient vector ``c_k``
built from the Cholesky factor of ``Sigma_k``. So the E-step of every model and component of a
fit is one matrix product ``Q @ C`` (BLAS or cuBLAS), and the M-step's sufficient statistics are
the transposed product ``Q^T @ R`` with the responsibilities ``R``: counts, sums and raw second
moments are the three blocks of its rows. Feature tables are built once per facies for all N
attributes; a combination selects its columns by index (:func:`feature_columns`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from facies.kernels.array_module import array_module

#: Smallest eigenvalue ratio (min/max) of a covariance treated as non-singular.
DEFAULT_RCOND = 1e-10


def n_features(d: int) -> int:
    """``1 + d + d (d + 1) / 2``."""
    return 1 + d + d * (d + 1) // 2


def feature_dimension(p: int) -> int:
    """The ``d`` with ``n_features(d) == p`` (the inverse of :func:`n_features`)."""
    d = int(round((-3 + math.sqrt(9 - 8 * (1 - p))) / 2))
    if n_features(d) != p:
        raise ValueError(f"{p} is not a number of quadratic features (1 + d + d(d+1)/2)")
    return d


def triu(d: int, xp=np):
    """Row and column indices of the upper triangle of a ``d x d`` matrix (row-major), and the weight
    of each entry in ``x^T P x`` halved (0.5 on the diagonal, 1 off it), as ``xp`` arrays.

    Cached per dimension and device, so the feature and coefficient steps of every iteration do
    not rebuild them (nor, on CuPy, upload them again).
    """
    device = None
    if xp is not np:
        device = xp.cuda.Device().id
    return _triu(int(d), xp.__name__, device)


@lru_cache(maxsize=None)
def _triu(d: int, module: str, device):
    iu, ju = np.triu_indices(d)
    weights = np.where(iu == ju, 0.5, 1.0)
    if module == "numpy":
        for a in (iu, ju, weights):
            a.setflags(write=False)  # shared by every caller
        return iu, ju, weights
    import cupy  # noqa: PLC0415 - only reached for CuPy arrays

    with cupy.cuda.Device(device):
        return cupy.asarray(iu), cupy.asarray(ju), cupy.asarray(weights)


def quadratic_features(x):
    """``(n, d)`` data -> ``(n, 1 + d + d(d+1)/2)`` features ``[1, x, x_i x_j (i <= j, row-major)]``."""
    xp = array_module(x)
    n, d = x.shape
    iu, ju, _ = triu(d, xp)
    return xp.concatenate([xp.ones((n, 1), dtype=x.dtype), x, x[:, iu] * x[:, ju]], axis=1)


def feature_columns(combination, n_attributes: int) -> np.ndarray:
    """Columns of ``quadratic_features(X)`` (X with ``n_attributes`` columns) that make the features of
    ``X[:, combination]``."""
    c = np.asarray(combination, dtype=np.intp)
    tri = np.full((n_attributes, n_attributes), -1, np.intp)
    iu, ju = np.triu_indices(n_attributes)
    tri[iu, ju] = np.arange(iu.size)
    a, b = np.triu_indices(c.size)
    return np.concatenate([[0], 1 + c, 1 + n_attributes + tri[c[a], c[b]]])


def unpack_statistics(s, d: int):
    """``Q^T R`` blocks -> ``nk (..., K)``, ``sk (..., K, d)``, ``s2k (..., K, d, d)``.

    ``s`` has shape ``(..., p, K)`` with ``p = n_features(d)``.
    """
    xp = array_module(s)
    nk = s[..., 0, :]
    sk = xp.swapaxes(s[..., 1:1 + d, :], -1, -2)
    iu, ju, _ = triu(d, xp)
    tri = xp.swapaxes(s[..., 1 + d:, :], -1, -2)  # (..., K, T)
    s2k = xp.zeros(tri.shape[:-1] + (d, d), dtype=s.dtype)
    s2k[..., iu, ju] = tri
    s2k[..., ju, iu] = tri
    return nk, sk, s2k


def covariance_checks(cov, rcond: float = DEFAULT_RCOND):
    """Which covariances are usable: finite, positive definite, condition number below ``1/rcond``.

    Returns a boolean array of shape ``cov.shape[:-2]``. Uses eigenvalues (never fails) so that a
    stack with one singular matrix does not stop the Cholesky factorisation of the others.
    """
    xp = array_module(cov)
    finite = xp.all(xp.isfinite(cov), axis=(-2, -1))
    ev = xp.linalg.eigvalsh(xp.where(finite[..., None, None], cov, 1.0))
    return finite & (ev[..., 0] > rcond * ev[..., -1]) & (ev[..., -1] > 0)


def chol_logdet(cov):
    """Cholesky factors of a stack of positive definite matrices and their log-determinants.

    ``log|S|`` is twice the sum of the log-diagonal of the factor: no determinant is formed, so
    high-dimensional or tightly clustered covariances neither underflow nor overflow.
    """
    xp = array_module(cov)
    chol = xp.linalg.cholesky(cov)
    return chol, 2.0 * xp.sum(xp.log(xp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def cholesky_factors(cov, ok):
    """Cholesky factors and log-determinants; unusable covariances (``~ok``) are replaced by the identity."""
    xp = array_module(cov)
    d = cov.shape[-1]
    return chol_logdet(xp.where(ok[..., None, None], cov, xp.eye(d)))


def log_joint_coefficients(weights, means, cov, ok):
    """Coefficients ``c`` with ``q(x) . c = log(pi_k) + log N(x; mu_k, Sigma_k)``.

    Parameters
    ----------
    weights : (..., K)
    means : (..., K, d)
    cov : (..., K, d, d)
    ok : (..., K) bool
        From :func:`covariance_checks`; other components get the identity (their fit is invalid).

    Returns
    -------
    array, shape (..., K, p)
    """
    xp = array_module(means)
    d = means.shape[-1]
    chol, logdet = cholesky_factors(cov, ok)
    eye = xp.broadcast_to(xp.eye(d), chol.shape)
    linv = xp.linalg.solve(chol, eye)  # L^-1, so that P = L^-T L^-1
    prec = xp.swapaxes(linv, -1, -2) @ linv
    lin = (prec @ means[..., None])[..., 0]
    quad_form = xp.sum(lin * means, axis=-1)
    const = xp.log(xp.maximum(weights, 1e-300)) - 0.5 * (d * math.log(2 * math.pi) + logdet + quad_form)
    iu, ju, half = triu(d, xp)
    # x^T P x = sum_i P_ii x_i^2 + 2 sum_{i<j} P_ij x_i x_j; the log-density carries -1/2 of it.
    quad = -prec[..., iu, ju] * half
    return xp.concatenate([const[..., None], lin, quad], axis=-1)


def log_density(x, means, cov):
    """Direct ``log N(x; mu, Sigma)`` through a Cholesky solve: the reference for the feature form.

    ``x`` (n, d); ``means`` (..., d); ``cov`` (..., d, d) -> (..., n).
    """
    xp = array_module(x)
    d = x.shape[-1]
    chol, logdet = chol_logdet(cov)
    diff = x - means[..., None, :]  # (..., n, d)
    z = xp.swapaxes(xp.linalg.solve(chol, xp.swapaxes(diff, -1, -2)), -1, -2)
    return -0.5 * (d * math.log(2 * math.pi) + logdet[..., None] + xp.sum(z * z, axis=-1))
