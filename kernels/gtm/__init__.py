"""Generative Topographic Mapping (Bishop, Svensén and Williams 1998): fit, and the per-voxel projection.

The contract of this package (docs/gtm.md has the equations):

- ``_model.py``: :class:`GtmSettings`, :func:`latent_grid`, :func:`basis_matrix`, :func:`initialise`
  (from the first two principal components), :class:`GtmFit`.
- ``_fit.py``: :func:`fit_gtm` (EM in log space, exact over chunks: the M-step sums are accumulated
  chunk by chunk), :func:`responsibilities`, :func:`facies_pdf`, :func:`projection_weights`.
- ``_numpy.py`` / ``_cuda.py`` (+ ``gtm.cu``): ``project``, the fused per-voxel projection, same
  signature on both backends; :func:`project` here dispatches on the array module of ``x``
  (:func:`facies.kernels.array_module.implementation`).
"""

from __future__ import annotations

from facies.kernels.array_module import implementation
from facies.kernels.gtm._fit import facies_pdf, fit_gtm, projection_weights, responsibilities
from facies.kernels.gtm._model import GtmFit, GtmSettings, basis_matrix, initialise, latent_grid

__all__ = ["GtmFit", "GtmSettings", "basis_matrix", "facies_pdf", "fit_gtm", "initialise", "latent_grid", "project",
           "projection_weights", "responsibilities"]


def project(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob, out_code, out_conf,
            out_u):
    """Project voxels onto a fitted GTM and turn their responsibilities into facies probabilities, in one pass.

    Per voxel: ``t = (x - mean) / scale``; ``l_k = -beta/2 |t - y_k|^2`` for the K nodes ``y_k`` (rows of
    ``nodes``); responsibilities ``R_k = exp(l_k - logsumexp(l))``, never stored; the posterior-mean latent
    coordinates ``u = sum_k R_k z_k`` (``z_k`` rows of ``latent``); the facies scores ``s_c = sum_k sqrt(R_k)
    w_ck`` when ``sqrt_weights`` (Bhattacharyya: ``w_ck = sqrt(p_c(k))``) else ``s_c = sum_k R_k w_ck`` (GTC:
    ``w_ck = P(c | k)``); probabilities ``s_c / sum_c s_c``; the code of the most probable facies (the first on
    ties) and its probability as the confidence.

    Parameters
    ----------
    x : array (n, D), float32, C-contiguous
        Attribute values, one row per voxel (NumPy, or CuPy for the CUDA kernel).
    live : array (n,), bool
        False on dead traces.
    mean, scale : array (D,), float64
        Standardisation of the model.
    nodes : array (K, D), float64
        The GTM's node positions ``Y = Phi W`` in standardised units.
    beta : float
        Inverse noise variance.
    latent : array (K, 2), float64
        Latent coordinates of the nodes.
    weights : array (C, K), float64
        From :func:`projection_weights`.
    sqrt_weights : bool
        True for the Bhattacharyya method, False for GTC.
    codes : array (C,), uint8
        Facies codes (non-zero).
    out_prob : array (C, n), float32
    out_code : array (n,), uint8
    out_conf : array (n,), float32
    out_u : array (2, n), float32
        Written in place. A dead voxel or one with a non-finite attribute gets code 0, probabilities 0,
        confidence 0 and ``u`` NaN.
    """
    return implementation(__package__, x).project(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights,
                                                  codes, out_prob, out_code, out_conf, out_u)
