"""GLCM (Haralick) texture of a 3D volume: contrast, homogeneity, energy and entropy of the grey-level
co-occurrence matrix of a window around every voxel.

Public entry point :func:`glcm_texture`; it checks its arguments and dispatches on the array type
(:func:`facies.kernels.array_module.implementation`): a CuPy array runs the fused CUDA kernel (``_cuda.py``,
which loads ``glcm.cu`` beside it), anything else the NumPy backend (``_numpy.py``). The definition both
follow, bit for bit, is in :mod:`facies.kernels.glcm.definition`. See docs/attributes.md.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import implementation, is_cupy
from facies.kernels.glcm.definition import (DIRECTIONS, MAX_LEVELS, MAX_PAIRS, MEASURES, MIN_LEVELS, check_levels,
                                            check_pairs, glcm_halo, normalise_offsets, normalise_window, offsets_for,
                                            pair_count, quantisation)
from facies.kernels.kuwahara.windows import normalise_region

__all__ = ["DIRECTIONS", "MAX_LEVELS", "MAX_PAIRS", "MEASURES", "MIN_LEVELS", "glcm_halo", "glcm_texture",
           "offsets_for", "pair_count"]


def glcm_texture(volume, *, value_range, levels: int = 16, window=(5, 5, 9), directions: str = "all",
                 distance: int = 1, offsets=None, mask=None, out=None, out_region=None, workers: int | None = None):
    """Contrast, homogeneity, energy and entropy of the co-occurrence matrix of the window around each voxel.

    The amplitude is quantised to ``levels`` levels over ``value_range``; in the window around each voxel,
    every pair of valid voxels ``p``, ``p + o`` (``o`` an offset of the set, both voxels inside the window)
    counts both ways in one pooled symmetric matrix ``C``; with ``P = C / sum C``:
    contrast ``sum P (i-j)^2``, homogeneity ``sum P / (1 + (i-j)^2)``, energy ``sum P^2`` (the angular
    second moment), entropy ``-sum P ln P``. Invalid voxels (NaN, +-inf, dead traces, outside the volume)
    form no pair; a voxel that is itself invalid, or whose window holds no pair, gets NaN. Exact definition
    and arithmetic: :mod:`facies.kernels.glcm.definition`.

    Every output voxel depends on its window alone, computed with integer sums: a region, a brick with its
    halo (:func:`glcm_halo`) or the whole volume give the same bits, and so do the NumPy and CUDA backends.

    Parameters
    ----------
    volume : ndarray or cupy.ndarray, shape (n_il, n_xl, n_samples)
        Real numbers (float32 and float64 are read as they are, other dtypes as float64).
    value_range : (float, float)
        ``(low, high)``: the amplitudes mapped onto the levels; values outside share the end levels. Give the
        same range to every brick of a survey (a survey-wide clip), or bricks would quantise differently.
    levels : int
        Quantisation levels, 2 to 32.
    window : int or tuple of 3 odd ints
        Window size (inline traces, crossline traces, samples).
    directions : {"all", "lateral", "axes"}
        The offset set (:data:`~facies.kernels.glcm.definition.DIRECTIONS`): the 13 directions of 3D space,
        the 4 of a time slice, or the 3 axes.
    distance : int
        Offsets are the directions times ``distance`` voxels.
    offsets : sequence of 3-int tuples, optional
        Explicit offsets instead of ``directions`` and ``distance`` (an offset and its opposite are the same).
    mask : array of bool, shape (n_il, n_xl), optional
        Live traces (True); a dead trace's voxels are invalid.
    out : array, optional
        Where to write: float32, shape ``(4,) + region shape``, the volume's array type.
    out_region : sequence of 3 slices or (start, stop) pairs, optional
        The voxels to compute (default: all); the volume around them is read.
    workers : int, optional
        Threads of the NumPy backend (default: the CPU count, at most 8). Ignored on the GPU.

    Returns
    -------
    ndarray or cupy.ndarray
        float32, shape ``(4,) + region shape``: the measures in :data:`MEASURES` order.

    Raises
    ------
    ValueError
        A volume that is not 3D, bad levels, window, directions, distance, offsets or value range, a window
        holding no pair or more than :data:`MAX_PAIRS`, a mask or ``out`` of the wrong shape or type, an
        ``out_region`` that is not a box of the volume.
    TypeError
        A volume of complex or non-numeric dtype.
    """
    levels = check_levels(levels)
    window = normalise_window(window)
    offsets = normalise_offsets(offsets_for(directions, distance) if offsets is None else offsets)
    max_pairs = check_pairs(window, offsets)
    low, scale = quantisation(levels, value_range)
    gpu = is_cupy(volume)
    if gpu:
        import cupy as xp  # noqa: PLC0415 - GPU path only
    else:
        xp = np
        volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"glcm_texture needs a 3D volume (inline, crossline, sample), got shape {volume.shape}")
    if volume.dtype.kind not in "fiub" or volume.dtype.itemsize > 8:
        raise TypeError(f"glcm_texture needs real numbers, got dtype {volume.dtype}")
    if volume.dtype not in (np.float32, np.float64):
        volume = volume.astype(np.float64)
    if mask is not None:
        mask = xp.asarray(mask)
        if mask.shape != volume.shape[:2] or mask.dtype != bool:
            raise ValueError(f"mask must be a bool array of shape {volume.shape[:2]} (inline, crossline), "
                             f"got {mask.dtype} {mask.shape}")
    region = normalise_region(out_region, volume.shape)
    shape = (len(MEASURES),) + tuple(b - a for a, b in region)
    if out is None:
        out = xp.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or is_cupy(out) != gpu:
        raise ValueError(f"out must be a float32 {'cupy' if gpu else 'numpy'} array of shape {shape}, "
                         f"got {type(out).__name__} {out.dtype} {out.shape}")
    return implementation(__name__, volume).texture(volume, levels, low, scale, window, offsets, max_pairs, mask,
                                                    out, region, workers)
