"""Brute-force float64 reference of the 3D Kuwahara filter: loops, for tests on tiny arrays only.

It follows the definition of :func:`facies.kernels.kuwahara.kuwahara` literally: for every valid voxel,
gather every candidate window (clipped at the edge), keep its valid voxels, compute mean and
two-pass variance, keep the first window of smallest variance. Slow on purpose: it is the
yardstick the fast backends are tested against (and that bench/bench_kuwahara.py times).
"""

from __future__ import annotations

import numpy as np

from facies.kernels.kuwahara.windows import (box_shape, check_mode, check_stat, normalise_radius, valid_voxels,
                                             window_offsets)

#: Two variances closer than this (relative) count as a tie. Two-pass variances of windows
#: whose exact variances are equal can differ by a few ulps; this keeps "first window wins"
#: exact on integer-valued data, where distinct variances differ far more than this.
TIE_RTOL = 1e-12


def kuwahara_reference(volume, radius=2, *, mode="octant", stat="mean", mask=None) -> np.ndarray:
    """Brute-force Kuwahara filter in float64; same definition as :func:`facies.kernels.kuwahara.kuwahara`."""
    x = np.asarray(volume, dtype=np.float64)
    radius, mode, stat = normalise_radius(radius), check_mode(mode), check_stat(stat)
    valid = valid_voxels(x, mask)
    size = box_shape(radius, mode)
    offsets = window_offsets(radius, mode)
    out = x.copy()  # invalid voxels pass through unchanged
    for p in zip(*np.nonzero(valid)):
        best_var, best_value = np.inf, np.nan
        for off in offsets:
            region = tuple(slice(max(pi + o, 0), max(pi + o + b, 0)) for pi, o, b in zip(p, off, size))
            values = x[region][valid[region]]
            if values.size == 0:
                continue
            mean = values.mean()
            var = np.mean((values - mean) ** 2)
            if var < best_var * (1 - TIE_RTOL):
                best_var = var
                best_value = mean if stat == "mean" else np.median(values)
        out[p] = best_value
    return out
