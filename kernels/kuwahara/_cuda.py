"""CUDA backend of the 3D Kuwahara filter: loads ``kuwahara.cu`` (beside this file) and launches it.

Two launches per call (see the ``.cu`` header): ``kuwahara_box_stats`` writes the mean and
variance of every box the output region uses (float64, shape ``c + B - 1`` per axis, ``c`` the
region's size: ``n`` for the whole volume), then ``kuwahara_select_mean`` or
``kuwahara_select_median`` picks each voxel's window. Extra device memory: 16 bytes per box.
The region's origin and size go to the kernels as 64-bit ints; the volume around it is read
(windows clipped at the volume's edge), never computed. Launch geometry is computed here.

The stats kernel stages a data tile in *static* shared memory, whose size grows with the box:
:func:`check_shared_memory` refuses a radius whose tile exceeds the 48 KiB a block may declare
statically (a ValueError before anything is compiled, instead of NVRTC's CompileException).

``CUDA_SPECIALISATIONS`` lists the preambles the NVRTC compile test (tests/test_cuda_compile.py)
builds for sm_80 and sm_90; every algorithm package's ``_cuda.py`` exposes such a list of
``(source name, defines, name_expressions)`` for the ``.cu`` files beside it.
"""

from __future__ import annotations

import math

import numpy as np

from facies.kernels.cuda_build import device_attributes, get_module
from facies.kernels.kuwahara.windows import MODES, box_shape, normalise_region

#: The ``.cu`` file beside this module, by its name under ``kernels/`` (:func:`~facies.kernels.cuda_build.read_source`).
SOURCE = "kuwahara/kuwahara.cu"
#: Threads of the stats kernel (sample, crossline, inline): must match KUW_TILE_* in the .cu.
STATS_BLOCK = (32, 4, 2)
SELECT_BLOCK = 256
#: Static shared memory one block may declare (CUDA's limit on every architecture; more needs
#: dynamic shared memory and an opt-in attribute).
SHARED_MEMORY_LIMIT = 48 * 1024


def kuwahara_defines(dtype, radius: tuple[int, int, int], mode: str) -> dict[str, object]:
    """The ``#define`` preamble of one specialisation."""
    double = np.dtype(dtype) == np.float64
    return {"KUW_T": "double" if double else "float", "KUW_T_IS_DOUBLE": int(double),
            "KUW_OCTANT": int(mode == "octant"),
            "KUW_R_IL": radius[0], "KUW_R_XL": radius[1], "KUW_R_T": radius[2]}


def shared_memory_bytes(dtype, radius: tuple[int, int, int], mode: str) -> int:
    """Bytes of the stats kernel's shared tile, by the ``.cu``'s own formula.

    ``tile[KUW_SH_IL][KUW_SH_XL][KUW_SH_T]`` of ``KUW_T``, with ``KUW_SH_* = KUW_TILE_* + B - 1``
    per axis: the box starts one block handles (:data:`STATS_BLOCK`, reversed to inline,
    crossline, sample) plus the box size ``B`` minus one.
    """
    tile = STATS_BLOCK[::-1]  # (inline, crossline, sample) = (KUW_TILE_IL, KUW_TILE_XL, KUW_TILE_T)
    return math.prod(t + b - 1 for t, b in zip(tile, box_shape(radius, mode))) * np.dtype(dtype).itemsize


def check_shared_memory(dtype, radius: tuple[int, int, int], mode: str) -> None:
    """Raise ValueError when the stats kernel's tile for ``radius`` exceeds :data:`SHARED_MEMORY_LIMIT`."""
    need = shared_memory_bytes(dtype, radius, mode)
    if need > SHARED_MEMORY_LIMIT:
        raise ValueError(f"radius {','.join(map(str, radius))} ({mode}, {np.dtype(dtype).name}) is too large for "
                         f"the GPU kernel (needs {need} bytes of shared memory, limit "
                         f"{SHARED_MEMORY_LIMIT // 1024} KiB); use --device cpu or a smaller radius")


def largest_gpu_radius(dtype, mode: str) -> int:
    """The largest isotropic radius the GPU kernel accepts for ``dtype`` and ``mode``."""
    r = 0
    while shared_memory_bytes(dtype, (r + 1,) * 3, mode) <= SHARED_MEMORY_LIMIT:
        r += 1
    return r


#: Specialisations checked by the NVRTC compile test: both dtypes, both modes, radii 1-3, an
#: anisotropic one, and the largest isotropic radius each mode and dtype accepts (the largest
#: shared tiles and the longest unrolled loops).
CUDA_SPECIALISATIONS = [
    (SOURCE, kuwahara_defines(dtype, radius, mode), ())
    for dtype in (np.float32, np.float64)
    for mode in MODES
    for radius in ((1, 1, 1), (3, 3, 3), (1, 0, 2), (largest_gpu_radius(dtype, mode),) * 3)
] + [(SOURCE, kuwahara_defines(np.float32, (2, 2, 2), mode), ()) for mode in MODES]


def _blocks(n: int, per_block: int) -> int:
    return max(1, -(-n // per_block))


def stats_boxes(shape, radius: tuple[int, int, int], mode: str) -> tuple[int, int, int]:
    """Boxes the stats kernel computes for an output region of ``shape``: ``c + B - 1`` per axis
    (starts ``o - (B-1) .. o + c - 1``, every window of every voxel of the region)."""
    bi, bx, bs = box_shape(radius, mode)
    ci, cx, cs = shape
    return int(ci) + bi - 1, int(cx) + bx - 1, int(cs) + bs - 1


def stats_grid(shape, radius: tuple[int, int, int], mode: str) -> tuple[int, int, int]:
    """Launch grid (x: sample, y: crossline, z: inline) of the stats kernel for a region of ``shape``.

    Raises
    ------
    ValueError
        More than 65,535 blocks along crossline or inline (CUDA's limit on grid y and z).
    """
    boxes = stats_boxes(shape, radius, mode)
    grid = (_blocks(boxes[2], STATS_BLOCK[0]), _blocks(boxes[1], STATS_BLOCK[1]), _blocks(boxes[0], STATS_BLOCK[2]))
    if grid[1] > 65535 or grid[2] > 65535:
        raise ValueError(f"output region of shape {tuple(shape)} is too large for one launch: "
                         f"split it along inline/crossline")
    return grid


def filter_volume(volume, radius: tuple[int, int, int], mode: str, stat: str, mask, out, workers=None,
                  out_region=None):
    """Filter ``out_region`` of a CuPy ``volume`` (default: all of it) into ``out``, of the region's shape.

    Arguments validated by :func:`facies.kernels.kuwahara.kuwahara`. The same entry point as the
    NumPy backend's; ``workers`` (CPU threads) is ignored here.

    Raises
    ------
    ValueError
        A radius whose shared tile does not fit (:func:`check_shared_memory`), checked before
        CuPy is imported or anything is compiled; an output region too large for one launch
        (:func:`stats_grid`).
    """
    check_shared_memory(volume.dtype, radius, mode)
    region = normalise_region(out_region, volume.shape)
    shape = tuple(b - a for a, b in region)
    if math.prod(shape) == 0:
        return out
    grid = stats_grid(shape, radius, mode)
    import cupy as cp  # noqa: PLC0415 - GPU path only

    x = cp.ascontiguousarray(volume)
    n_il, n_xl, _ = x.shape
    module = get_module(SOURCE, kuwahara_defines(x.dtype, radius, mode))
    live = (cp.ones((n_il, n_xl), cp.uint8) if mask is None
            else cp.ascontiguousarray(mask, dtype=cp.uint8))
    boxes = stats_boxes(shape, radius, mode)
    box_mean = cp.empty(boxes, cp.float64)
    box_var = cp.empty(boxes, cp.float64)
    # volume size, region origin, region size: (n_il, n_xl, n_t, o_il, o_xl, o_t, c_il, c_xl, c_t)
    dims = tuple(np.int64(v) for v in (*x.shape, *(a for a, _ in region), *shape))
    module.get_function("kuwahara_box_stats")(grid, STATS_BLOCK, (x, live, box_mean, box_var, *dims))

    result = out if out.flags.c_contiguous else cp.empty(shape, x.dtype)
    sms = device_attributes().multiprocessor_count
    select_grid = (min(_blocks(math.prod(shape), SELECT_BLOCK), 32 * sms),)  # grid-stride loop covers the rest
    if stat == "mean":
        module.get_function("kuwahara_select_mean")(
            select_grid, (SELECT_BLOCK,), (x, live, box_mean, box_var, result, *dims))
    else:
        module.get_function("kuwahara_select_median")(
            select_grid, (SELECT_BLOCK,), (x, live, box_var, result, *dims))
    if result is not out:
        out[...] = result
    return out
