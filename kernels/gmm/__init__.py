"""Gaussian-mixture fits of the attribute selection: the Celeux-Govaert models, fitted by SEM then CEM.

Public entry point :func:`fit_mixtures`; it runs batches of fits on NumPy or CuPy arrays and
takes its hot steps from the array module of its input (:func:`ops_for`, through
:func:`facies.kernels.array_module.implementation`): ``_numpy.py`` (fused, cache-tiled CPU
steps) for NumPy arrays, ``_cuda.py`` (RawKernels of ``gmm.cu`` beside it) for CuPy arrays. The
private modules hold the pieces: ``_models.py`` (covariance models and their closed-form
M-steps), ``_density.py`` (log-densities as products over quadratic features), ``_ops.py`` (the
reference hot steps), ``_fit.py`` (k-means, EM, SEM, CEM), ``_random.py`` (Philox draws keyed by
fit) and ``_bhattacharyya.py`` (distances between Gaussians). See ``docs/selection.md``.
"""

from __future__ import annotations

from facies.kernels.gmm._bhattacharyya import bhattacharyya
from facies.kernels.gmm._density import feature_columns, log_density, n_features, quadratic_features
from facies.kernels.gmm._fit import FitResult, Mixture, fit_mixtures
from facies.kernels.gmm._models import MAX_COMPONENTS, MODEL_ID, MODELS, SKLEARN_NAMES, free_parameters
from facies.kernels.gmm._ops import ops_for
from facies.kernels.gmm._random import PhiloxDraws

__all__ = [
    "MAX_COMPONENTS", "MODELS", "MODEL_ID", "SKLEARN_NAMES", "FitResult", "Mixture", "PhiloxDraws",
    "bhattacharyya", "cuda_available", "feature_columns", "fit_mixtures", "free_parameters", "log_density",
    "n_features", "ops_for", "quadratic_features",
]


def cuda_available() -> tuple[bool, str]:
    """Whether the CUDA mixture kernels compile and load on the current device, and why not.

    Returns
    -------
    (bool, str)
        True and a short line, or False and the reason (no CuPy, driver, NVRTC or device) for the
        log. Imports the CUDA implementation only when called.
    """
    from facies.kernels.gmm import _cuda  # noqa: PLC0415 - GPU path only

    return _cuda.cuda_available()
