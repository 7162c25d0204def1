"""Helpers for the SEG-Y tests (no tests here): tiny self-describing SEG-Y files made with segyio.

Sample value of trace (inline i, crossline x), sample k: ``i + x / 100 + k * 1e-3`` (rounded
for integer formats), so a value says where it came from, as in segyio's small.sgy.
"""

from __future__ import annotations

import numpy as np
import segyio

_DTYPES = {1: np.float32, 2: np.int32, 3: np.int16, 5: np.float32, 8: np.int8}


def trace_values(il: int, xl: int, n_samples: int, fmt: int = 5) -> np.ndarray:
    """The self-describing samples of one trace, in the dtype segyio expects for ``fmt``."""
    values = il + xl / 100.0 + np.arange(n_samples) * 1e-3
    if fmt in (2, 3, 8):
        values = (il * 3 + xl + np.arange(n_samples)) % 100 - 50
    return values.astype(_DTYPES[fmt])


def make_segy(path, traces, *, n_samples: int = 6, interval_us: int = 4000, fmt: int = 5, delay: int = 0,
              scalar: int = -10, zero=(), extra_headers=None):
    """Write a SEG-Y with one trace per (inline, crossline) pair in ``traces`` (any order, duplicates allowed).

    Traces listed in ``zero`` get all-zero samples (dead traces). CDP X/Y are ``1000*il`` and ``10*xl``
    before the scalar. ``extra_headers`` maps header byte -> value written to every trace.
    """
    spec = segyio.spec()
    spec.ilines, spec.xlines = None, None  # unstructured: segyio writes what we give
    spec.tracecount = len(traces)
    spec.samples = np.arange(n_samples) * interval_us / 1000.0 + delay
    spec.format = fmt
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: interval_us})
        for k, (il, xl) in enumerate(traces):
            f.header[k] = {189: il, 193: xl, 181: 1000 * il, 185: 10 * xl, 71: scalar, 109: delay,
                           115: n_samples, 117: interval_us, **(extra_headers or {})}
            values = trace_values(il, xl, n_samples, fmt)
            f.trace[k] = values * 0 if (il, xl) in zero else values
    return path


def grid(inlines, crosslines):
    """All (inline, crossline) pairs, inline-major."""
    return [(i, x) for i in inlines for x in crosslines]
