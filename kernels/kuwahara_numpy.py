"""Fast NumPy backend of the 3D Kuwahara filter: the real CPU path.

Algorithm (vectorised over the whole block, no Python loop per voxel):

1. Valid voxels (finite, live trace) are set to 0 with a count of 1 / 0 otherwise.
2. For every box start ``s`` (``-(B-1) .. n-1`` per axis, boxes clipped at the edge) the count
   ``n``, sum ``S`` and sum of squares ``Q`` are *direct* sliding sums in float64, separably along
   sample, crossline, inline. Each box sum is the same ordered sequence of additions wherever the
   box sits in the array, so a brick (with its halo) gives bit-identical results to the whole
   volume; cumulative sums or a data-dependent shift would not.
3. ``mean = S/n`` and ``var = (n*Q - S*S) / n**2``. Float32 values squared are exact in float64 and
   a box holds at most a few hundred voxels, so the relative error of ``var`` is about
   ``1e-16 * mean**2 / var`` (1e-12 for coherence at 0.95 +- 0.01), and on integer-valued data
   the variances are exact rationals, correctly rounded, so ties are exact too.
4. For each voxel the candidate windows are read from the box arrays by slicing (one slice per
   window offset) and the first window of smallest variance is kept (strict ``<``).
5. ``stat="median"`` gathers the chosen window of each voxel (a sliding-window view, chunks of
   voxels) and sorts it; NaN sorts last, so the median of the ``n`` valid values is read at
   ``(n-1)//2`` and ``n//2``.

The volume is processed in slabs along inline (each with the halo it needs), on a thread pool:
NumPy releases the GIL in these array operations.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from facies.kernels.kuwahara_windows import box_shape, kuwahara_halo, window_offsets

#: Output voxels per slab: large enough to amortise the halo, small enough for the caches.
SLAB_VOXELS = 1 << 19
#: Voxels whose median windows are gathered and sorted at once.
MEDIAN_CHUNK = 1 << 14


def kuwahara_numpy(x: np.ndarray, radius: tuple[int, int, int], mode: str, stat: str,
                   mask: np.ndarray | None, out: np.ndarray, workers: int | None = None) -> np.ndarray:
    """Filter ``x`` into ``out`` (validated by :func:`facies.kernels.kuwahara.kuwahara`)."""
    h_il = kuwahara_halo(radius, mode)[0]
    n_il, n_xl, n_s = x.shape
    thick = max(1, 2 * h_il, SLAB_VOXELS // max(1, n_xl * n_s))
    workers = workers or min(os.cpu_count() or 1, 8)
    thick = min(thick, max(1, -(-n_il // workers)))  # every worker gets a slab

    def run(i0: int) -> None:
        i1 = min(n_il, i0 + thick)
        a0, a1 = max(0, i0 - h_il), min(n_il, i1 + h_il)
        block = filter_block(x[a0:a1], radius, mode, stat, None if mask is None else mask[a0:a1])
        out[i0:i1] = block[i0 - a0:i1 - a0]

    starts = range(0, n_il, thick)
    if workers == 1 or len(starts) == 1:
        for i0 in starts:
            run(i0)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, starts))
    return out


def filter_block(x: np.ndarray, radius, mode: str, stat: str, mask: np.ndarray | None) -> np.ndarray:
    """Kuwahara filter of one whole block in float64 (windows clipped at the block's edge)."""
    valid = np.isfinite(x)
    if mask is not None:
        valid &= mask[:, :, None]
    size = box_shape(radius, mode)
    xv = np.where(valid, x, np.float64(0.0))  # float64 in one pass
    count = box_sums(valid.astype(np.uint8 if np.prod(size) < 256 else np.uint16), size)
    total = box_sums(xv, size)
    np.multiply(xv, xv, out=xv)
    squares = box_sums(xv, size)
    del xv
    mean, var = box_mean_var(count, total, squares)
    del total, squares

    offsets = window_offsets(radius, mode)
    best_index = choose_windows(var, size, offsets, x.shape)
    if stat == "mean":
        result = gather_window_means(mean, size, offsets, best_index, x.shape)
    else:
        result = window_medians(x, valid, size, offsets, best_index, count)
    np.copyto(result, x, where=~valid)  # invalid voxels pass through unchanged
    return result


def window_slice(size, offset, shape) -> tuple[slice, ...]:
    """Index of the box array giving, for every voxel p, the box that starts at ``p + offset``."""
    return tuple(slice(b - 1 + o, b - 1 + o + n) for b, o, n in zip(size, offset, shape))


def choose_windows(var: np.ndarray, size, offsets, shape) -> np.ndarray:
    """Index (into ``offsets``) of the first window of smallest variance, per voxel."""
    best_var = var[window_slice(size, offsets[0], shape)].copy()
    best_index = np.zeros(shape, np.uint8 if len(offsets) < 256 else np.uint16)
    better = np.empty(shape, bool)
    for k, off in enumerate(offsets[1:], start=1):
        candidate = var[window_slice(size, off, shape)]
        np.less(candidate, best_var, out=better)  # strict: the first window wins ties
        np.minimum(best_var, candidate, out=best_var)
        np.copyto(best_index, k, where=better)
    return best_index


def gather_window_means(mean, size, offsets, best_index, shape) -> np.ndarray:
    """Mean of each voxel's chosen window."""
    if len(offsets) <= 32:  # np.choose takes at most 32 choices on older NumPy
        return np.choose(best_index, [mean[window_slice(size, off, shape)] for off in offsets])
    result = mean[window_slice(size, offsets[0], shape)].copy()
    chosen = np.empty(shape, bool)
    for k, off in enumerate(offsets[1:], start=1):
        np.equal(best_index, k, out=chosen)
        np.copyto(result, mean[window_slice(size, off, shape)], where=chosen)
    return result


def box_sums(a: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Sum of ``a`` over every box of ``size`` clipped to the array; index ``s+B-1`` <-> start ``s``.

    Direct sums in a fixed order (sample, then crossline, then inline axis), so that a box's sum
    does not depend on where the array starts.
    """
    a = np.pad(a, [(b - 1, b - 1) for b in size])
    for axis, b in reversed(list(enumerate(size))):
        if b == 1:
            continue
        n = a.shape[axis] - (b - 1)
        take = [slice(None)] * 3
        take[axis] = slice(0, n)
        acc = a[tuple(take)].copy()
        for d in range(1, b):
            take[axis] = slice(d, d + n)
            acc += a[tuple(take)]
        a = acc
    return a


def box_mean_var(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance per box; empty boxes get variance +inf (never chosen)."""
    n = count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        var = n * squares
        var -= total * total
        n *= n
        var /= n
    np.maximum(var, 0.0, out=var)  # rounding can make a constant box slightly negative
    var[count == 0] = np.inf
    return mean, var


def window_medians(x, valid, size, offsets, best_index, count) -> np.ndarray:
    """Median of the valid voxels of each voxel's chosen window (NaN where p is invalid)."""
    padded = np.pad(np.where(valid, x, np.nan).astype(np.float64, copy=False),
                    [(b - 1, b - 1) for b in size], constant_values=np.nan)
    windows = sliding_window_view(padded, size)  # [s+B-1] -> box starting at s
    shift = np.asarray(offsets, np.int64) + (np.asarray(size) - 1)
    result = np.full(x.shape, np.nan)
    where = np.flatnonzero(valid)
    for c0 in range(0, where.size, MEDIAN_CHUNK):
        flat = where[c0:c0 + MEDIAN_CHUNK]
        starts = np.stack(np.unravel_index(flat, x.shape), axis=1) + shift[best_index.flat[flat]]
        s = tuple(starts.T)
        values = np.sort(windows[s].reshape(flat.size, -1), axis=1)  # NaN last
        n = count[s].astype(np.int64)
        lo = np.take_along_axis(values, ((n - 1) // 2)[:, None], 1)[:, 0]
        hi = np.take_along_axis(values, (n // 2)[:, None], 1)[:, 0]
        result.flat[flat] = 0.5 * (lo + hi)
    return result
