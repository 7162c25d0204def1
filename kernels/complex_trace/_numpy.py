"""NumPy/SciPy backend of the complex-trace kernels: ``scipy.fft`` transforms and ``maximum.reduceat`` lobes.

The computations are :mod:`._analytic`'s, shared with the CUDA backend; this module supplies the
transforms (pocketfft, single precision for float32 input) and the segmented maximum.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from facies.kernels.complex_trace import _analytic


def quadrature(x):
    """The Hilbert transform of every trace (last axis), NaN and infinite samples taken as 0 (no NaN in the result)."""
    (h,) = _analytic.analytic_parts(_analytic.zero_nan(x, np), np, scipy.fft, derivatives=False)
    return h


def instantaneous_frequency(x, smoothing: int):
    """Envelope-weighted instantaneous frequency in cycles per sample (:func:`._analytic.instantaneous_frequency`)."""
    return _analytic.instantaneous_frequency(x, np, scipy.fft, smoothing=smoothing)


def lobe_max(values, starts):
    """Each element of the flat ``values`` replaced by the maximum of its segment (segments start where ``starts``).

    ``starts[0]`` must be True. ``np.maximum.reduceat`` over the contiguous segments, spread back
    with ``np.repeat``.
    """
    first = np.flatnonzero(starts)
    lengths = np.diff(np.append(first, values.size))
    return np.repeat(np.maximum.reduceat(values, first), lengths)


def apparent_polarity(x, h):
    """Apparent polarity of every trace (:func:`._analytic.apparent_polarity`)."""
    return _analytic.apparent_polarity(x, h, np, lobe_max)
