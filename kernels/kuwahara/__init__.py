"""3D adaptive Kuwahara filter: edge-preserving smoothing of seismic attribute volumes.

Public entry point :func:`kuwahara`; it validates its arguments and dispatches on the array
type (:func:`facies.kernels.array_module.implementation`): a CuPy array runs the CUDA kernel
(``_cuda.py``, which loads ``kuwahara.cu`` beside it), anything else the fast NumPy backend
(``_numpy.py``). Window geometry and argument checks shared by both are in
:mod:`facies.kernels.kuwahara.windows`. The brute-force reference the tests compare against is
``tests/kuwahara_reference.py``. See ``docs/kuwahara.md``.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import implementation, is_cupy
from facies.kernels.kuwahara.windows import (check_box_size, check_mode, check_stat, kuwahara_halo,
                                             normalise_radius, normalise_region, window_offsets)

__all__ = ["kuwahara", "kuwahara_halo", "window_offsets"]


def kuwahara(volume, radius=2, *, mode="octant", stat="mean", mask=None, out=None, workers=None,
             out_region=None):
    """Adaptive 3D Kuwahara filter.

    For each voxel ``p`` a set of candidate windows containing ``p`` is considered. Each window's
    mean and population variance are computed over its *valid* voxels: finite (NaN and +-inf are
    ignored), not on a dead trace (``mask`` False) and inside the array (windows are clipped at
    the edge). The window with the smallest variance is chosen (ties: the first in the order
    below); the output is its mean, or its median with ``stat="median"`` (the mean of the two
    middle values when the window holds an even number of valid voxels). A window with no valid
    voxel is never chosen.

    - ``mode="octant"``: the 8 boxes of ``(r_il+1, r_xl+1, r_t+1)`` voxels with ``p`` at a corner.
    - ``mode="shifted"`` (Luo et al. 2002): every box of ``(2a_il+1, 2a_xl+1, 2a_t+1)`` voxels that
      contains ``p`` (125 windows for ``a = 2``).

    Window order (ties): by start offset from ``p`` along (inline, crossline, sample),
    lexicographically, most negative first; in octant mode per axis ``-r`` (the half towards
    smaller indices) comes before ``0``.

    Invalid voxels (NaN, +-inf, dead traces) are passed through unchanged: a NaN stays NaN and a
    dead trace keeps its fill value. A valid voxel always has a valid window (every window
    contains it), so the output is finite wherever the input is valid.

    Windows reach :func:`kuwahara_halo` voxels from ``p`` (``r`` in octant mode, ``2a`` in shifted
    mode). Filtering a brick that carries that halo, padded with NaN outside the survey, gives
    bit-identical values to filtering the whole volume on the same backend.

    ``out_region`` computes only a box of the volume: the result has the region's shape and
    equals that box of the whole-volume result bit for bit, on either backend. Voxels outside it are still read
    (windows reach into them, and are clipped at the *volume's* edge as before), only not
    computed: the brick engine passes the brick's interior, so the halo is read, not filtered.

    Parameters
    ----------
    volume : ndarray or cupy.ndarray, shape (n_il, n_xl, n_samples)
        float32 or float64 (other real dtypes are converted to float64).
    radius : int or tuple of 3 ints
        ``r`` (octant) or ``a`` (shifted) along inline, crossline, sample; each >= 0.
    mode : {"octant", "shifted"}
    stat : {"mean", "median"}
    mask : array of bool, shape (n_il, n_xl), optional
        Live traces (True), like ``Geometry.trace_mask``; False marks a dead trace.
    out : array, optional
        Where to write the result; the shape of ``out_region`` (default: of the volume), the
        volume's array type, dtype float32 for float32 input and float64 otherwise.
    workers : int, optional
        Threads of the NumPy backend (default: the CPU count, at most 8). Ignored on the GPU.
    out_region : sequence of 3 slices or (start, stop) pairs, optional
        The voxels to compute, per axis (inline, crossline, sample): a ``slice`` of step 1 (as in
        indexing) or ``(start, stop)`` with ``0 <= start <= stop <= n``. Default: the whole volume.

    Returns
    -------
    ndarray or cupy.ndarray
        The filtered volume, or its ``out_region`` (``out`` when given).

    Raises
    ------
    ValueError
        A volume that is not 3D, a negative radius, windows of more than 65,535 voxels
        (``windows.MAX_BOX_VOXELS``), an unknown mode or statistic, a mask or ``out`` of the wrong
        shape or dtype, an ``out_region`` that is not a box of the volume; on the GPU a radius
        whose shared tile exceeds 48 KiB (``_cuda.check_shared_memory``).
    TypeError
        A volume of complex or non-numeric dtype.
    """
    radius, mode, stat = normalise_radius(radius), check_mode(mode), check_stat(stat)
    check_box_size(radius, mode)
    gpu = is_cupy(volume)
    if gpu:
        import cupy as xp  # noqa: PLC0415 - GPU path only
    else:
        xp = np
        volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"kuwahara needs a 3D volume (inline, crossline, sample), got shape {volume.shape}")
    if volume.dtype.kind not in "fiub" or volume.dtype.itemsize > 8:
        raise TypeError(f"kuwahara needs real numbers, got dtype {volume.dtype}")
    dtype = np.dtype(np.float32) if volume.dtype == np.float32 else np.dtype(np.float64)
    volume = volume.astype(dtype, copy=False)
    if mask is not None:
        mask = xp.asarray(mask)
        if mask.shape != volume.shape[:2] or mask.dtype != bool:
            raise ValueError(f"mask must be a bool array of shape {volume.shape[:2]} (inline, crossline), "
                             f"got {mask.dtype} {mask.shape}")
    region = normalise_region(out_region, volume.shape)
    shape = tuple(b - a for a, b in region)
    if out is None:
        out = xp.empty(shape, dtype)
    elif out.shape != shape or out.dtype != dtype or is_cupy(out) != gpu:
        raise ValueError(f"out must be a {'cupy' if gpu else 'numpy'} array of shape {shape} "
                         f"and dtype {dtype}, got {type(out).__name__} {out.dtype} {out.shape}")
    if xp.may_share_memory(out, volume):
        volume = volume.copy()  # the filter reads neighbours after writing p: never in place
    return implementation(__name__, volume).filter_volume(volume, radius, mode, stat, mask, out, workers,
                                                          out_region=region)

