"""The Celeux-Govaert covariance models: names, parameter counts and closed-form M-steps.

A component covariance is written ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume, orientation,
shape with ``|A_k| = 1``); mclust's three letters say whether volume, shape and orientation are
Equal, Variable or the Identity across components. The nine models here have closed-form
M-steps (Celeux and Govaert 1995, section 3 and appendix); every function works on stacks of
fits (leading axis ``F``) and on NumPy or CuPy arrays alike.

Inputs of an M-step are the sufficient statistics of a (hard or soft) partition:
``nk`` (F, K) weights, ``sk`` (F, K, d) weighted sums, ``s2k`` (F, K, d, d) weighted raw second
moments. The data are standardised upstream, so raw moments lose no useful precision in float64.
"""

from __future__ import annotations

from facies.kernels.array_module import array_module, quiet

#: The nine closed-form models, in the canonical order (their index is used in random streams).
MODELS = ("EII", "VII", "EEI", "EVI", "VVI", "EEE", "EEV", "EVV", "VVV")
MODEL_ID = {m: i for i, m in enumerate(MODELS)}
#: scikit-learn's names for the four models it has.
SKLEARN_NAMES = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}
#: Most components a fit may have: the CUDA kernels keep a voxel's K log-joints in registers and
#: are specialised for K = 1..8 (kernels/gmm/_cuda.py); random stream tags also need K < 64.
MAX_COMPONENTS = 8
#: Smallest component weight treated as non-empty (avoids 0/0; such a fit is invalid anyway).
_TINY = 1e-300


def covariance_parameters(model: str, d: int, k: int) -> int:
    """Free parameters of the covariances of ``model`` with ``k`` components in ``d`` dimensions
    (mclust's nVarParams)."""
    tri = d * (d + 1) // 2
    counts = {
        "EII": 1,
        "VII": k,
        "EEI": d,
        "EVI": 1 + k * (d - 1),
        "VVI": k * d,
        "EEE": tri,
        "EEV": 1 + (d - 1) + k * d * (d - 1) // 2,
        "EVV": 1 + k * (tri - 1),
        "VVV": k * tri,
    }
    return counts[model]


def free_parameters(model: str, d: int, k: int) -> int:
    """All free parameters: ``k - 1`` weights, ``k d`` means and the covariance parameters."""
    return (k - 1) + k * d + covariance_parameters(model, d, k)


def scatter(nk, sk, s2k):
    """Means and scatter matrices ``W_k = sum_i z_ik (x_i - mu_k)(x_i - mu_k)^T`` from raw moments."""
    xp = array_module(nk)
    safe = xp.maximum(nk, _TINY)
    means = sk / safe[..., None]
    w = s2k - safe[..., None, None] * means[..., :, None] * means[..., None, :]
    w = 0.5 * (w + xp.swapaxes(w, -1, -2))  # exact symmetry for eigh/cholesky
    return means, w


def _det_root(w_or_diag, d: int, *, diagonal: bool):
    """``|W|^(1/d)`` through a log-determinant; 0 where W is not positive definite (flagged invalid later)."""
    xp = array_module(w_or_diag)
    if diagonal:
        pos = xp.all(w_or_diag > 0, axis=-1)
        logdet = xp.sum(xp.log(xp.where(w_or_diag > 0, w_or_diag, 1.0)), axis=-1)
    else:
        sign, logdet = xp.linalg.slogdet(w_or_diag)
        pos = sign > 0
        logdet = xp.where(pos, logdet, 0.0)
    return xp.where(pos, xp.exp(logdet / d), 0.0)


def _ratio(num, den):
    xp = array_module(num)
    return num / xp.where(den > 0, den, 1.0)


def m_step(model: str, nk, sk, s2k, *, scattered=None):
    """Closed-form M-step of one model for a stack of fits.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.
    nk : array, shape (F, K)
    sk : array, shape (F, K, d)
    s2k : array, shape (F, K, d, d)
    scattered : (means, scatter matrices), optional
        ``scatter(nk, sk, s2k)`` when the caller already has it (it is element-wise, so a slice of
        the whole batch's equals the slice's own).

    Returns
    -------
    weights : (F, K)
    means : (F, K, d)
    covariances : (F, K, d, d)
    """
    xp = array_module(nk)
    with quiet(xp):
        means, w = scatter(nk, sk, s2k) if scattered is None else scattered
        return _m_step(xp, model, nk, means, w)


def _m_step(xp, model, nk, means, w):
    d = means.shape[-1]
    n = xp.sum(nk, axis=-1)  # (F,)
    weights = nk / n[:, None]
    eye = xp.eye(d)
    safe = xp.maximum(nk, _TINY)
    if model == "EII":  # lambda I, lambda = tr(W) / (n d)
        lam = xp.trace(w, axis1=-2, axis2=-1).sum(-1) / (n * d)
        cov = lam[:, None, None, None] * xp.broadcast_to(eye, w.shape)
    elif model == "VII":  # lambda_k I, lambda_k = tr(W_k) / (n_k d)
        lam = xp.trace(w, axis1=-2, axis2=-1) / (safe * d)
        cov = lam[..., None, None] * eye
    elif model == "EEI":  # lambda B = diag(W) / n
        diag = xp.diagonal(w, axis1=-2, axis2=-1).sum(1) / n[:, None]
        cov = xp.broadcast_to((diag[:, None, :, None] * eye)[:, :1], w.shape)
    elif model == "VVI":  # lambda_k B_k = diag(W_k) / n_k
        cov = (xp.diagonal(w, axis1=-2, axis2=-1) / safe[..., None])[..., None] * eye
    elif model == "EVI":  # B_k = diag(W_k)/|diag(W_k)|^(1/d), lambda = sum_k |diag(W_k)|^(1/d) / n
        diag = xp.diagonal(w, axis1=-2, axis2=-1)
        root = _det_root(diag, d, diagonal=True)
        lam = root.sum(-1) / n
        cov = (lam[:, None, None] * _ratio(diag, root[..., None]))[..., None] * eye
    elif model == "EEE":  # Sigma = W / n
        cov = xp.broadcast_to((w.sum(1) / n[:, None, None])[:, None], w.shape)
    elif model == "VVV":  # Sigma_k = W_k / n_k
        cov = w / safe[..., None, None]
    elif model == "EEV":  # W_k = L_k Omega_k L_k^T; Sigma_k = L_k (sum_j Omega_j / n) L_k^T
        omega, vectors = xp.linalg.eigh(w)
        shape = omega.sum(1) / n[:, None]  # lambda A, eigenvalues in the same (ascending) order
        cov = (vectors * shape[:, None, None, :]) @ xp.swapaxes(vectors, -1, -2)
    elif model == "EVV":  # C_k = W_k / |W_k|^(1/d); lambda = sum_k |W_k|^(1/d) / n
        root = _det_root(w, d, diagonal=False)
        lam = root.sum(-1) / n
        cov = lam[:, None, None, None] * _ratio(w, root[..., None, None])
    else:
        raise ValueError(f"unknown covariance model {model!r}; expected one of {', '.join(MODELS)}")
    cov = xp.ascontiguousarray(cov)
    return weights, means, 0.5 * (cov + xp.swapaxes(cov, -1, -2))
