"""CUDA backend of the structure tensor: ``cupyx.scipy.ndimage`` filters and the ``structure_eigen`` kernel.

Same entry points as ``_numpy.py``. The filters are CuPy's own ``correlate1d`` with the same explicit
weights and "valid" passes (:func:`~facies.kernels.structure.filters.tensor_block`): a composition of
library calls fits there, each pass is one memory-bound kernel either way. The per-voxel eigen-analysis
is one fused kernel (``structure.cu``, which says why), launched here on a grid-stride 1D grid.
"""

from __future__ import annotations

import math

import numpy as np

from facies.kernels.cuda_build import device_attributes, get_module
from facies.kernels.structure.filters import tensor_block

#: The ``.cu`` file beside this module, by its name under ``kernels/``.
SOURCE = "structure/structure.cu"
BLOCK = 256
#: One specialisation: float32 tensor in, float32 dips and chaos out.
CUDA_SPECIALISATIONS: list[tuple[str, dict[str, object], tuple[str, ...]]] = [(SOURCE, {}, ())]


def structure_tensor_block(block, derivative_sigma: float, sigma: float):
    """The tensor of the voxels of a CuPy ``block`` that carry the full halo."""
    import cupy  # noqa: PLC0415 - GPU path only
    import cupyx.scipy.ndimage as ndi  # noqa: PLC0415

    return tensor_block(block, derivative_sigma, sigma, ndi, cupy)


def tensor_attributes(tensor, workers: int | None = None):
    """Inline dip, crossline dip and chaos (float32, shape ``tensor.shape[1:]``) of a (6, ...) CuPy tensor.

    ``workers`` (CPU threads) is ignored here.
    """
    import cupy as cp  # noqa: PLC0415 - GPU path only

    shape = tuple(tensor.shape[1:])
    n = math.prod(shape)
    t = cp.ascontiguousarray(tensor, dtype=cp.float32)
    outs = tuple(cp.empty(shape, cp.float32) for _ in range(3))
    if n == 0:
        return outs
    grid = (min(-(-n // BLOCK), 32 * device_attributes().multiprocessor_count),)  # grid-stride loop covers the rest
    get_module(SOURCE).get_function("structure_eigen")(grid, (BLOCK,), (t, *outs, np.int64(n)))
    return outs
