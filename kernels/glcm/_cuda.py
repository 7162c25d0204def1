"""CUDA backend of the GLCM texture measures: loads ``glcm.cu`` (beside this file) and launches it.

Two launches per call: ``glcm_quantise_float``/``_double`` writes the uint8 level of every voxel of the volume
(255 where invalid), then ``glcm_measures`` computes the four measures of every voxel of the output region in
one fused pass per voxel (its own histogram column in shared memory; see the ``.cu`` header). Extra device
memory: one byte per voxel of the volume, plus the small tables. The integer tables (homogeneity weights,
entropy ``round(2^32 c ln c)``) are made on the host by :mod:`~facies.kernels.glcm.definition`, the ones the
NumPy backend uses, so both backends give the same bits.

``GLCM_LEVELS`` sizes each thread's histogram (L(L+1)/2 16-bit counters), so the block holds as many threads
as fit in :data:`SHARED_BUDGET` bytes (:func:`block_threads`), written into the preamble as ``GLCM_BLOCK``.
Any level count from 2 to 32 compiles on demand; ``CUDA_SPECIALISATIONS`` lists those the NVRTC compile test
(tests/test_cuda_compile.py) and the CPU harness build: 8, 16 (the default) and 32 (the largest histogram).
"""

from __future__ import annotations

import math

import numpy as np

from facies.kernels.cuda_build import device_attributes, get_module
from facies.kernels.glcm.definition import entropy_table, homogeneity_weights, n_codes

#: The ``.cu`` file beside this module, by its name under ``kernels/``.
SOURCE = "glcm/glcm.cu"
#: Static shared memory the histogram of one block may take: under the 48 KiB a block may declare statically,
#: with room for two blocks per SM's worth of occupancy on every architecture.
SHARED_BUDGET = 40 * 1024
#: Most threads per block (more gives no more occupancy: the histogram limits blocks per SM first).
MAX_BLOCK = 256
QUANTISE_BLOCK = 256


def block_threads(levels: int) -> int:
    """Threads per block of ``glcm_measures``: the largest power of two, at most :data:`MAX_BLOCK`, whose
    histograms (``n_codes(levels)`` 16-bit counters each) fit in :data:`SHARED_BUDGET` (32 for 32 levels)."""
    per_thread = 2 * n_codes(levels)
    return min(MAX_BLOCK, 1 << int(math.log2(SHARED_BUDGET // per_thread)))


def glcm_defines(levels: int) -> dict[str, object]:
    """The ``#define`` preamble of one specialisation."""
    return {"GLCM_LEVELS": int(levels), "GLCM_BLOCK": block_threads(levels)}


#: Specialisations checked by the NVRTC compile test and built by the CPU harness.
CUDA_SPECIALISATIONS = [(SOURCE, glcm_defines(levels), ()) for levels in (8, 16, 32)]


def _blocks(n: int, per_block: int, cap: int) -> int:
    return max(1, min(-(-n // per_block), cap))


def texture(volume, levels: int, low: float, scale: float, window, offsets, max_pairs: int, mask, out, out_region,
            workers=None):
    """The four measures of ``out_region`` of a CuPy ``volume`` into ``out`` (float32, ``(4,) + region shape``).

    Arguments checked by :func:`facies.kernels.glcm.glcm_texture`; the NumPy backend's ``texture`` has the same
    signature (``workers``, CPU threads, is ignored here).
    """
    shape = tuple(b - a for a, b in out_region)
    if math.prod(shape) == 0:
        return out
    import cupy as cp  # noqa: PLC0415 - GPU path only

    x = cp.ascontiguousarray(volume)
    n_il, n_xl, n_t = x.shape
    module = get_module(SOURCE, glcm_defines(levels))
    sms = device_attributes().multiprocessor_count
    live = (cp.ones((n_il, n_xl), cp.uint8) if mask is None else cp.ascontiguousarray(mask, dtype=cp.uint8))
    lev = cp.empty(x.shape, cp.uint8)
    quantise = "glcm_quantise_double" if x.dtype == np.float64 else "glcm_quantise_float"
    dims = tuple(np.int64(v) for v in x.shape)
    module.get_function(quantise)((_blocks(x.size, QUANTISE_BLOCK, 32 * sms),), (QUANTISE_BLOCK,),
                                  (x, live, lev, *dims, np.float64(low), np.float64(scale)))

    radius = tuple((w - 1) // 2 for w in window)
    table = cp.asarray(entropy_table(max_pairs))
    weights = cp.asarray(homogeneity_weights(levels))
    offset_array = cp.asarray(np.array(offsets, dtype=np.int32).reshape(-1))
    result = out if out.flags.c_contiguous else cp.empty(out.shape, cp.float32)
    block = block_threads(levels)
    total = math.prod(shape)
    # Enough blocks to fill every SM several times over; the grid-stride loop covers the rest.
    grid = (_blocks(total, block, 16 * sms * max(1, MAX_BLOCK // block)),)
    module.get_function("glcm_measures")(
        grid, (block,),
        (lev, offset_array, np.int32(len(offsets)), weights, table, result, *dims,
         *(np.int64(a) for a, _ in out_region), *(np.int64(n) for n in shape), *(np.int32(r) for r in radius)))
    if result is not out:
        out[...] = result
    return out
