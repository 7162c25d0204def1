"""Binning traces onto the inline x crossline grid.

The grid of each line axis runs from the smallest to the largest line number with a step
equal to the greatest common divisor of the differences between the line numbers present,
so a survey numbered every 2nd or 4th line gets no empty rows. Every trace must land in
its own bin: several traces in one bin mean pre-stack gathers or duplicate traces. A file
with a single inline (or crossline) number is a slab of a 3D survey: a 1 x n grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np

from facies.engine.errors import FaciesError

#: A grid this many times larger than the trace count means the header bytes are wrong.
MAX_EMPTY_RATIO = 64


@dataclass(frozen=True)
class TraceGrid:
    """Where every trace of a file goes on the lateral grid.

    Attributes
    ----------
    inlines, crosslines : ndarray of int64
        Line numbers of the grid axes.
    trace_of_bin : ndarray of int64, shape (n_il, n_xl)
        Index of the trace in the file for each bin, -1 where the file has none.
    """

    inlines: np.ndarray
    crosslines: np.ndarray
    trace_of_bin: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """Bins that have a trace in the file."""
        return self.trace_of_bin >= 0


def line_axis(numbers: np.ndarray) -> np.ndarray:
    """Grid of line numbers: min..max with step = gcd of the differences of the distinct numbers."""
    distinct = np.unique(numbers)
    if distinct.size == 1:
        return distinct
    step = reduce(gcd, (int(d) for d in np.unique(np.diff(distinct))))
    return np.arange(distinct[0], distinct[-1] + 1, step, dtype=np.int64)


def _step(axis: np.ndarray) -> int:
    """Step of a line axis from :func:`line_axis` (1 for a single line)."""
    return int(axis[1] - axis[0]) if axis.size > 1 else 1


def bin_traces(inline: np.ndarray, crossline: np.ndarray, *, iline_byte: int, xline_byte: int,
               source: str = "the file") -> TraceGrid:
    """Place every trace on the grid; clear errors for files that are not a 3D post-stack cube.

    Parameters
    ----------
    inline, crossline : ndarray of int, shape (n_traces,)
        Line numbers read from the trace headers.
    iline_byte, xline_byte : int
        Header bytes they came from (quoted in error messages).
    source : str
        File name for error messages.
    """
    n = inline.size
    hint = "pass the right --iline-byte/--xline-byte (or --preset petrel)"
    for name, values, byte in (("inline", inline, iline_byte), ("crossline", crossline, xline_byte)):
        if not np.any(values):
            raise FaciesError(f"{source}: every trace has {name} number 0 at byte {byte}, so the traces cannot be "
                              f"binned; {hint}")
    # One inline (or crossline) number is a slab of a 3D survey, a 1 x n cube, as segyio reads it.
    inlines, crosslines = line_axis(inline), line_axis(crossline)  # one sort of the line numbers each
    n_bins = inlines.size * crosslines.size
    if n_bins > MAX_EMPTY_RATIO * n and n_bins > 1_000_000:
        raise FaciesError(f"{source}: the line numbers at bytes {iline_byte}/{xline_byte} span a "
                          f"{inlines.size} x {crosslines.size} grid for only {n} traces; they are probably not "
                          f"inline/crossline numbers; {hint}")
    i = (inline - inlines[0]) // _step(inlines)
    j = (crossline - crosslines[0]) // _step(crosslines)
    flat = i * crosslines.size + j
    counts = np.bincount(flat, minlength=n_bins)
    if counts.max() > 1:
        worst = int(np.argmax(counts))
        n_dup = int(np.count_nonzero(counts > 1))
        raise FaciesError(
            f"{source}: {n_dup} bins hold several traces (inline {inlines[worst // crosslines.size]} crossline "
            f"{crosslines[worst % crosslines.size]} has {counts[worst]}): duplicate traces or pre-stack gathers; "
            f"facies ingests one post-stack trace per bin (stack the gathers, remove duplicates, or {hint})")
    trace_of_bin = np.full(n_bins, -1, dtype=np.int64)
    trace_of_bin[flat] = np.arange(n, dtype=np.int64)
    return TraceGrid(inlines=inlines, crosslines=crosslines,
                     trace_of_bin=trace_of_bin.reshape(inlines.size, crosslines.size))
