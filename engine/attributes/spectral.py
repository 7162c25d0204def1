"""Spectral decomposition: Gabor magnitudes at chosen frequencies, and the local spectrum's peak and bandwidth.

The local spectrum is the short-time Fourier transform with a Gaussian window of ``sigma``
samples (standard deviation), untruncated, computed by FFT over whole traces
(``Operator.whole_traces``, so any brick gives the whole-volume bits); samples beyond a trace's
ends and NaN or infinite samples count as 0 (and give NaN). Magnitudes are normalised so that a
cosine of amplitude ``A`` at ``f`` Hz has magnitude ``A`` at ``f``. The numerics are :mod:`facies.kernels.spectral`'s.

- ``spec_10hz`` ... ``spec_40hz``: the magnitude at 10, 20, 30 and 40 Hz (one array each).
- ``peak_frequency`` and ``spectral_bandwidth``: from the power spectrum sampled from
  ``min_frequency`` to ``max_frequency`` (cut to Nyquist, so the defaults suit 2-8 ms data) every
  ``frequency_step`` Hz; they share one operator
  (outputs ``_<source>-peak-<grid>`` and ``_<source>-bandwidth-<grid>``), run once for both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.attributes.trace_axis import (check_frequency, check_within_trace, hertz_label, nyquist_hz,
                                                 sample_seconds)
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.engine.operators.copy import Copy
from facies.kernels import spectral as kernels

FAMILY = "spectral"
#: The frequencies with an attribute of their own (``spec_<f>hz``).
FREQUENCIES = (10.0, 20.0, 30.0, 40.0)
#: The widest ``sigma`` accepted when the trace length is unknown (samples; otherwise the trace length).
MAX_SIGMA = 1000.0
PARTYKA = ("Partyka, Gridley and Lopez (1999), Interpretational applications of spectral decomposition in "
           "reservoir characterization, The Leading Edge 18(3), 353-360")


def _scratch(sigma: float) -> int:
    """Scratch bytes per voxel of a brick: the padded spectrum, its product and inverse (complex64, the
    trace padded by 6 sigma, counted for a 256-sample trace at the least), and the float32 accumulators."""
    padding = 1.0 + 6.0 * sigma / 256.0
    return int(math.ceil(3 * 8 * padding)) + 40


class SpectralMagnitude(Operator):
    """Gabor magnitude of every trace of ``source`` at ``frequency`` Hz (:func:`facies.kernels.spectral.magnitudes`).

    Parameters
    ----------
    source, output : str
    frequency : float
        Hz.
    sigma : float
        Gaussian window's standard deviation in samples.
    sample_interval : float
        Seconds per sample.
    """

    whole_traces = True
    boundary = "nan"

    def __init__(self, source: str, output: str, *, frequency: float, sigma: float, sample_interval: float):
        self.inputs = (source,)
        self.outputs = (Output(output, "float32"),)
        self.halo = (0, 0, 0)
        self.frequency, self.sigma, self.sample_interval = float(frequency), float(sigma), float(sample_interval)
        self.scratch_bytes_per_voxel = _scratch(self.sigma)

    def parameters(self) -> dict:
        return {"source": self.inputs[0], "output": self.outputs[0].name, "frequency_hz": self.frequency,
                "sigma": self.sigma, "sample_interval_s": self.sample_interval}

    def compute(self, inputs, xp):
        (magnitude,) = kernels.magnitudes(inputs[self.inputs[0]], [self.frequency * self.sample_interval],
                                          sigma=self.sigma)
        return {self.outputs[0].name: magnitude}


def grid_label(low: float, high: float, step: float, sigma: float) -> str:
    """The part of the shared outputs' names that says which spectrum they come from."""
    return f"{hertz_label(low)}-{hertz_label(high)}-{hertz_label(step)}hz-s{hertz_label(sigma)}"


class SpectralPeak(Operator):
    """Peak frequency and bandwidth (Hz) of the local power spectrum on a grid of frequencies.

    Outputs ``_<source>-peak-<grid>`` and ``_<source>-bandwidth-<grid>`` (:func:`grid_label`); see
    :func:`facies.kernels.spectral.peak_and_bandwidth`.
    """

    whole_traces = True
    boundary = "nan"

    def __init__(self, source: str, *, low: float, high: float, step: float, sigma: float, sample_interval: float):
        self.inputs = (source,)
        label = grid_label(low, high, step, sigma)
        self.outputs = (Output(f"_{source}-peak-{label}", "float32"), Output(f"_{source}-bandwidth-{label}", "float32"))
        self.halo = (0, 0, 0)
        self.low, self.high, self.step = float(low), float(high), float(step)
        self.sigma, self.sample_interval = float(sigma), float(sample_interval)
        self.scratch_bytes_per_voxel = _scratch(self.sigma) + 8

    def parameters(self) -> dict:
        return {"source": self.inputs[0], "min_frequency_hz": self.low, "max_frequency_hz": self.high,
                "frequency_step_hz": self.step, "sigma": self.sigma, "sample_interval_s": self.sample_interval}

    def compute(self, inputs, xp):
        dt = self.sample_interval
        peak, bandwidth = kernels.peak_and_bandwidth(inputs[self.inputs[0]], low=self.low * dt, high=self.high * dt,
                                                     step=self.step * dt, sigma=self.sigma)
        hertz = peak.dtype.type(1.0 / dt)
        return {self.outputs[0].name: peak * hertz, self.outputs[1].name: bandwidth * hertz}


# --- specs -------------------------------------------------------------------------------------

_SIGMA = Parameter("sigma", 10.0, "samples",
                   "standard deviation of the Gaussian time window (frequency resolution 1/(2 pi sigma dt))")
_GRID = (Parameter("min_frequency", 5.0, "Hz", "lowest frequency of the local spectrum"),
         Parameter("max_frequency", 80.0, "Hz", "highest frequency of the local spectrum (cut to Nyquist)"),
         Parameter("frequency_step", 2.0, "Hz", "spacing of the local spectrum's frequencies"))


def _check_sigma(attribute: str, params: Mapping[str, Any], sampling: SurveySampling) -> None:
    sigma = params["sigma"]
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma >= 1):
        raise FaciesError(f"{attribute}.sigma = {sigma!r} must be at least 1 sample")
    # The trace is padded by 6 sigma for the FFT: an unbounded sigma would exhaust memory.
    check_within_trace(sigma, f"{attribute}.sigma", sampling, unknown_limit=MAX_SIGMA)


def _magnitude_spec(frequency: float) -> AttributeSpec:
    name = f"spec_{hertz_label(frequency)}hz"

    def check(params: Mapping[str, Any], sampling: SurveySampling) -> None:
        _check_sigma(name, params, sampling)
        nyquist = nyquist_hz(sampling, name)
        if frequency > nyquist:
            raise FaciesError(f"{name} is above the survey's Nyquist frequency, {nyquist:g} Hz: choose another "
                              "attribute")

    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        return [SpectralMagnitude(source, output, frequency=frequency, sigma=params["sigma"],
                                  sample_interval=sample_seconds(sampling, name))]

    return AttributeSpec(name, FAMILY, f"magnitude of the Gaussian-window short-time Fourier transform at "
                         f"{frequency:g} Hz (a cosine of amplitude A at {frequency:g} Hz gives A)", PARTYKA,
                         (_SIGMA,), build, check, units="amplitude")


def _check_grid(attribute: str):
    def check(params: Mapping[str, Any], sampling: SurveySampling) -> None:
        _check_sigma(attribute, params, sampling)
        nyquist = nyquist_hz(sampling, attribute)
        low, high, step = params["min_frequency"], params["max_frequency"], params["frequency_step"]
        check_frequency(low, f"{attribute}.min_frequency", nyquist)
        if not (isinstance(high, int | float) and math.isfinite(high) and high > low):
            raise FaciesError(f"{attribute}.max_frequency = {high!r} Hz must be above min_frequency, {low:g} Hz")
        high = min(high, nyquist)
        if not (isinstance(step, int | float) and math.isfinite(step) and step > 0):
            raise FaciesError(f"{attribute}.frequency_step = {step!r} Hz must be above 0")
        grid = f"{attribute}: min_frequency {low:g} Hz to max_frequency {high:g} Hz by frequency_step {step:g} Hz"
        if (high - low) / step < 2 - 1e-6:
            raise FaciesError(f"{grid} gives fewer than 3 frequencies; widen the range or shorten the step")
        count = kernels.grid_count(low, high, step)
        if count > kernels.MAX_FREQUENCIES:  # one inverse FFT each
            raise FaciesError(f"{grid} gives {count} frequencies, more than {kernels.MAX_FREQUENCIES}; lengthen the "
                              "step or narrow the range")
    return check


def _build_peak(which: int, attribute: str):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        op = SpectralPeak(source, low=params["min_frequency"],
                          high=min(params["max_frequency"], nyquist_hz(sampling, attribute)),
                          step=params["frequency_step"], sigma=params["sigma"],
                          sample_interval=sample_seconds(sampling, attribute))
        return [op, Copy(op.outputs[which].name, output)]  # a view, not a copy: the shared array is written
    return build


SPECS: tuple[AttributeSpec, ...] = tuple(_magnitude_spec(f) for f in FREQUENCIES) + (
    AttributeSpec("peak_frequency", FAMILY,
                  "frequency of the largest power of the Gaussian-window local spectrum (log-parabolic refinement "
                  "between grid frequencies)", PARTYKA, (_SIGMA, *_GRID), _build_peak(0, "peak_frequency"),
                  _check_grid("peak_frequency"), units="Hz"),
    AttributeSpec("spectral_bandwidth", FAMILY,
                  "power-weighted standard deviation of frequency in the Gaussian-window local spectrum",
                  PARTYKA, (_SIGMA, *_GRID), _build_peak(1, "spectral_bandwidth"),
                  _check_grid("spectral_bandwidth"), units="Hz"),
)
