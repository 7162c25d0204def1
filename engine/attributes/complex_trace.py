"""Complex-trace attributes (Taner, Koehler and Sheriff 1979): envelope, phase, frequency, sweetness, polarity.

Each attribute is the analytic signal ``x + i h`` of the amplitude ``x`` read a different way. The
Hilbert transform ``h`` is taken by FFT over whole traces (``Operator.whole_traces``), so on any
brick it equals :func:`scipy.signal.hilbert` on the whole trace, bit for bit the same as the
whole-volume run. Shared intermediates have names made from the source and their parameters, so
the workflow runs each once however many attributes need it:

- ``_<source>-quadrature``: ``h`` (:class:`Quadrature`), for every attribute here;
- ``_<source>-frequency-s<smoothing>``: the instantaneous frequency in Hz
  (:class:`InstantaneousFrequency`), for ``instantaneous_frequency`` and ``sweetness``.

NaN and infinite samples (dead traces, gaps, corrupt values) count as 0 for the transforms and
give NaN. The numerics are
:mod:`facies.kernels.complex_trace`'s, on NumPy or CuPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.attributes.trace_axis import check_odd, check_within_trace, nyquist_hz, sample_seconds
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.engine.operators.copy import Copy
from facies.kernels import complex_trace as kernels

FAMILY = "complex-trace"
#: The longest ``smoothing`` accepted when the trace length is unknown (samples; otherwise the trace length).
MAX_SMOOTHING = 1001
TANER = "Taner, Koehler and Sheriff (1979), Complex seismic trace analysis, Geophysics 44(6), 1041-1063"


def quadrature_name(source: str) -> str:
    """Name of the shared quadrature trace of ``source``."""
    return f"_{source}-quadrature"


def frequency_name(source: str, smoothing: int) -> str:
    """Name of the shared instantaneous frequency (Hz) of ``source`` with ``smoothing``."""
    return f"_{source}-frequency-s{smoothing}"


class Quadrature(Operator):
    """The Hilbert transform of every trace of ``source`` (whole traces, FFT), NaN samples taken as 0.

    Output ``_<source>-quadrature`` (float32): the imaginary part of :func:`scipy.signal.hilbert`
    of the trace with NaN set to 0, without NaN (the attributes made from it are NaN where the
    trace is).
    """

    whole_traces = True
    boundary = "nan"
    scratch_bytes_per_voxel = 16  # the half spectrum (complex64) and its product

    def __init__(self, source: str):
        self.inputs = (source,)
        self.outputs = (Output(quadrature_name(source), "float32"),)
        self.halo = (0, 0, 0)

    def parameters(self) -> dict:
        return {"source": self.inputs[0]}

    def compute(self, inputs, xp):
        return {self.outputs[0].name: kernels.quadrature(inputs[self.inputs[0]])}


class InstantaneousFrequency(Operator):
    """Envelope-weighted instantaneous frequency in Hz (:func:`facies.kernels.complex_trace.instantaneous_frequency`).

    Parameters
    ----------
    source : str
    smoothing : int
        Odd window in samples over which numerator and denominator are summed.
    sample_interval : float
        Seconds per sample.
    """

    whole_traces = True
    boundary = "nan"
    scratch_bytes_per_voxel = 72  # spectrum, three float32 parts, four float64 sums

    def __init__(self, source: str, *, smoothing: int, sample_interval: float):
        self.inputs = (source,)
        self.outputs = (Output(frequency_name(source, smoothing), "float32"),)
        self.halo = (0, 0, 0)
        self.smoothing, self.sample_interval = int(smoothing), float(sample_interval)

    def parameters(self) -> dict:
        return {"source": self.inputs[0], "smoothing": self.smoothing, "sample_interval_s": self.sample_interval}

    def compute(self, inputs, xp):
        cycles = kernels.instantaneous_frequency(inputs[self.inputs[0]], smoothing=self.smoothing)
        return {self.outputs[0].name: cycles * cycles.dtype.type(1.0 / self.sample_interval)}


#: Point-wise attributes of the trace and its quadrature (and, for sweetness, the frequency).
_POINTWISE = {
    "envelope": lambda x, h, f, floor: kernels.envelope(x, h),
    "instantaneous_phase": lambda x, h, f, floor: kernels.instantaneous_phase(x, h),
    "cosine_of_phase": lambda x, h, f, floor: kernels.cosine_of_phase(x, h),
    "sweetness": lambda x, h, f, floor: kernels.sweetness(x, h, f, floor=floor),
}


class TraceAttribute(Operator):
    """A point-wise complex-trace attribute (``kind`` in envelope, instantaneous_phase, cosine_of_phase, sweetness).

    Parameters
    ----------
    kind : str
    source, output : str
        The amplitude read and the attribute produced (float32).
    frequency : str, optional
        The instantaneous frequency (Hz) array, for sweetness.
    floor : float, optional
        Sweetness's frequency floor in Hz.
    """

    boundary = "nan"

    def __init__(self, kind: str, source: str, output: str, *, frequency: str | None = None,
                 floor: float | None = None):
        if kind not in _POINTWISE:
            raise FaciesError(f"unknown complex-trace attribute {kind!r}; known: {', '.join(_POINTWISE)}")
        self.kind, self.floor = kind, floor
        self.inputs = (source, quadrature_name(source)) + ((frequency,) if frequency else ())
        self.outputs = (Output(output, "float32"),)
        self.halo = (0, 0, 0)

    def parameters(self) -> dict:
        return {"kind": self.kind, "inputs": list(self.inputs), "output": self.outputs[0].name,
                **({"floor_hz": self.floor} if self.floor is not None else {})}

    def compute(self, inputs, xp):
        x, h = inputs[self.inputs[0]], inputs[self.inputs[1]]
        f = inputs[self.inputs[2]] if len(self.inputs) > 2 else None
        return {self.outputs[0].name: _POINTWISE[self.kind](x, h, f, self.floor)}


class ApparentPolarity(Operator):
    """Apparent polarity over envelope lobes (:func:`facies.kernels.complex_trace.apparent_polarity`).

    Whole traces: a lobe may run across any brick boundary along time.
    """

    whole_traces = True
    boundary = "nan"
    scratch_bytes_per_voxel = 40  # envelope, lobe starts, two segment maxima and their spread

    def __init__(self, source: str, output: str):
        self.inputs = (source, quadrature_name(source))
        self.outputs = (Output(output, "float32"),)
        self.halo = (0, 0, 0)

    def parameters(self) -> dict:
        return {"inputs": list(self.inputs), "output": self.outputs[0].name}

    def compute(self, inputs, xp):
        return {self.outputs[0].name: kernels.apparent_polarity(inputs[self.inputs[0]], inputs[self.inputs[1]])}


# --- specs -------------------------------------------------------------------------------------

_SMOOTHING = Parameter("smoothing", 5, "samples",
                       "window over which the frequency's numerator and denominator are summed (odd; 1: none)")
_FLOOR = Parameter("frequency_floor", 5.0, "Hz", "sweetness divides by sqrt(max(instantaneous frequency, this))")


def _check_smoothing(attribute: str, params: Mapping[str, Any], sampling: SurveySampling) -> None:
    sample_seconds(sampling, attribute)
    check_odd(params["smoothing"], f"{attribute}.smoothing", "samples")
    check_within_trace(params["smoothing"], f"{attribute}.smoothing", sampling, unknown_limit=MAX_SMOOTHING)


def _check_sweetness(params: Mapping[str, Any], sampling: SurveySampling) -> None:
    _check_smoothing("sweetness", params, sampling)
    floor, nyquist = params["frequency_floor"], nyquist_hz(sampling, "sweetness")
    if not (isinstance(floor, int | float) and 0 < floor < nyquist):
        raise FaciesError(f"sweetness.frequency_floor = {floor!r} Hz must be above 0 and below the Nyquist "
                          f"frequency, {nyquist:g} Hz")


def _pointwise(kind: str):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        return [Quadrature(source), TraceAttribute(kind, source, output)]
    return build


def _frequency_operator(source: str, params: Mapping[str, Any], sampling: SurveySampling) -> InstantaneousFrequency:
    return InstantaneousFrequency(source, smoothing=params["smoothing"],
                                  sample_interval=sample_seconds(sampling, "instantaneous_frequency"))


def _build_frequency(source, output, params, sampling) -> list[Operator]:
    op = _frequency_operator(source, params, sampling)
    return [op, Copy(op.outputs[0].name, output)]  # a view, not a copy: the shared array is written as is


def _build_sweetness(source, output, params, sampling) -> list[Operator]:
    op = _frequency_operator(source, params, sampling)
    return [Quadrature(source), op, TraceAttribute("sweetness", source, output, frequency=op.outputs[0].name,
                                                   floor=float(params["frequency_floor"]))]


def _build_polarity(source, output, params, sampling) -> list[Operator]:
    return [Quadrature(source), ApparentPolarity(source, output)]


SPECS: tuple[AttributeSpec, ...] = (
    AttributeSpec(
        "envelope", FAMILY, "instantaneous amplitude sqrt(x^2 + h^2), h the Hilbert transform of the trace (FFT, "
        "whole trace)", TANER, (), _pointwise("envelope"), units="amplitude"),
    AttributeSpec(
        "instantaneous_phase", FAMILY, "instantaneous phase atan2(h, x) in degrees, in (-180, 180]",
        TANER, (), _pointwise("instantaneous_phase"), units="degrees"),
    AttributeSpec(
        "cosine_of_phase", FAMILY, "cosine of the instantaneous phase, x / envelope (1 where the envelope is 0)",
        TANER, (), _pointwise("cosine_of_phase"), units="1"),
    AttributeSpec(
        "instantaneous_frequency", FAMILY,
        "envelope-weighted instantaneous frequency sum(x h' - h x') / (2 pi sum(x^2 + h^2)) over `smoothing` "
        "samples, spectral derivatives", TANER,
        (_SMOOTHING,), _build_frequency, lambda p, s: _check_smoothing("instantaneous_frequency", p, s), units="Hz"),
    AttributeSpec(
        "sweetness", FAMILY, "envelope / sqrt(max(instantaneous frequency, frequency_floor))",
        "Radovich and Oliveros (1998), 3-D sequence interpretation of seismic instantaneous attributes from the "
        "Gorgon field, The Leading Edge 17(9), 1286-1293", (_SMOOTHING, _FLOOR), _build_sweetness,
        _check_sweetness, units="amplitude/sqrt(Hz)"),
    AttributeSpec(
        "apparent_polarity", FAMILY,
        "per envelope lobe (trough to trough), the sign of the trace at the envelope peak times that peak",
        TANER, (), _build_polarity, units="amplitude"),
)
