"""Coherence of seismic reflections: semblance and eigenstructure, plain or dip-steered.

Public entry points :func:`semblance` and :func:`eigenstructure`; they check their arguments and
dispatch on the array type (:func:`facies.kernels.array_module.implementation`): a CuPy array runs
``_cuda.py`` (the fused semblance kernels of ``coherence.cu``; eigenstructure by CuPy and cuSOLVER),
anything else ``_numpy.py``. Windows, halo and steering: :mod:`.windows`; the window samples shared by
both backends: :mod:`.traces`. See docs/attributes.md.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import implementation, is_cupy
from facies.kernels.coherence.windows import (MAX_DIP_LIMIT, MAX_EIGEN_TRACES, MAX_SAMPLES, MAX_TRACES,
                                              check_max_dip, check_window, coherence_halo)
from facies.kernels.kuwahara.windows import normalise_region

__all__ = ["MAX_DIP_LIMIT", "MAX_EIGEN_TRACES", "MAX_SAMPLES", "MAX_TRACES", "check_max_dip", "check_window",
           "coherence_halo", "eigenstructure", "semblance"]


def semblance(volume, window=(3, 3, 9), *, dips=None, max_dip: float = 2.0, out_region=None,
              workers: int | None = None):
    """Semblance coherence (Marfurt et al. 1998) over a window of traces and samples around each voxel.

    ``sum_c (sum_j u_jc)^2 / sum_c (N_c sum_j u_jc^2)`` over the window's traces ``j`` and samples ``c``,
    with ``N_c`` the traces valid at ``c``: the energy of the mean trace over the mean energy, 1 where
    every trace of the window is the same, lower across a discontinuity. Samples that are NaN, infinite
    or outside the volume are left out (so windows are clipped at the volume's edge); a voxel whose own
    sample is not finite, or whose window has no energy, gets NaN.

    Parameters
    ----------
    volume : ndarray or cupy.ndarray, shape (n_il, n_xl, n_samples)
        Real numbers; float32 stays float32, anything else is computed and returned as float64.
    window : tuple of 3 odd ints
        Inline traces, crossline traces, samples (at least two traces).
    dips : pair of arrays of the volume's shape, optional
        Inline and crossline dips (samples per trace, as :func:`facies.kernels.structure.tensor_attributes`
        gives them): steer the window along the reflectors at each voxel (:mod:`.windows`). A NaN dip gives NaN.
    max_dip : float
        Dips are clipped to ``[-max_dip, max_dip]`` (sets the steered halo, :func:`coherence_halo`).
    out_region : sequence of 3 slices or (start, stop) pairs, optional
        The voxels to compute (default: all); the volume around them is read.
    workers : int, optional
        Threads of the NumPy backend (default: the CPU count, at most 8). Ignored on the GPU.

    Returns
    -------
    ndarray or cupy.ndarray
        The region's shape; float32 for float32 volumes, float64 otherwise.
    """
    return _run("semblance", volume, window, dips, max_dip, out_region, workers)


def eigenstructure(volume, window=(3, 3, 9), *, dips=None, max_dip: float = 2.0, out_region=None,
                   workers: int | None = None):
    """Eigenstructure coherence (Gersztenkorn and Marfurt 1999): ``l1 / trace(C)`` of the window's covariance.

    ``C[j1, j2] = sum_c u_j1c u_j2c`` over the window's samples ``c``, for every pair of its traces; 1 where
    the traces are multiples of one waveform, lower where they differ. Invalid samples (as in
    :func:`semblance`) count as 0. Parameters and returns as :func:`semblance` (at most
    :data:`MAX_EIGEN_TRACES` traces a window).
    """
    return _run("eigenstructure", volume, window, dips, max_dip, out_region, workers)


def _run(kind, volume, window, dips, max_dip, out_region, workers):
    window = check_window(window, eigen=kind == "eigenstructure")
    max_dip = check_max_dip(max_dip)
    if is_cupy(volume):
        import cupy as xp  # noqa: PLC0415 - GPU path only
    else:
        xp = np
        volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"{kind} needs a 3D volume (inline, crossline, sample), got shape {volume.shape}")
    if volume.dtype.kind not in "fiub" or volume.dtype.itemsize > 8:
        raise TypeError(f"{kind} needs real numbers, got dtype {volume.dtype}")
    volume = volume.astype(np.float32 if volume.dtype == np.float32 else np.float64, copy=False)
    if dips is not None:
        if len(dips) != 2 or any(tuple(d.shape) != volume.shape for d in dips):
            raise ValueError(f"dips must be two arrays (inline, crossline) of the volume's shape {volume.shape}")
        dips = tuple(xp.asarray(d) for d in dips)
    region = normalise_region(out_region, volume.shape)
    out = xp.empty(tuple(b - a for a, b in region), volume.dtype)
    return getattr(implementation(__name__, volume), kind)(volume, window, dips, max_dip, out, region, workers)
