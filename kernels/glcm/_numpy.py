"""NumPy backend of the GLCM texture measures (definition: :mod:`facies.kernels.glcm.definition`).

Algorithm, vectorised over a tile of voxels (no Python loop per voxel):

1. Quantise the tile grown by the halo: intp levels, -1 for an invalid voxel (also outside the volume).
2. Histogram of each output voxel's window, over the L(L+1)/2 unordered level pairs (*codes*). A pair of
   offset ``o`` sits at its *anchor*, the lowest corner of the box spanning its two voxels
   (``m = p + min(0, o)`` per axis); it lies in the window of voxel ``c`` iff ``c - r <= m <= c + r - |o|``
   per axis. So a voxel's count of a code is a box sum over anchors, the box ``2r + 1 - |o|`` long per axis:

   a. inline x crossline: for each offset and each ``(u, v)`` of its lateral box, one fancy-index ``+= 1``
      into ``G[c_il, c_xl, m_t, code]`` (no index repeats within one, so no ``np.add.at``). Offsets with the
      same ``|o_t|`` share one ``G`` (uint8 while the counts fit). Scattering is cheaper here than one-hot
      box sums over every code (about 3x in a prototype, on the default window), and only the sample axis needs
      anchors beyond the tile.
   b. samples: sums of ``2 r_t + 1 - |o_t|`` shifted slices of each ``G``, into the uint16 histogram.

   Counts are integers: any order of summing them gives the same counts.
3. Measures: the integer sums of the definition as float64 sums of products (every product and partial sum
   is an integer below 2^53, hence exact in any order), then one division each.

The volume (or only ``out_region``; the voxels around it are read, never computed) is processed in tiles
of at most :data:`TILE` voxels on a thread pool, as the Kuwahara backend does (its gain is not measured
here: the 2-core build machine was shared). A voxel's value depends only on its window, so any tiling, brick
or region gives the same bits.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from facies.kernels.threads import default_workers, run_pieces
from facies.kernels.array_module import array_module, quiet
from facies.kernels.glcm.definition import (FIXED_SCALE, code_levels, code_table, entropy_table, glcm_halo,
                                            homogeneity_weights, n_codes)

#: Output voxels of a tile (inline, crossline, samples). Small laterally: the scatter targets and the
#: histogram of a tile stay in the L2 cache; long in samples: the sample box reads anchors beyond the tile.
#: On the default window, 8 x 8 x 64 and 4 x 4 x 128 were the fastest of 4-16 laterally and 32-128 in samples
#: (CPU time, interleaved), 16 x 16 x 32 a third slower.
TILE = (8, 8, 64)


def quantise(x, levels: int, low: float, scale: float, mask=None):
    """Levels of ``x`` (intp, -1 where invalid: not finite, or a dead trace where ``mask`` is False).

    ``clip(floor((x - low) * scale), 0, levels - 1)`` in float64, the CUDA kernel's sequence of operations.
    Like :func:`pair_histogram` and :func:`measures`, it runs on NumPy or CuPy arrays (the benchmark times
    this array formulation on a GPU against the fused kernel).
    """
    xp = array_module(x)
    valid = xp.isfinite(x)
    if mask is not None:
        valid &= mask[:, :, None]
    with quiet(xp):
        level = xp.clip(xp.floor((x.astype(xp.float64) - low) * scale), 0, levels - 1)
    return xp.where(valid, level, -1.0).astype(xp.intp)


def pair_histogram(lev, levels: int, radius, offsets, shape):
    """Counts of every code in the window of every voxel of an output box (``shape + (n_codes,)``, uint16).

    ``lev`` holds the levels (intp, -1 invalid) of the box grown by ``radius`` on every side. Each count is
    of unordered pairs (a pair (i, j) and a pair (j, i) both count in the code of {i, j}).
    """
    xp = array_module(lev)
    k = n_codes(levels)
    codes = xp.asarray(np.append(code_table(levels).ravel(), k))  # a*L + b -> code; L*L (invalid pair) -> k, dropped
    n0, n1, n2 = shape
    boxes = []
    for o in offsets:
        span = tuple(2 * r + 1 - abs(v) for r, v in zip(radius, o))  # anchors per window, per axis
        if min(span) > 0:
            boxes.append((o, span))
    groups: dict[int, tuple[np.ndarray, int]] = {}
    for span_t in sorted({span[2] for _, span in boxes}):
        bound = sum(span[0] * span[1] for _, span in boxes if span[2] == span_t)  # the largest count in G
        g = xp.zeros((n0, n1, n2 + span_t - 1, k + 1), np.uint8 if bound <= 255 else np.uint16)
        groups[span_t] = (g, bound)
    for o, span in boxes:
        g = groups[span[2]][0]
        anchors = tuple(n + s - 1 for n, s in zip(shape, span))
        first = tuple(-min(0, v) for v in o)  # the pair's voxels relative to its anchor
        second = tuple(max(0, v) for v in o)
        a = lev[tuple(slice(f, f + m) for f, m in zip(first, anchors))]
        b = lev[tuple(slice(f, f + m) for f, m in zip(second, anchors))]
        code = codes[xp.where((a < 0) | (b < 0), levels * levels, a * levels + b)]
        flat = g.reshape(-1)
        base = xp.arange(0, flat.size, k + 1, dtype=np.intp).reshape(n0, n1, anchors[2])
        index = xp.empty_like(base)
        for u, v in itertools.product(range(span[0]), range(span[1])):
            xp.add(base, code[u:u + n0, v:v + n1], out=index)
            flat[index] += 1
    hist = xp.zeros((n0, n1, n2, k), np.uint16)
    for span_t, (g, _) in groups.items():
        for d in range(span_t):
            hist += g[:, :, d:d + n2, :k]
    return hist


@lru_cache(maxsize=8)
def _float_table(max_pairs: int) -> np.ndarray:
    """:func:`entropy_table` as float64 (exact: its entries are integers below 2^53)."""
    table = entropy_table(max_pairs).astype(np.float64)
    table.setflags(write=False)
    return table


def measures(hist, levels: int, max_pairs: int):
    """The four measures (float32, ``(4,) + hist.shape[:-1]``) from the code counts; NaN where a window has no pair.

    With ``U`` a code's count: an off-diagonal code fills two cells of the symmetric matrix with ``U``, a
    diagonal one (the first ``L`` codes) one cell with ``2U``. So ``n = sum U``, ``sum C^2 = 2 sum_off U^2 +
    4 sum_diag U^2`` and ``sum C ln C = 2 sum_off T[U] + sum_diag T[2U]`` (``T``: :func:`entropy_table`).
    """
    xp = array_module(hist)
    k = n_codes(levels)
    h = hist.reshape(-1, k)
    i, j = code_levels(levels)
    d = j - i
    # Per code: a pair, d^2 (contrast), round(2^32 / (1 + d^2)) (homogeneity), the weight of U^2 (energy).
    # einsum's own loops on NumPy, not BLAS: no BLAS threads inside the tile threads.
    weights = xp.asarray(np.stack([np.ones(k), d * d, homogeneity_weights(levels)[d], np.where(d == 0, 4.0, 2.0)]))
    n, contrast, homogeneity = (xp.einsum("vk,k->v", h, w) for w in weights[:3])
    energy = xp.einsum("vk,vk,k->v", h, h, weights[3])
    table = xp.asarray(_float_table(max_pairs))
    c_ln_c = xp.take(table[::2], h[:, :levels]).sum(axis=1) + 2.0 * xp.take(table, h[:, levels:]).sum(axis=1)
    n_cells = 2.0 * n  # N, the sum of the symmetric matrix
    with quiet(xp):
        out = xp.stack([contrast / n, homogeneity / (n * FIXED_SCALE), energy / (n_cells * n_cells),
                        (xp.take(table, n_cells.astype(np.intp)) - c_ln_c) / (n_cells * FIXED_SCALE)])
    out[:, n == 0] = np.nan
    return out.astype(np.float32).reshape((4,) + hist.shape[:-1])


def texture(volume: np.ndarray, levels: int, low: float, scale: float, window, offsets, max_pairs: int,
            mask: np.ndarray | None, out: np.ndarray, out_region, workers: int | None = None) -> np.ndarray:
    """The four measures of ``out_region`` of ``volume`` into ``out`` (float32, ``(4,) + region shape``).

    Arguments checked and normalised by :func:`facies.kernels.glcm.glcm_texture`; ``max_pairs`` is
    :func:`~facies.kernels.glcm.definition.pair_count` of the window and offsets. The CUDA backend's
    ``texture`` has the same signature.
    """
    shape = tuple(b - a for a, b in out_region)
    if math.prod(shape) == 0:
        return out
    radius = glcm_halo(window)
    workers = default_workers(workers)
    tile = tuple(min(t, n) for t, n in zip(TILE, shape))
    origin = tuple(a for a, _ in out_region)

    def run(start: tuple[int, ...]) -> None:
        part = [(o + s, o + min(m, s + t)) for o, s, t, m in zip(origin, start, tile, shape)]
        size = tuple(b - a for a, b in part)
        want = [(a - r, b + r) for (a, b), r in zip(part, radius)]  # the tile grown by the halo
        read = [(max(0, a), min(n, b)) for (a, b), n in zip(want, volume.shape)]
        block = volume[tuple(slice(a, b) for a, b in read)]
        block_mask = None if mask is None else mask[read[0][0]:read[0][1], read[1][0]:read[1][1]]
        lev = quantise(block, levels, low, scale, block_mask)
        pad = [(ra - wa, wb - rb) for (wa, wb), (ra, rb) in zip(want, read)]
        if any(p for pair in pad for p in pair):
            lev = np.pad(lev, pad, constant_values=-1)  # outside the volume: invalid
        values = measures(pair_histogram(lev, levels, radius, offsets, size), levels, max_pairs)
        centre = lev[tuple(slice(r, r + n) for r, n in zip(radius, size))]
        values[:, centre < 0] = np.nan
        out[(slice(None), *(slice(a - o, b - o) for (a, b), o in zip(part, origin)))] = values

    run_pieces(run, itertools.product(*(range(0, m, t) for m, t in zip(shape, tile))), workers)
    return out
