"""NumPy backend of the structure tensor: ``scipy.ndimage`` filters and the closed-form eigen-analysis.

Same entry points as ``_cuda.py``. The filters run on the whole block (SciPy's ``correlate1d`` holds
the GIL, so threads would not help); the eigen-analysis runs in slabs of :data:`SLAB_VOXELS` voxels on a
thread pool (NumPy's float64 array operations release the GIL), which bounds its float64 temporaries.
Slabs split the work, never a voxel's operations: any split gives the same values bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi

from facies.kernels.threads import run_pieces
from facies.kernels.structure import eigen
from facies.kernels.structure.filters import tensor_block

#: Voxels per slab of the eigen-analysis (about 20 float64 temporaries each: 40 MiB per slab).
SLAB_VOXELS = 1 << 18


def structure_tensor_block(block: np.ndarray, derivative_sigma: float, sigma: float) -> np.ndarray:
    """The tensor of the voxels of ``block`` that carry the full halo (:func:`~.filters.tensor_block`)."""
    return tensor_block(block, derivative_sigma, sigma, ndi, np)


def tensor_attributes(tensor: np.ndarray, workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inline dip, crossline dip and chaos (float32, shape ``tensor.shape[1:]``) of a (6, ...) tensor."""
    shape = tensor.shape[1:]
    n = math.prod(shape)
    flat = np.ascontiguousarray(tensor).reshape(6, n)
    outs = tuple(np.empty(n, np.float32) for _ in range(3))

    def run(start: int) -> None:
        part = slice(start, min(n, start + SLAB_VOXELS))
        for out, value in zip(outs, eigen.tensor_attributes(flat[:, part], np)):
            out[part] = value

    run_pieces(run, range(0, n, SLAB_VOXELS), workers)
    return tuple(out.reshape(shape) for out in outs)  # type: ignore[return-value]
