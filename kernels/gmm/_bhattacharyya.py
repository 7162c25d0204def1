"""Bhattacharyya distance between Gaussians, through Cholesky factors and log-determinants.

``D_B = 1/8 (mu1 - mu2)^T S^-1 (mu1 - mu2) + 1/2 [log|S| - (log|S1| + log|S2|) / 2]`` with
``S = (S1 + S2) / 2``. Determinants are never formed: each ``log|.|`` is twice the sum of the
log-diagonal of a Cholesky factor, so high-dimensional or tightly clustered covariances neither
underflow nor overflow.
"""

from __future__ import annotations

from facies.kernels.array_module import array_module
from facies.kernels.gmm._density import chol_logdet


def bhattacharyya(mean1, cov1, mean2, cov2):
    """Bhattacharyya distance between stacks of Gaussians (broadcast over leading axes).

    Parameters
    ----------
    mean1, mean2 : (..., d)
    cov1, cov2 : (..., d, d) positive definite

    Returns
    -------
    array (...)
    """
    xp = array_module(mean1)
    cov = 0.5 * (cov1 + cov2)
    chol, logdet = chol_logdet(cov)
    _, logdet1 = chol_logdet(cov1)
    _, logdet2 = chol_logdet(cov2)
    diff = xp.broadcast_to(mean1 - mean2, chol.shape[:-1])
    z = xp.linalg.solve(chol, diff[..., None])[..., 0]
    return 0.125 * xp.sum(z * z, axis=-1) + 0.5 * (logdet - 0.5 * (logdet1 + logdet2))
