"""The straightforward SciPy Kuwahara (mean only) that the engine's filter is compared with.
Shared by ``facies bench`` and ``bench/bench_kuwahara.py``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from facies.kernels.kuwahara.windows import box_shape, window_offsets


def scipy_kuwahara(x: np.ndarray, r: int, mode: str) -> np.ndarray:
    """Straightforward SciPy baseline (mean only): box means by uniform_filter, stacked argmin."""
    radius = (r, r, r)
    size = box_shape(radius, mode)
    valid = np.isfinite(x)
    pad = [(b - 1, b - 1) for b in size]
    data = np.pad(np.where(valid, x, 0.0).astype(np.float64), pad)
    count = ndimage.uniform_filter(np.pad(valid.astype(np.float64), pad), size, mode="constant")
    mean_x = ndimage.uniform_filter(data, size, mode="constant")
    mean_x2 = ndimage.uniform_filter(data * data, size, mode="constant")
    # filtered[c] is the box centred on c; the box starting at s is centred on s + B//2.
    start = tuple(slice(b // 2, b // 2 + n + b - 1) for b, n in zip(size, x.shape))
    count, mean_x, mean_x2 = count[start], mean_x[start], mean_x2[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mean_x / count
        var = np.where(count > 0, mean_x2 / count - mean * mean, np.inf)
    windows = [tuple(slice(b - 1 + o, b - 1 + o + n) for b, o, n in zip(size, off, x.shape))
               for off in window_offsets(radius, mode)]
    best = np.argmin(np.stack([var[w] for w in windows]), axis=0)
    result = np.take_along_axis(np.stack([mean[w] for w in windows]), best[None], 0)[0]
    return np.where(valid, result, x)
