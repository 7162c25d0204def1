"""Trace header fields of every trace at once, from a memory map of the file.

One ``numpy.memmap`` covers the trace records; the needed header fields are read as
big-endian (or little-endian) integers through a structured view, block by block, so each
page of the file is touched once and no per-trace call is made. This is what makes header
scanning of a multi-GB file take seconds instead of minutes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from facies.engine.errors import FaciesError
from facies.engine.segy.layout import TRACE_HEADER_SIZE, SegyLayout

#: Traces per block: 64 Ki headers is 15 MiB of header bytes, a bounded amount of memory.
BLOCK_TRACES = 1 << 16


def check_byte(name: str, byte: int, size: int = 4) -> int:
    """Validate a 1-based trace header byte position of a ``size``-byte field."""
    byte = int(byte)
    if not 1 <= byte <= TRACE_HEADER_SIZE - size + 1:
        raise FaciesError(f"{name} byte {byte} is outside the 240-byte trace header "
                          f"(1..{TRACE_HEADER_SIZE - size + 1})")
    return byte


def read_header_fields(layout: SegyLayout, fields: Mapping[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Read integer header fields of every trace.

    Parameters
    ----------
    layout : SegyLayout
    fields : mapping of name -> (1-based byte, size in bytes: 2 or 4)

    Returns
    -------
    dict of name -> ndarray of int64, shape (n_traces,)
    """
    record = np.dtype({
        "names": list(fields),
        "formats": [f"{layout.endian}i{size}" for _, size in fields.values()],
        "offsets": [byte - 1 for byte, _ in fields.values()],
        "itemsize": layout.record_size,
    })
    traces = np.memmap(layout.path, dtype=record, mode="r", offset=layout.data_offset, shape=(layout.n_traces,))
    out = {name: np.empty(layout.n_traces, dtype=np.int64) for name in fields}
    for start in range(0, layout.n_traces, BLOCK_TRACES):
        block = np.array(traces[start:start + BLOCK_TRACES])  # one pass over these pages: all fields at once
        for name in fields:
            out[name][start:start + block.size] = block[name]
    del traces
    return out


def apply_scalar(values: ArrayLike, scalar: ArrayLike) -> np.ndarray:
    """Apply a SEG-Y scalar (bytes 69/71/215): positive multiplies, negative divides, 0 means 1."""
    scalar = np.asarray(scalar, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    factor = np.where(scalar == 0, 1.0, np.abs(scalar))
    # Divide rather than multiply by 1/|s|: 6201972 / 10 is the nearest double to 620197.2, * 0.1 may not be.
    return np.where(scalar < 0, values / factor, values * factor)
