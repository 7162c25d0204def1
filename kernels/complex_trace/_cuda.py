"""CuPy backend of the complex-trace kernels: ``cupyx.scipy.fft`` (cuFFT) transforms and ``cupyx.scatter_max`` lobes.

The computations are :mod:`._analytic`'s, shared with the NumPy backend; this module supplies the
transforms and the segmented maximum. No RawKernel: cuFFT and CuPy's element-wise kernels do all
the work, so there is no ``.cu`` and no specialisation to declare.
"""

from __future__ import annotations

from facies.kernels.complex_trace import _analytic

#: No ``.cu`` beside this module (tests/test_cuda_compile.py reads this list from every ``_cuda.py``).
CUDA_SPECIALISATIONS: list = []


def _modules():
    import cupy  # noqa: PLC0415 - GPU path only
    import cupyx.scipy.fft  # noqa: PLC0415

    return cupy, cupyx.scipy.fft


def quadrature(x):
    """The Hilbert transform of every trace (last axis), NaN and infinite samples taken as 0 (no NaN in the result)."""
    cp, fft = _modules()
    (h,) = _analytic.analytic_parts(_analytic.zero_nan(x, cp), cp, fft, derivatives=False)
    return h


def instantaneous_frequency(x, smoothing: int):
    """Envelope-weighted instantaneous frequency in cycles per sample (:func:`._analytic.instantaneous_frequency`)."""
    cp, fft = _modules()
    return _analytic.instantaneous_frequency(x, cp, fft, smoothing=smoothing)


def lobe_max(values, starts):
    """Each element of the flat ``values`` replaced by the maximum of its segment (segments start where ``starts``).

    Segment labels by a cumulative sum of ``starts``, maxima by ``cupyx.scatter_max`` (atomic
    maxima: exact whatever their order), gathered back by label.
    """
    cp, _ = _modules()
    import cupyx  # noqa: PLC0415 - GPU path only

    labels = cp.cumsum(starts, dtype=cp.int64) - 1
    n_segments = int(labels[-1]) + 1
    peaks = cp.full(n_segments, -cp.inf, dtype=values.dtype)
    cupyx.scatter_max(peaks, labels, values)
    return peaks[labels]


def apparent_polarity(x, h):
    """Apparent polarity of every trace (:func:`._analytic.apparent_polarity`)."""
    cp, _ = _modules()
    return _analytic.apparent_polarity(x, h, cp, lobe_max)
