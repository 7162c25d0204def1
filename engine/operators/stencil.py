"""Box statistics over a (2r+1)^3 window that ignore NaNs, as brick operators: local mean and local variance.

The numerics live in :mod:`facies.kernels.box_stats` (fixed-order sums accumulated in float64,
so any brick split gives a result bit-identical to the whole volume); these wrappers declare
their inputs, outputs, halo and boundary for the brick engine. NaN voxels (dead traces, and the
outside of the survey under the "nan" boundary) are left out of each window; a window without
any valid voxel gives NaN.
"""

from __future__ import annotations

from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.kernels.box_stats import box_mean, box_variance
from facies.kernels.kuwahara.windows import normalise_radius


class _BoxOperator(Operator):
    def __init__(self, input: str, output: str, *, radius=1, boundary: str = "nan"):
        try:
            self.radius = normalise_radius(radius)
        except ValueError as exc:
            raise FaciesError(str(exc)) from None
        self.inputs = (input,)
        self.outputs = (Output(output, "float32"),)
        self.halo = self.radius
        self.boundary = boundary  # checked with the rest of the declarations by bricks.operator.check_operator

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
        return {self.outputs[0].name: box_mean(inputs[self.inputs[0]], self.radius).astype(xp.float32)}


class LocalVariance(_BoxOperator):
    """Population variance of the valid voxels in a box (two passes on shifted data: see
    :func:`facies.kernels.box_stats.box_variance`)."""

    scratch_bytes_per_voxel = 8 * 6

    def compute(self, inputs, xp):
        return {self.outputs[0].name: box_variance(inputs[self.inputs[0]], self.radius).astype(xp.float32)}
