"""Filtering overlapping pieces (halo = kuwahara_halo, NaN outside the volume) == filtering whole.

This is how the brick engine calls the kernel: a brick with its halo read from the neighbours,
padded with NaN where the halo falls outside the survey, and only its interior computed
(``out_region``; the halo is read, not filtered). The result must be bit-identical, whether the
kernel computes the interior only or the whole brick that is then cut.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facies.kernels.kuwahara import kuwahara, kuwahara_halo


def filter_in_pieces(x, mask, radius, mode, stat, piece, crop=True):
    """Filter ``x`` brick by brick; each brick is read with its halo, NaN-padded at the true edge.

    ``crop``: the kernel computes the brick's interior only (``out_region``), as the engine does;
    otherwise the whole grown brick, and the interior is cut out afterwards.
    """
    halo = kuwahara_halo(radius, mode)
    out = np.full(x.shape, -12345.0, x.dtype)  # poison: every voxel must be written
    for start in itertools.product(*(range(0, n, p) for n, p in zip(x.shape, piece))):
        stop = [min(s + p, n) for s, p, n in zip(start, piece, x.shape)]
        lo = [s - h for s, h in zip(start, halo)]
        hi = [e + h for e, h in zip(stop, halo)]
        brick = np.full([b - a for a, b in zip(lo, hi)], np.nan, x.dtype)
        brick_mask = np.zeros(brick.shape[:2], bool)
        src = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, x.shape))
        dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, lo))
        brick[dst] = x[src]
        brick_mask[dst[:2]] = mask[src[:2]]
        inner = tuple(slice(h, h + e - s) for h, s, e in zip(halo, start, stop))
        if crop:
            result = kuwahara(brick, radius, mode=mode, stat=stat, mask=brick_mask, out_region=inner)
        else:
            result = kuwahara(brick, radius, mode=mode, stat=stat, mask=brick_mask)[inner]
        out[tuple(slice(s, e) for s, e in zip(start, stop))] = result
    return out


@pytest.mark.parametrize("mode, stat, radius, piece", [
    ("octant", "mean", 2, (4, 5, 6)),
    ("octant", "median", (1, 2, 3), (3, 4, 7)),
    ("octant", "mean", 3, (2, 2, 2)),  # bricks smaller than the halo
    ("shifted", "mean", (1, 1, 2), (5, 3, 8)),
    ("shifted", "median", 1, (4, 4, 5)),
])
@pytest.mark.parametrize("crop", [True, False], ids=["interior-only", "whole-brick"])
def test_pieces_equal_whole(mode, stat, radius, piece, crop):
    rng = np.random.default_rng(23)
    x = rng.normal(size=(9, 10, 17)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    mask = rng.random(x.shape[:2]) > 0.15
    x[~mask] = 0.0
    whole = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    pieces = filter_in_pieces(x, mask, radius, mode, stat, piece, crop)
    np.testing.assert_array_equal(pieces, whole)  # bit-identical, NaN where the input is NaN
