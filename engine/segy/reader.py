"""Reading the trace records of a set of traces with as few system calls as possible.

Traces of one chunk column are sorted by file position and read run by run (one
``os.preadv`` per run of consecutive traces, typically one inline's worth), straight into a
NumPy buffer. ``preadv`` releases the GIL, so several columns read in parallel threads.
"""

from __future__ import annotations

import os

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.segy.layout import SegyLayout


def read_records(fd: int, layout: SegyLayout, traces: np.ndarray) -> np.ndarray:
    """Raw records (header + samples) of ``traces``, which must be sorted increasingly.

    Returns
    -------
    ndarray of uint8, shape (len(traces), layout.record_size)
    """
    out = np.empty((traces.size, layout.record_size), dtype=np.uint8)
    if traces.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(traces) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [traces.size]))
    for a, b in zip(starts.tolist(), stops.tolist()):
        offset = layout.data_offset + int(traces[a]) * layout.record_size
        want = (b - a) * layout.record_size
        got = os.preadv(fd, [out[a:b].data.cast("B")], offset)
        if got != want:
            raise FaciesError(f"{layout.path}: short read at byte {offset} ({got} of {want} bytes); "
                              "the file changed or is truncated")
    return out
