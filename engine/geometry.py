"""Survey geometry: the inline/crossline/sample axes and the trace headers kept per bin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facies.engine.errors import FaciesError

SAMPLE_AXES = {"time": "ms", "depth": "m"}


@dataclass(frozen=True, eq=False)
class Geometry:
    """Regular 3D post-stack grid.

    Parameters
    ----------
    inlines, crosslines : ndarray of int32
        Line numbers along the first two axes, strictly increasing (steps allowed).
    samples : ndarray of float32
        Sample axis values (ms for time, metres or feet for depth), strictly increasing.
    sample_axis : {"time", "depth"}
        Name of the third dimension, as MDIO names it.
    sample_unit : str
        Unit of ``samples`` ("ms", "m" or "ft").
    cdp_x, cdp_y : ndarray of float64, shape (n_il, n_xl)
        Bin-centre coordinates, scalars from byte 71 already applied. NaN where no trace.
    trace_mask : ndarray of bool, shape (n_il, n_xl)
        True where a live trace exists.
    """

    inlines: np.ndarray
    crosslines: np.ndarray
    samples: np.ndarray
    sample_axis: str = "time"
    sample_unit: str = "ms"
    cdp_x: np.ndarray | None = None
    cdp_y: np.ndarray | None = None
    trace_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "inlines", np.asarray(self.inlines, dtype=np.int32))
        set_(self, "crosslines", np.asarray(self.crosslines, dtype=np.int32))
        set_(self, "samples", np.asarray(self.samples, dtype=np.float32))
        for name, values in (("inline", self.inlines), ("crossline", self.crosslines),
                             (self.sample_axis, self.samples)):
            if values.ndim != 1 or values.size == 0:
                raise FaciesError(f"the {name} axis is empty; a 3D survey needs at least one value on every axis")
            if values.size > 1 and np.any(np.diff(values) <= 0):
                raise FaciesError(f"the {name} axis is not strictly increasing; "
                                  "sort the traces or check the header bytes")
        if self.sample_axis not in SAMPLE_AXES:
            raise FaciesError(f"sample axis must be 'time' or 'depth', not {self.sample_axis!r}")
        lateral = (self.inlines.size, self.crosslines.size)
        if self.trace_mask is None:
            set_(self, "trace_mask", np.ones(lateral, dtype=bool))
        for name in ("cdp_x", "cdp_y"):
            if getattr(self, name) is None:
                set_(self, name, np.full(lateral, np.nan))
        set_(self, "cdp_x", np.asarray(self.cdp_x, dtype=np.float64))
        set_(self, "cdp_y", np.asarray(self.cdp_y, dtype=np.float64))
        set_(self, "trace_mask", np.asarray(self.trace_mask, dtype=bool))
        for name in ("cdp_x", "cdp_y", "trace_mask"):
            if getattr(self, name).shape != lateral:
                raise FaciesError(f"{name} has shape {getattr(self, name).shape}, expected {lateral}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_inline, n_crossline, n_sample)."""
        return (self.inlines.size, self.crosslines.size, self.samples.size)

    @property
    def dims(self) -> tuple[str, str, str]:
        """Dimension names of every 3D array: ``("inline", "crossline", "time"|"depth")``."""
        return ("inline", "crossline", self.sample_axis)

    @property
    def sample_interval(self) -> float:
        """Sample interval in ``sample_unit`` (0 for a single-sample survey)."""
        return float(self.samples[1] - self.samples[0]) if self.samples.size > 1 else 0.0

    @staticmethod
    def line_step(values: np.ndarray) -> int:
        """The step between consecutive line numbers (1 for a single line)."""
        return int(np.diff(values).min()) if values.size > 1 else 1

    def inline_index(self, inline: float) -> int:
        """Index of an inline number; a clear error if the survey has no such line."""
        return int(self.indices("inline", [inline])[0])

    def crossline_index(self, crossline: float) -> int:
        """Index of a crossline number; a clear error if the survey has no such line."""
        return int(self.indices("crossline", [crossline])[0])

    def sample_index(self, value: float) -> int:
        """Index of a time or depth value; a clear error if it falls between samples."""
        return int(self.indices("sample", [value])[0])

    def indices(self, axis: str, values) -> np.ndarray:
        """Indices of many line numbers or sample values on one axis (vectorised ``*_index``).

        Parameters
        ----------
        axis : {"inline", "crossline", "sample"}
            The axis the values lie on.
        values : array-like
            Line numbers, or time/depth values.

        Returns
        -------
        ndarray of int64

        Raises
        ------
        FaciesError
            Naming the first value that is not on the grid (NaN included).
        """
        grid, name, tolerance = {
            "inline": (self.inlines, "inline", 0.0),
            "crossline": (self.crosslines, "crossline", 0.0),
            "sample": (self.samples, self.sample_axis, 1e-3 * max(self.sample_interval, 1e-9)),
        }[axis]
        values = np.asarray(values, dtype=np.float64)
        positions = grid.astype(np.float64)
        # First grid value not below value - tolerance; past the end, the last one (then too far away).
        found = np.minimum(np.searchsorted(positions, values - tolerance), grid.size - 1)
        off = ~(np.abs(positions[found] - values) <= tolerance)  # written so that NaN is off the grid
        if off.any():
            value = values[np.argmax(off)]
            raise FaciesError(f"{name} {exact(value)} is not in the survey ({_describe_axis(grid)}); "
                              "pick a value on the grid")
        return found.astype(np.int64)

    def differences(self, other: Geometry) -> list[str]:
        """Human-readable differences with another geometry (empty if they match)."""
        out = []
        for name in ("inlines", "crosslines", "samples"):
            a, b = getattr(self, name), getattr(other, name)
            if a.shape != b.shape or not np.allclose(a, b):
                out.append(f"{name}: {_describe_axis(a)} vs {_describe_axis(b)}")
        if self.sample_axis != other.sample_axis:
            out.append(f"sample axis: {self.sample_axis} vs {other.sample_axis}")
        assert self.trace_mask is not None and other.trace_mask is not None  # filled by __post_init__
        if not out and not np.array_equal(self.trace_mask, other.trace_mask):
            n = int(np.count_nonzero(self.trace_mask != other.trace_mask))
            out.append(f"trace_mask: {n} bins differ in whether a live trace exists")
        return out


def _describe_axis(values: np.ndarray) -> str:
    if values.size == 1:
        return f"[{values[0]:g}]"
    return f"{values.size} values {values[0]:g}..{values[-1]:g} step {values[1] - values[0]:g}"



def exact(value: float) -> str:
    """A number for messages, all its digits kept (``1e+30``, ``1000001``, ``1220.5``; ``:g`` would round)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
