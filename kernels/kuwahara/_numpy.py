"""Fast NumPy backend of the 3D Kuwahara filter: the real CPU path.

Algorithm (vectorised over whole arrays, no Python loop per voxel):

1. Valid voxels (finite, live trace) keep their value with a count of 1; invalid ones become 0
   with a count of 0. The block is zero-padded by ``B-1`` per axis once, in float64.
2. For every box start ``s`` (``-(B-1) .. n-1`` per axis, boxes clipped at the edge) the count
   ``n``, sum ``S`` and sum of squares ``Q`` are *direct* sliding sums in float64, separably along
   sample, crossline, inline. Each box sum is the same ordered sequence of additions wherever the
   box sits in the array, so a brick (with its halo) gives bit-identical results to the whole
   volume; cumulative sums or a data-dependent shift would not.
3. ``mean = S/n`` (rounded once to the output dtype) and ``var = (n*Q - S*S) / n**2`` from raw
   moments (not shifted data: see docs/kuwahara.md, "Precision", for why and what it means for
   CPU/GPU parity). Float32 values squared are exact in float64 and a box usually holds a few
   hundred voxels, so the relative error of ``var`` is about ``1e-16 * mean**2 / var`` (1e-12 for
   coherence at 0.95 +- 0.01), and on integer-valued data the variances are exact rationals,
   correctly rounded, so ties are exact too. Counts and window numbers are 16-bit: the caller
   refuses boxes of more than ``MAX_BOX_VOXELS`` (65,535) voxels.
4. The candidate windows of every voxel are shifted views of the box arrays. The first window of
   smallest variance (strict ``<``) is found separably: for every box start the best sample
   offset, then the best crossline offset of those, then inline (:func:`select_windows`), with
   branch-free selects of bit patterns (:func:`select_bits`); the mean is rounded to the output
   dtype before it is selected, which is the same as rounding the selected mean.
5. ``stat="median"`` keeps the index of the chosen window instead, then gathers each voxel's
   window (a sliding-window view, chunks of voxels) and sorts it; NaN sorts last, so the median
   of the ``n`` valid values is read at ``(n-1)//2`` and ``n//2``.

The volume (or only its ``out_region``: the voxels outside it are read as halo, never computed)
is processed in tiles along all three axes (:func:`tile_shape`), each read with the halo it needs
and computing only its own voxels, on a thread pool: NumPy releases the GIL in these array
operations. Tiles change how work is split, never the operations that give a voxel its value, so a
region's values are those of the whole volume bit for bit.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from facies.kernels.threads import default_workers, run_pieces
from facies.kernels.box_stats import sliding_sums
from facies.kernels.kuwahara.windows import (axis_offsets, box_shape, kuwahara_halo, normalise_region, valid_voxels,
                                             window_offsets)

#: Voxels of a tile's box arrays (the tile grown by its halo on every side): large enough to
#: amortise the halo of the box sums, small enough that those arrays stay in the caches.
TILE_VOXELS = 1 << 18
#: Voxels whose median windows are gathered and sorted at once.
MEDIAN_CHUNK = 1 << 14


def filter_volume(volume: np.ndarray, radius: tuple[int, int, int], mode: str, stat: str,
                  mask: np.ndarray | None, out: np.ndarray, workers: int | None = None,
                  out_region=None) -> np.ndarray:
    """Filter ``out_region`` of ``volume`` (default: all of it) into ``out``, of the region's shape.

    Arguments validated by :func:`facies.kernels.kuwahara.kuwahara`; ``out_region`` as
    :func:`~facies.kernels.kuwahara.windows.normalise_region` takes it. Only the region is
    tiled and computed; each tile reads its halo from the volume (clipped at the volume's edge).
    The CUDA backend's ``filter_volume`` has the same signature.
    """
    x = volume
    region = normalise_region(out_region, x.shape)
    shape = tuple(b - a for a, b in region)
    if math.prod(shape) == 0:
        return out
    halo = kuwahara_halo(radius, mode)
    workers = default_workers(workers)
    tile = tile_shape(shape, halo, workers)
    origin = tuple(a for a, _ in region)

    def run(start: tuple[int, ...]) -> None:
        part = [(o + s, o + min(m, s + t)) for o, s, t, m in zip(origin, start, tile, shape)]
        read = [(max(0, a - h), min(n, b + h)) for (a, b), h, n in zip(part, halo, x.shape)]
        block = x[tuple(slice(a, b) for a, b in read)]
        block_mask = None if mask is None else mask[read[0][0]:read[0][1], read[1][0]:read[1][1]]
        filter_block(block, radius, mode, stat, block_mask,
                     region=tuple((a - r, b - r) for (a, b), (r, _) in zip(part, read)),
                     out=out[tuple(slice(a - o, b - o) for (a, b), o in zip(part, origin))])

    run_pieces(run, itertools.product(*(range(0, m, t) for m, t in zip(shape, tile))), workers)
    return out


def tile_shape(shape, halo, workers: int = 1) -> tuple[int, ...]:
    """Output tile of at most about :data:`TILE_VOXELS` voxels, at least one tile per worker.

    Halves the longest axis (samples count a quarter: long contiguous traces make fast inner
    loops) while the tile is too big, never below twice the halo (its read overhead). Sizing the
    tile with its halo instead was measured slower, on whole volumes and on 128^3 kept regions
    alike (docs/kuwahara.md, "Output region").
    """
    tile = list(shape)

    def split_axis():
        weight = [t / (4 if a == 2 else 1) if t > max(4, 2 * h) else 0 for a, (t, h) in enumerate(zip(tile, halo))]
        axis = int(np.argmax(weight))
        return axis if weight[axis] > 0 else None

    def n_tiles():
        return math.prod(-(-n // t) for n, t in zip(shape, tile))

    while math.prod(tile) > TILE_VOXELS or n_tiles() < workers:
        axis = split_axis()
        if axis is None:
            break
        tile[axis] = -(-tile[axis] // 2)
    return tuple(tile)


def filter_block(x: np.ndarray, radius, mode: str, stat: str, mask: np.ndarray | None,
                 region=None, out: np.ndarray | None = None) -> np.ndarray:
    """Kuwahara filter of a ``region`` of a block (windows clipped at the block's edge).

    Parameters
    ----------
    x : ndarray, shape (n_il, n_xl, n_s)
        The block, with the halo the region needs (a shorter one where the volume ends).
    region : tuple of 3 (start, stop), optional
        Voxels of ``x`` to compute (default: all).
    out : ndarray, optional
        Where to write them, shape of the region; default float64.
    """
    region = tuple(region or ((0, n) for n in x.shape))
    lo = tuple(a for a, _ in region)
    inner = tuple(slice(a, b) for a, b in region)
    shape = tuple(b - a for a, b in region)
    if out is None:
        out = np.empty(shape, np.float64)
    size = box_shape(radius, mode)
    valid = valid_voxels(x, mask)
    values, counts = padded_values(x, valid, size)
    # Box starts lo-(B-1) .. hi-1 per axis: the padded voxels they cover are [lo, hi + 2(B-1)).
    needed = tuple(slice(a, b + 2 * (s - 1)) for (a, b), s in zip(region, size))
    values, counts = values[needed], counts[needed]
    count = sliding_sums(counts, size)
    total = sliding_sums(values, size)
    if total is values:  # radius 0 on every axis: the "sums" are the values themselves
        total = total.copy()
    np.multiply(values, values, out=values)
    squares = sliding_sums(values, size)
    del values, counts
    mean, var = box_mean_var(count, total, squares, out.dtype)
    del total, squares

    if stat == "mean":
        select_windows(var, mean, radius, mode, out)
    else:
        offsets = window_offsets(radius, mode)
        best_index = np.empty(shape, np.uint8 if len(offsets) < 256 else np.uint16)
        select_windows(var, None, radius, mode, best_index)
        out[...] = window_medians(x, valid, size, offsets, best_index, count, lo)
    np.copyto(out, x[inner], where=~valid[inner])  # invalid voxels pass through unchanged
    return out


def padded_values(x: np.ndarray, valid: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """Valid values (0 elsewhere) in float64 and their counts, zero-padded by ``B-1`` per axis."""
    pad = tuple(b - 1 for b in size)
    padded_shape = tuple(n + 2 * p for n, p in zip(x.shape, pad))
    inner = tuple(slice(p, p + n) for p, n in zip(pad, x.shape))
    values = np.zeros(padded_shape, np.float64)
    np.copyto(values[inner], x, where=valid)
    counts = np.zeros(padded_shape, np.uint8 if np.prod(size) < 256 else np.uint16)
    counts[inner] = valid
    return values, counts


def box_mean_var(count: np.ndarray, total: np.ndarray, squares: np.ndarray,
                 mean_dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Mean (in ``mean_dtype``) and float64 population variance per box.

    Empty boxes get variance +inf (never chosen) and a NaN mean. ``squares`` is overwritten.
    """
    n = count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.divide(total, n, dtype=np.float64).astype(mean_dtype, copy=False)
        var = np.multiply(squares, n, out=squares)
        var -= total * total
        n *= n
        var /= n
    np.maximum(var, 0.0, out=var)  # rounding can make a constant box slightly negative
    var[count == 0] = np.inf
    return mean, var


def select_windows(var: np.ndarray, mean: np.ndarray | None, radius, mode: str, out: np.ndarray) -> np.ndarray:
    """Per voxel, the first window of smallest variance (strict ``<``): its mean, or its index.

    The choice is separable: along the sample axis first (for every box start on the other
    axes, the best sample offset), then crossline, then inline, each a running comparison over
    that axis's offsets in tie-breaking order. The lexicographically first window of smallest
    variance is also first along each axis given the earlier ones, so this is the same choice
    as scanning all windows, at a cost of one comparison per axis offset instead of per window.

    Parameters
    ----------
    var, mean : ndarray
        Box variances and means; box index ``s + B - 1`` <-> start ``s``, relative to ``out``.
    out : ndarray
        Filled with the chosen window's mean (``mean`` given) or its index into ``window_offsets``.
    """
    size = box_shape(radius, mode)
    per_axis = [axis_offsets(r, mode) for r in radius]
    if mean is None:  # carry the index of the window, numbered as window_offsets numbers them
        carry = np.zeros(var.shape, out.dtype)
        strides = [len(per_axis[1]) * len(per_axis[2]), len(per_axis[2]), 1]
    else:
        carry, strides = mean, [0, 0, 0]
    for axis in (2, 1, 0):
        last = axis == 0
        var, carry = _choose_along(var, carry, axis, per_axis[axis], size[axis], out.shape[axis], strides[axis],
                                   out if last else None)
    return out


def _choose_along(var, carry, axis: int, offsets, b: int, n: int, stride: int, out=None):
    """Best of the candidate box starts ``p + o`` along ``axis`` (first wins ties) for every p.

    Returns the best variance and the carried value (mean, or window index gaining ``k * stride``
    for the k-th offset), both of length ``n`` along ``axis``; the carried value goes to ``out``
    when given.
    """
    def along(array, offset):
        index = [slice(None)] * 3
        index[axis] = slice(b - 1 + offset, b - 1 + offset + n)
        return array[tuple(index)]

    best_var = along(var, offsets[0])
    if out is None:
        out = along(carry, offsets[0]).copy()
    else:
        out[...] = along(carry, offsets[0])
    better = np.empty(best_var.shape, bool)
    scratch = np.empty(best_var.shape, _BITS[out.dtype.itemsize])
    for k, offset in enumerate(offsets[1:], start=1):
        if offset == offsets[k - 1]:
            continue  # radius 0 in octant mode: the same box twice, the first wins
        candidate = along(var, offset)
        np.less(candidate, best_var, out=better)
        # == candidate where better (var is never NaN); the first minimum makes a fresh array
        best_var = np.minimum(best_var, candidate, out=None if k == 1 else best_var)
        value = along(carry, offset)
        select_bits(out, value + k * stride if stride else value, better, scratch)
    return best_var, out


#: Integer types of each item size: a selection copies bit patterns, whatever the dtype.
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def select_bits(out: np.ndarray, value: np.ndarray, where: np.ndarray, scratch: np.ndarray) -> None:
    """``out[where] = value[where]``, bit for bit, without branches.

    ``np.copyto(..., where=)`` branches per element and mispredicts on noisy data (about 10x
    slower here); ``out += (value - out) * where`` on the integer bit patterns (wrapping
    arithmetic) is three branch-free vectorised passes and exact for any dtype.
    """
    bits = _BITS[out.dtype.itemsize]
    out_bits, value_bits = out.view(bits), value.view(bits)
    np.subtract(value_bits, out_bits, out=scratch)
    np.multiply(scratch, where, out=scratch)
    np.add(out_bits, scratch, out=out_bits)


def window_medians(x, valid, size, offsets, best_index, count, lo=(0, 0, 0)) -> np.ndarray:
    """Median of the valid voxels of each voxel's chosen window (NaN where p is invalid).

    ``best_index`` covers the block's voxels from ``lo``; ``count`` is the box-count array of that
    region (box index ``s + B - 1 - lo`` per axis).
    """
    padded = np.pad(np.where(valid, x, np.nan).astype(np.float64, copy=False),
                    [(b - 1, b - 1) for b in size], constant_values=np.nan)
    windows = sliding_window_view(padded, size)  # [s+B-1] -> box starting at s
    shift = np.asarray(offsets, np.int64) + (np.asarray(size) - 1)
    shape = best_index.shape
    result = np.full(shape, np.nan)
    where = np.flatnonzero(valid[tuple(slice(a, a + n) for a, n in zip(lo, shape))])
    for c0 in range(0, where.size, MEDIAN_CHUNK):
        flat = where[c0:c0 + MEDIAN_CHUNK]
        starts = np.stack(np.unravel_index(flat, shape), axis=1) + shift[best_index.flat[flat]]
        n = count[tuple(starts.T)].astype(np.int64)  # the count array starts at lo
        starts += np.asarray(lo, np.int64)
        values = np.sort(windows[tuple(starts.T)].reshape(flat.size, -1), axis=1)  # NaN last
        low = np.take_along_axis(values, ((n - 1) // 2)[:, None], 1)[:, 0]
        high = np.take_along_axis(values, (n // 2)[:, None], 1)[:, 0]
        result.flat[flat] = 0.5 * (low + high)
    return result
