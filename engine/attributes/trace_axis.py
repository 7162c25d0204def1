"""The time axis of the trace attributes: Hz from the survey's sampling, and the checks of their parameters.

Shared by the complex-trace, windowed and spectral families: parameters are given in samples,
traces and Hz, and every bad value is a one-line :class:`~facies.engine.errors.FaciesError` that
names the attribute's parameter (``attribute.parameter``, as ``--param`` takes it).
"""

from __future__ import annotations

import math

from facies.engine.attributes.spec import SurveySampling
from facies.engine.errors import FaciesError


def sample_seconds(sampling: SurveySampling, attribute: str) -> float:
    """The sample interval in seconds, for an attribute measured in Hz.

    Raises
    ------
    FaciesError
        The survey is sampled in depth (m, ft), or its interval is not positive.
    """
    if sampling.sample_unit != "ms":
        raise FaciesError(f"{attribute} is a frequency in Hz and needs a time axis; this survey is sampled in "
                          f"{sampling.sample_unit}: choose another attribute")
    if not (math.isfinite(sampling.sample_interval) and sampling.sample_interval > 0):
        raise FaciesError(f"{attribute} needs the survey's sample interval, which is {sampling.sample_interval}; "
                          "re-ingest the survey with the right interval")
    return sampling.sample_interval * 1e-3


def nyquist_hz(sampling: SurveySampling, attribute: str) -> float:
    """Half the sampling frequency in Hz (:func:`sample_seconds` raises for a depth axis)."""
    return 0.5 / sample_seconds(sampling, attribute)


def check_odd(value, where: str, unit: str) -> None:
    """Raise unless ``value`` is an odd integer >= 1 (a centred window's length)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise FaciesError(f"{where} = {value!r} must be an odd number of {unit} >= 1 (a window centred on the voxel)")


def check_within_trace(value, where: str, sampling: SurveySampling, *, unknown_limit: float) -> None:
    """Raise if a length in samples exceeds the trace, or ``unknown_limit`` when the trace length is unknown.

    The bound keeps an absurd value from hanging a run or exhausting memory: the transforms pad
    and loop in proportion to these lengths.
    """
    if sampling.samples is not None:
        if value > sampling.samples:
            raise FaciesError(f"{where} = {value!r} must be at most the trace length, {sampling.samples} samples")
    elif value > unknown_limit:
        raise FaciesError(f"{where} = {value!r} must be at most {unknown_limit:g} samples")


def check_frequency(value, where: str, nyquist: float) -> None:
    """Raise unless ``value`` is a frequency in (0, Nyquist] Hz."""
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= nyquist):
        raise FaciesError(f"{where} = {value!r} Hz must be above 0 and at most the Nyquist frequency, "
                          f"{nyquist:g} Hz")


def hertz_label(value: float) -> str:
    """A frequency for an array name: ``20.0`` -> ``"20"``, ``12.5`` -> ``"12p5"`` (names take no '.')."""
    return f"{value:g}".replace(".", "p").replace("-", "m")
