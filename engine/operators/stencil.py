"""Box statistics over a (2r+1)^3 window that ignore NaNs: local mean and local variance.

Both are written for the brick engine's exactness rule: every output voxel is computed by the
same sequence of floating-point operations wherever it sits, so any brick split of the survey
gives a result bit-identical to the whole volume. Hence fixed-order sums of shifted slices
(never cumulative sums, whose rounding depends on where a brick starts), accumulated in float64.
NaN voxels (dead traces, and the outside of the survey under the "nan" boundary) are left out
of each window; a window without any valid voxel gives NaN.
"""

from __future__ import annotations

from itertools import product

from facies.engine.bricks.operator import BOUNDARIES, Operator, Output
from facies.engine.errors import FaciesError


def _radius(radius) -> tuple[int, int, int]:
    r = (int(radius),) * 3 if isinstance(radius, (int, float)) else tuple(int(v) for v in radius)
    if len(r) != 3 or any(v < 0 for v in r):
        raise FaciesError(f"radius must be one non-negative integer or three (IL,XL,S), not {radius!r}")
    return r


def box_sum_valid(values, radius, xp):
    """Sum over the window of every axis in turn ("valid" output: shape minus 2 * radius).

    The terms of each axis are added in a fixed order, so a voxel's sum does not depend on
    the array it sits in.
    """
    for axis, r in enumerate(radius):
        if r == 0:
            continue
        n = values.shape[axis] - 2 * r
        window = [slice(None)] * values.ndim
        total = None
        for k in range(2 * r + 1):
            window[axis] = slice(k, k + n)
            term = values[tuple(window)]
            total = term.copy() if total is None else xp.add(total, term, out=total)
        values = total
    return values


def _split_valid(x, xp):
    """Float64 values with NaN replaced by 0, and the float64 mask of valid voxels."""
    valid = ~xp.isnan(x)
    return xp.where(valid, x, 0).astype(xp.float64), valid.astype(xp.float64)


class _BoxOperator(Operator):
    def __init__(self, input: str, output: str, *, radius=1, boundary: str = "nan"):
        if boundary not in BOUNDARIES:
            raise FaciesError(f"boundary must be one of {', '.join(BOUNDARIES)}, not {boundary!r}")
        self.radius = _radius(radius)
        self.inputs = (input,)
        self.outputs = (Output(output, "float32"),)
        self.halo = self.radius
        self.boundary = boundary

    def parameters(self) -> dict:
        return {"input": self.inputs[0], "output": self.outputs[0].name, "radius": list(self.radius)}


class LocalMean(_BoxOperator):
    """Mean of the valid voxels in a box of half-width ``radius`` around each voxel.

    Parameters
    ----------
    input, output : str
        Array read and array produced (float32).
    radius : int or tuple of 3 int
        Half-width per axis; 1 is the 3x3x3 box.
    boundary : {"nan", "reflect", "nearest"}
        Outside the survey: ignored ("nan"), mirrored, or the edge value repeated.
    """

    scratch_bytes_per_voxel = 8 * 4  # float64 values, mask, and the two running sums

    def compute(self, inputs, xp):
        values, valid = _split_valid(inputs[self.inputs[0]], xp)
        total = box_sum_valid(values, self.radius, xp)
        count = box_sum_valid(valid, self.radius, xp)
        with _quiet(xp):
            mean = xp.where(count > 0, total / count, xp.nan)
        return {self.outputs[0].name: mean.astype(xp.float32)}


class LocalVariance(_BoxOperator):
    """Population variance of the valid voxels in a box, by two passes on shifted data.

    The first pass takes the float64 local mean; the second sums squared deviations from it,
    so attributes with a large mean and a small spread (coherence near 0.95 +- 0.01) keep their
    precision. The second pass visits every one of the (2r+1)^3 offsets: fine for small radii.
    """

    scratch_bytes_per_voxel = 8 * 6

    def compute(self, inputs, xp):
        values, valid = _split_valid(inputs[self.inputs[0]], xp)
        r = self.radius
        total = box_sum_valid(values, r, xp)
        count = box_sum_valid(valid, r, xp)
        with _quiet(xp):
            mean = xp.where(count > 0, total / count, 0.0)
        out_shape = mean.shape
        squares = xp.zeros(out_shape, xp.float64)
        deviation = xp.empty(out_shape, xp.float64)
        for offset in product(*(range(2 * h + 1) for h in r)):
            window = tuple(slice(o, o + n) for o, n in zip(offset, out_shape))
            xp.subtract(values[window], mean, out=deviation)
            xp.multiply(deviation, deviation, out=deviation)
            xp.multiply(deviation, valid[window], out=deviation)  # invalid voxels add exactly 0
            xp.add(squares, deviation, out=squares)
        with _quiet(xp):
            variance = xp.where(count > 0, squares / count, xp.nan)
        return {self.outputs[0].name: variance.astype(xp.float32)}


class _quiet:
    """Silence NumPy's divide warnings for empty windows (CuPy does not warn)."""

    def __init__(self, xp):
        self._ctx = xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self):
        if self._ctx is not None:
            self._ctx.__enter__()

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
