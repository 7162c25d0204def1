"""CUDA backend of the coherence attributes: the semblance kernels of ``coherence.cu``, and eigenstructure by CuPy.

Same entry points as ``_numpy.py``.

- Semblance, plain and dip-steered: one fused kernel each (``coherence.cu`` says why), one thread per voxel
  of the output region on a grid-stride 1D grid. The volume (and the dips) are passed whole with the region's
  origin and size as 64-bit ints; the window's half-widths as ints.
- Eigenstructure: a composition of CuPy calls on tiles (:func:`~.traces.eigenstructure_tile`, the NumPy
  backend's code): the covariance matrices by array operations, their largest eigenvalues by
  ``cupy.linalg.eigvalsh`` (cuSOLVER's batched Jacobi solver). A per-voxel eigensolver inside a kernel
  would hold a (traces x traces) float64 matrix per thread (81 values for 3x3 windows): it spills, and
  cuSOLVER's batched solver is the tuned version of exactly that.

``CUDA_SPECIALISATIONS`` lists the preambles the NVRTC compile test builds for sm_80 and sm_90.
"""

from __future__ import annotations

import math

import numpy as np

from facies.kernels.coherence.traces import eigenstructure_tile, read_block, steering
from facies.kernels.coherence.windows import coherence_halo, tiles, window_radii
from facies.kernels.cuda_build import device_attributes, get_module

#: The ``.cu`` file beside this module, by its name under ``kernels/``.
SOURCE = "coherence/coherence.cu"
BLOCK = 256
#: Voxels per eigenstructure tile on the GPU (the window's samples and the covariance matrices: about
#: 1.3 KiB a voxel for 3x3x9 windows, so 340 MiB).
EIGEN_TILE_VOXELS = 1 << 18


def coherence_defines(dtype) -> dict[str, object]:
    """The ``#define`` preamble of the specialisation for volumes of ``dtype``."""
    return {"COH_T": "double" if np.dtype(dtype) == np.float64 else "float"}


#: Both data types; the window is a runtime argument.
CUDA_SPECIALISATIONS = [(SOURCE, coherence_defines(dtype), ()) for dtype in (np.float32, np.float64)]


def semblance(volume, window, dips, max_dip: float, out, region, workers=None):
    """Semblance of ``region`` of a CuPy ``volume`` into ``out`` (``workers`` is ignored here)."""
    import cupy as cp  # noqa: PLC0415 - GPU path only

    shape = tuple(b - a for a, b in region)
    total = math.prod(shape)
    if total == 0:
        return out
    x = cp.ascontiguousarray(volume)
    module = get_module(SOURCE, coherence_defines(x.dtype))
    result = out if out.flags.c_contiguous else cp.empty(shape, x.dtype)
    dims = tuple(np.int64(v) for v in (*x.shape, *(a for a, _ in region), *shape))
    radii = tuple(np.int32(r) for r in window_radii(window))
    grid = (min(-(-total // BLOCK), 32 * device_attributes().multiprocessor_count),)
    if dips is None:
        module.get_function("coherence_semblance")(grid, (BLOCK,), (x, result, *dims, *radii))
    else:
        dip_il, dip_xl = (cp.ascontiguousarray(d, dtype=x.dtype) for d in dips)
        module.get_function("coherence_semblance_steered")(
            grid, (BLOCK,), (x, dip_il, dip_xl, result, *dims, *radii, np.float64(max_dip)))
    if result is not out:
        out[...] = result
    return out


def eigenstructure(volume, window, dips, max_dip: float, out, region, workers=None):
    """Eigenstructure coherence of ``region`` of a CuPy ``volume`` into ``out``, tile by tile."""
    import cupy as cp  # noqa: PLC0415 - GPU path only

    steered = dips is not None
    halo = coherence_halo(window, steered=steered, max_dip=max_dip)
    radii = window_radii(window)
    origin = tuple(a for a, _ in region)
    shape = tuple(b - a for a, b in region)
    for tile in tiles(shape, EIGEN_TILE_VOXELS) if all(shape) else []:
        box = tuple((o + a, o + b) for o, (a, b) in zip(origin, tile))
        tile_shape = tuple(b - a for a, b in box)
        block = read_block(volume, box, halo, cp)
        inner = tuple(slice(h, h + n) for h, n in zip(halo, tile_shape))
        bad = ~cp.isfinite(block[inner])
        steps = None
        if steered:
            cut = tuple(slice(a, b) for a, b in box)
            steps, no_dip = steering(dips[0][cut], dips[1][cut], radii, halo, block.shape, max_dip, cp)
            bad |= no_dip
        value = eigenstructure_tile(block, halo, tile_shape, radii, steps, cp)
        out[tuple(slice(a, b) for a, b in tile)] = cp.where(bad, cp.nan, value)
    return out
