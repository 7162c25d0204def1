"""Box sums, and box mean and variance that ignore NaNs, over 3D arrays on NumPy or CuPy.

Every box sum is a *direct* sum in a fixed order (sample, then crossline, then inline axis; along
an axis the terms in index order), never a cumulative sum whose rounding depends on where the
array starts: so a voxel's value is the same sequence of floating-point operations wherever it
sits, and any brick split of a survey gives results bit-identical to the whole volume. The
Kuwahara filter's NumPy backend (``kernels/kuwahara/_numpy.py``) sums its boxes with
:func:`sliding_sums`; the brick engine's local mean and variance operators call
:func:`box_mean` and :func:`box_variance`.
"""

from __future__ import annotations

from itertools import product

from facies.kernels.array_module import array_module, quiet


def sliding_sums(a, size: tuple[int, int, int]):
    """Sums of ``a`` over every box of ``size`` ("valid" mode: shape ``n - B + 1`` per axis).

    An axis of size 1 is not summed; when every axis is, ``a`` itself comes back (not a copy).
    """
    xp = array_module(a)
    for axis, b in reversed(list(enumerate(size))):
        if b == 1:
            continue
        n = a.shape[axis] - (b - 1)
        take = [slice(None)] * a.ndim
        take[axis] = slice(0, n)
        first = a[tuple(take)]
        take[axis] = slice(1, 1 + n)
        acc = xp.add(first, a[tuple(take)])  # a fresh array: the first two terms in one pass
        for d in range(2, b):
            take[axis] = slice(d, d + n)
            acc += a[tuple(take)]
        a = acc
    return a


def _window(radius) -> tuple[int, int, int]:
    return tuple(2 * r + 1 for r in radius)


def split_valid(x):
    """Float64 values with NaN replaced by 0, and the float64 mask of the other voxels."""
    xp = array_module(x)
    valid = ~xp.isnan(x)
    return xp.where(valid, x, 0).astype(xp.float64), valid.astype(xp.float64)


def box_mean(x, radius: tuple[int, int, int]):
    """Float64 mean of the non-NaN voxels of ``x`` in the box of half-width ``radius`` around each voxel.

    "Valid" output: shape ``x.shape - 2 * radius``; NaN where a box holds no valid voxel.
    """
    xp = array_module(x)
    values, valid = split_valid(x)
    total = sliding_sums(values, _window(radius))
    count = sliding_sums(valid, _window(radius))
    with quiet(xp):
        return xp.where(count > 0, total / count, xp.nan)


def box_variance(x, radius: tuple[int, int, int]):
    """Float64 population variance of the non-NaN voxels in each box, by two passes on shifted data.

    The first pass takes the float64 box mean; the second sums squared deviations from it, so
    attributes with a large mean and a small spread (coherence near 0.95 +- 0.01) keep their
    precision. The second pass visits every one of the (2r+1)^3 offsets: fine for small radii.
    Shape and NaN rule as :func:`box_mean`.
    """
    xp = array_module(x)
    values, valid = split_valid(x)
    total = sliding_sums(values, _window(radius))
    count = sliding_sums(valid, _window(radius))
    with quiet(xp):
        mean = xp.where(count > 0, total / count, 0.0)
    out_shape = mean.shape
    squares = xp.zeros(out_shape, xp.float64)
    deviation = xp.empty(out_shape, xp.float64)
    for offset in product(*(range(2 * h + 1) for h in radius)):
        window = tuple(slice(o, o + n) for o, n in zip(offset, out_shape))
        xp.subtract(values[window], mean, out=deviation)
        xp.multiply(deviation, deviation, out=deviation)
        xp.multiply(deviation, valid[window], out=deviation)  # invalid voxels add exactly 0
        xp.add(squares, deviation, out=squares)
    with quiet(xp):
        return xp.where(count > 0, squares / count, xp.nan)
