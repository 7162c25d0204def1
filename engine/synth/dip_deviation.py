"""Dip deviation: how far the local reflector dip strays from the regional dip around it (a brick operator).

The synthetic survey's chaos discriminator built on the structure family's dips
(:class:`~facies.engine.attributes.structure.StructureTensorOperator`): the inline and crossline
dips are clipped, the regional dip is their mean over a box of traces and samples, and the
deviation ``hypot(inline - regional inline, crossline - regional crossline)`` is averaged over a
small box and given in ms per trace. Conformal beds, however steep, deviate little from their
neighbours; chaotic reflections and the rotated blocks of a mass-transport deposit deviate much.
(The structure family's chaos measures whether the gradients share one direction, which a rotated
block of parallel beds does: it cannot tell the blocks from the beds around them.)

Every box is a fixed-order sum of shifted slices (:func:`facies.kernels.box_stats.sliding_sums`),
so a voxel's value is the same operations wherever its brick starts; outside the survey the dips
are mirrored (boundary "reflect", as the structure operator's own).
"""

from __future__ import annotations

import math

from facies.engine.bricks.operator import Operator, Output
from facies.kernels.box_stats import sliding_sums


class DipDeviation(Operator):
    """Deviation of the local dip from the regional dip (see the module docstring).

    Parameters
    ----------
    inline_dip, crossline_dip : str
        The dip arrays read (samples per trace).
    output : str
        Name of the float32 output (ms per trace).
    clip : float
        Dips are clipped to ``[-clip, clip]`` samples per trace first (near-vertical estimates in
        noise would otherwise dominate the means).
    regional : tuple of 3 int
        Half-widths (inline, crossline, samples) of the box of the regional dip.
    smoothing : tuple of 3 int
        Half-widths of the box the deviation is averaged over.
    sample_interval_ms : float
        Turns samples per trace into ms per trace.
    """

    boundary = "reflect"
    scratch_bytes_per_voxel = 32  # two clipped dips, their regional means, the deviation (float32)

    def __init__(self, inline_dip: str, crossline_dip: str, output: str, *, clip: float,
                 regional: tuple[int, int, int], smoothing: tuple[int, int, int], sample_interval_ms: float):
        self.inputs = (inline_dip, crossline_dip)
        self.outputs = (Output(output, "float32"),)
        self.clip = float(clip)
        self.regional = tuple(int(r) for r in regional)
        self.smoothing = tuple(int(r) for r in smoothing)
        self.sample_interval_ms = float(sample_interval_ms)
        self.halo = tuple(a + b for a, b in zip(self.regional, self.smoothing))  # type: ignore[assignment]

    def parameters(self) -> dict:
        return {"inputs": list(self.inputs), "output": self.outputs[0].name, "clip": self.clip,
                "regional": list(self.regional), "smoothing": list(self.smoothing),
                "sample_interval_ms": self.sample_interval_ms}

    def compute(self, inputs, xp):
        one = xp.float32
        deviation = None
        for name in self.inputs:
            dip = xp.clip(inputs[name], -self.clip, self.clip).astype(one, copy=False)
            regional = _box_mean(dip, self.regional)
            r = self.regional
            centre = dip[r[0]:dip.shape[0] - r[0], r[1]:dip.shape[1] - r[1], r[2]:dip.shape[2] - r[2]]
            step = centre - regional
            deviation = step * step if deviation is None else deviation + step * step
        smoothed = _box_mean(xp.sqrt(deviation), self.smoothing)
        return {self.outputs[0].name: (smoothed * one(self.sample_interval_ms)).astype(one, copy=False)}


def _box_mean(values, radius):
    """Mean over boxes of half-widths ``radius`` ("valid": the shape shrinks by ``2 * radius``)."""
    size = tuple(2 * r + 1 for r in radius)
    return sliding_sums(values, size) / values.dtype.type(math.prod(size))
