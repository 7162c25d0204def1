"""Windowed amplitude attributes: RMS amplitude and energy over a centred window of traces and samples.

``energy`` is the *mean* of the squared amplitudes in the window (not their sum, so it does not
grow with the window and a window clipped at the survey's edge stays comparable), and
``rms_amplitude`` its square root. The window is ``window = (inline, crossline, samples)``
voxels, each odd, centred on the voxel; the default ``(1, 1, 9)`` is 9 samples of one trace.
NaN voxels (dead traces, gaps) and voxels outside the survey are left out of the mean (the
window is clipped there); a window without any valid voxel, and every voxel whose own amplitude
is NaN, gives NaN.

The mean is :func:`facies.kernels.box_stats.box_mean`'s: fixed-order float64 sums of shifted slices
of the squares (NaN as 0) divided by the count of valid voxels, so any brick split equals the whole
volume bit for bit, on NumPy or CuPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.attributes.trace_axis import check_odd
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.kernels.array_module import quiet
from facies.kernels.box_stats import box_mean

FAMILY = "windowed"
STATISTICS = ("rms", "energy")
REFERENCE = ("Chopra and Marfurt (2007), Seismic Attributes for Prospect Identification and Reservoir "
             "Characterization, SEG Geophysical Developments 11")


class WindowedAmplitude(Operator):
    """RMS amplitude or energy (mean square) of ``source`` over a centred window.

    Parameters
    ----------
    source, output : str
        Amplitude read and attribute produced (float32).
    window : tuple of 3 int
        Odd window lengths along inline, crossline (traces) and samples.
    statistic : {"rms", "energy"}
    """

    boundary = "nan"  # outside the survey is left out of the mean: the window is clipped there
    scratch_bytes_per_voxel = 48  # float64 squares, values and mask, and their two sums

    def __init__(self, source: str, output: str, *, window: tuple[int, int, int], statistic: str):
        if statistic not in STATISTICS:
            raise FaciesError(f"statistic {statistic!r} is not one of {', '.join(STATISTICS)}")
        lengths = tuple(int(w) for w in window)
        if len(lengths) != 3 or any(w < 1 or w % 2 == 0 for w in lengths):
            raise FaciesError(f"window {window!r} must be 3 odd lengths >= 1 (inline, crossline, samples)")
        self.window = (lengths[0], lengths[1], lengths[2])
        self.statistic = statistic
        self.inputs = (source,)
        self.outputs = (Output(output, "float32"),)
        self.halo = (self.window[0] // 2, self.window[1] // 2, self.window[2] // 2)

    def parameters(self) -> dict:
        return {"source": self.inputs[0], "output": self.outputs[0].name, "window": list(self.window),
                "statistic": self.statistic}

    def compute(self, inputs, xp):
        x = inputs[self.inputs[0]].astype(xp.float64)
        mean_square = box_mean(x * x, self.halo)  # NaN voxels are left out of their windows
        a, b, c = self.halo
        centre = x[a:x.shape[0] - a, b:x.shape[1] - b, c:x.shape[2] - c]
        with quiet(xp):
            value = xp.sqrt(mean_square) if self.statistic == "rms" else mean_square
        return {self.outputs[0].name: xp.where(xp.isnan(centre), xp.nan, value).astype(xp.float32)}


_WINDOW = Parameter("window", (1, 1, 9), "traces,traces,samples",
                    "odd window lengths along inline, crossline and time, centred on the voxel")


def _check(attribute: str):
    def check(params: Mapping[str, Any], sampling: SurveySampling) -> None:
        window = params["window"]
        if not isinstance(window, tuple) or len(window) != 3:
            raise FaciesError(f"{attribute}.window = {window!r} must be 3 odd lengths (inline, crossline, samples)")
        for value, unit in zip(window, ("traces", "traces", "samples")):
            check_odd(value, f"{attribute}.window", unit)
    return check


def _build(statistic: str):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        return [WindowedAmplitude(source, output, window=params["window"], statistic=statistic)]
    return build


SPECS: tuple[AttributeSpec, ...] = (
    AttributeSpec("rms_amplitude", FAMILY,
                  "square root of the mean of the squared amplitudes over a centred window (NaNs left out)",
                  REFERENCE, (_WINDOW,), _build("rms"), _check("rms_amplitude"), units="amplitude"),
    AttributeSpec("energy", FAMILY, "mean of the squared amplitudes over a centred window (NaNs left out)",
                  REFERENCE, (_WINDOW,), _build("energy"), _check("energy"), units="amplitude^2"),
)
