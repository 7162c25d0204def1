"""Scan a SEG-Y file's headers into a survey geometry (no sample data is read).

Header byte presets (1-based positions of 4-byte integers):

``standard``
    SEG-Y rev 1: inline 189, crossline 193, CDP X 181, CDP Y 185.
``petrel``
    What Petrel's default SEG-Y export writes: the inline number at bytes 5 and 9 (the
    textual header says 5-8; byte 9, the field record number, holds the same value), the
    crossline at 21 (CDP ensemble number), X and Y at 73 and 77 (source X/Y). The Volve
    file in the test data was written by Petrel 2017 this way.

The coordinate scalar is byte 71 (positive multiplies, negative divides), the delay
recording time byte 109 (first sample, ms or depth unit), scaled by byte 215 when non-zero.
The sample interval is binary byte 3217, else trace byte 117 (:mod:`.layout`); when both are 0
the file does not say how far apart its samples are, and the caller must (``sample_interval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.segy.axis import decide_sample_axis
from facies.engine.segy.binning import TraceGrid, bin_traces
from facies.engine.segy.headers import apply_scalar, check_byte, read_header_fields
from facies.engine.segy.layout import TR_DELAY, TR_TIME_SCALAR, SegyLayout, read_layout

PRESETS = {
    "standard": {"iline": 189, "xline": 193, "cdpx": 181, "cdpy": 185},
    "petrel": {"iline": 9, "xline": 21, "cdpx": 73, "cdpy": 77},
}
COORDINATE_SCALAR_BYTE = 71


def header_bytes(preset: str = "standard", *, iline_byte=None, xline_byte=None, cdpx_byte=None,
                 cdpy_byte=None) -> dict[str, int]:
    """Header byte positions from a preset, with explicit bytes overriding it."""
    if preset not in PRESETS:
        raise FaciesError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    out = dict(PRESETS[preset])
    for key, value in (("iline", iline_byte), ("xline", xline_byte), ("cdpx", cdpx_byte), ("cdpy", cdpy_byte)):
        if value is not None:
            out[key] = check_byte(f"{key}", value)
    return out


@dataclass(frozen=True)
class ScannedSegy:
    """Everything the headers of one file say, binned on the grid."""

    layout: SegyLayout
    grid: TraceGrid
    geometry: Geometry
    header_bytes: dict
    coordinate_scalar: int
    delay: int
    time_scalar: int
    axis_reason: str
    #: Sample interval in the axis unit (ms, m or ft): from the headers, or the caller's.
    interval: float


def sample_interval_of(layout: SegyLayout, sample_interval: float | None = None) -> float:
    """The sample interval of a file in its axis unit: the caller's when given, else the headers'.

    Parameters
    ----------
    layout : SegyLayout
    sample_interval : float, optional
        The interval to use instead of the headers' (ms for time, m or ft for depth).

    Raises
    ------
    FaciesError
        When ``sample_interval`` is not a positive number, or is None and the headers give 0.
    """
    if sample_interval is not None:
        value = sample_interval if isinstance(sample_interval, Real) and not isinstance(sample_interval, bool) \
            else math.nan
        if not (math.isfinite(value) and value > 0):
            raise FaciesError(f"--sample-interval must be a positive number (ms for time, m or ft for depth), "
                              f"not {sample_interval!r}")
        return float(value)
    if layout.interval <= 0:
        # segyio would assume 4 ms here; a guess would make every later time or depth wrong without a word.
        raise FaciesError(f"{layout.path.name}: the sample interval is 0 in the binary header (byte 3217) and in "
                          "the trace header (byte 117), so the file does not say how far apart its samples are; "
                          "pass --sample-interval (ms for time, m or ft for depth), e.g. --sample-interval 4")
    return layout.interval / 1000.0


def scan_segy(path, bytes_: dict[str, int], sample_axis: str | None = None,
              sample_interval: float | None = None) -> ScannedSegy:
    """Read the headers of ``path`` and bin its traces.

    Parameters
    ----------
    path : path-like
    bytes_ : dict
        ``{"iline", "xline", "cdpx", "cdpy"}`` byte positions (see :func:`header_bytes`).
    sample_axis : {"time", "depth"}, optional
        Overrides the automatic decision (:mod:`facies.engine.segy.axis`).
    sample_interval : float, optional
        Overrides the headers' sample interval (ms for time, m or ft for depth); needed when
        they give 0.

    Raises
    ------
    FaciesError
        A file that is not a post-stack 3D SEG-Y, or whose headers do not define its axes.
    """
    layout = read_layout(path)
    interval = sample_interval_of(layout, sample_interval)
    name = Path(path).name
    fields = read_header_fields(layout, {
        "inline": (bytes_["iline"], 4), "crossline": (bytes_["xline"], 4),
        "cdp_x": (bytes_["cdpx"], 4), "cdp_y": (bytes_["cdpy"], 4),
        "scalar": (COORDINATE_SCALAR_BYTE, 2), "delay": (TR_DELAY, 2), "time_scalar": (TR_TIME_SCALAR, 2)})
    grid = bin_traces(fields["inline"], fields["crossline"], iline_byte=bytes_["iline"],
                      xline_byte=bytes_["xline"], source=name)
    delay = fields["delay"]
    if np.any(delay != delay[0]):
        raise FaciesError(f"{name}: traces start at different times (delay, byte 109, from {delay.min()} to "
                          f"{delay.max()}); facies needs one sample axis for the whole cube")
    time_scalar = int(fields["time_scalar"][0])
    start = float(apply_scalar(delay[:1], [time_scalar])[0])
    axis, unit, reason = decide_sample_axis(layout.text, Path(path), layout.measurement_system, sample_axis)
    samples = start + np.arange(layout.n_samples, dtype=np.float64) * interval
    present = grid.present
    cdp = {}
    for key in ("cdp_x", "cdp_y"):
        values = np.full(present.shape, np.nan)
        values[present] = apply_scalar(fields[key], fields["scalar"])[grid.trace_of_bin[present]]
        cdp[key] = values
    scalars, counts = np.unique(fields["scalar"], return_counts=True)
    geometry = Geometry(inlines=grid.inlines, crosslines=grid.crosslines, samples=samples, sample_axis=axis,
                        sample_unit=unit, cdp_x=cdp["cdp_x"], cdp_y=cdp["cdp_y"], trace_mask=present)
    return ScannedSegy(layout=layout, grid=grid, geometry=geometry, header_bytes=dict(bytes_),
                       coordinate_scalar=int(scalars[np.argmax(counts)]), delay=int(delay[0]),
                       time_scalar=time_scalar, axis_reason=reason, interval=interval)
