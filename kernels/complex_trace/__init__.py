"""Complex-trace attributes (Taner, Koehler and Sheriff 1979) of seismic traces, on NumPy or CuPy arrays.

Traces run along the last axis and are transformed whole (FFT): :func:`quadrature` equals the
imaginary part of :func:`scipy.signal.hilbert` on each trace. The transforms dispatch on the array
type (:func:`facies.kernels.array_module.implementation`): a CuPy array runs ``_cuda.py``
(cuFFT), anything else ``_numpy.py`` (``scipy.fft``); both run the same code
(``_analytic.py``). The point-wise attributes (:func:`envelope`, :func:`instantaneous_phase`,
:func:`cosine_of_phase`, :func:`sweetness`) take the trace and its quadrature and work on either
array type directly.

NaN and infinite samples (dead traces, gaps, corrupt values) count as 0 for the transform, and
every attribute is NaN where the trace is NaN or infinite (the quadrature trace itself, an
intermediate, has no NaN). Everything is computed in single precision for float32 traces and in
double precision otherwise.
"""

from __future__ import annotations

from facies.kernels.array_module import array_module, implementation
from facies.kernels.complex_trace import _analytic

__all__ = ["apparent_polarity", "cosine_of_phase", "envelope", "instantaneous_frequency", "instantaneous_phase",
           "quadrature", "sweetness"]


def quadrature(x):
    """The quadrature trace (Hilbert transform) of every trace.

    Parameters
    ----------
    x : ndarray or cupy.ndarray, shape (..., n_samples)
        Real traces along the last axis; NaN and infinite samples count as 0.

    Returns
    -------
    array
        ``Im(scipy.signal.hilbert(x, axis=-1))`` of the trace with NaN and infinite samples set to 0 (float32 for
        float32 input, else float64). It has no NaN: the envelope lobes of
        :func:`apparent_polarity` run through a NaN sample as through any other, and every
        attribute of ``(x, h)`` is NaN where ``x`` is NaN or infinite.
    """
    return implementation(__name__, x).quadrature(x)


def instantaneous_frequency(x, *, smoothing: int = 5):
    """Envelope-weighted instantaneous frequency of every trace, in cycles per sample.

    The analytic signal ``z = x + i h`` has the phase derivative
    ``f = (x h' - h x') / (2 pi (x^2 + h^2))`` (no phase unwrapping). ``x'`` and ``h'`` are exact
    spectral derivatives (the trace's FFT times ``i w``), not finite differences, which would bias
    the frequency low (a central difference reads 16% low at 40 Hz and 4 ms). Where the envelope
    nearly vanishes the ratio is unstable, so numerator and denominator are each summed over a
    centred window of ``smoothing`` samples before dividing (an average of ``f`` weighted by the
    envelope squared); the window is cut at the trace's ends. Where the window's
    energy is exactly 0 (a muted zone) the frequency is 0.

    Parameters
    ----------
    x : ndarray or cupy.ndarray, shape (..., n_samples)
    smoothing : int
        Odd window length in samples; 1 is the unsmoothed formula.

    Returns
    -------
    array
        Cycles per sample (multiply by the sampling frequency for Hz), NaN where ``x`` is NaN or infinite.
        Values below 0 or above 0.5 can occur where interfering events make the phase run
        backwards; they are not clipped.
    """
    smoothing = int(smoothing)
    if smoothing < 1 or smoothing % 2 == 0:
        raise ValueError(f"smoothing must be an odd number of samples >= 1, got {smoothing}")
    return implementation(__name__, x).instantaneous_frequency(x, smoothing)


def envelope(x, h):
    """Instantaneous amplitude ``sqrt(x^2 + h^2)`` of a trace ``x`` and its quadrature ``h``."""
    return _analytic.envelope(x, h, array_module(x))


def instantaneous_phase(x, h):
    """Instantaneous phase ``atan2(h, x)`` in degrees, in (-180, 180]; 0 where the envelope is 0."""
    return _analytic.instantaneous_phase(x, h, array_module(x))


def cosine_of_phase(x, h):
    """Cosine of the instantaneous phase, ``x / envelope``; 1 where the envelope is 0."""
    return _analytic.cosine_of_phase(x, h, array_module(x))


def sweetness(x, h, frequency, *, floor: float):
    """Sweetness ``envelope / sqrt(max(frequency, floor))`` (Radovich and Oliveros 1998).

    ``frequency`` and ``floor`` share a unit (Hz for the usual amplitude/sqrt(Hz)); the floor keeps
    the ratio finite where the instantaneous frequency is near 0 or negative.
    """
    if not floor > 0:
        raise ValueError(f"the sweetness floor must be > 0, got {floor}")
    return _analytic.sweetness(x, h, frequency, floor, array_module(x))


def apparent_polarity(x, h):
    """Apparent polarity: per envelope lobe, the sign of the trace at the lobe's envelope peak times that peak.

    A lobe runs from one envelope trough to the sample before the next (the first lobe from the
    trace's first sample); a trough is a sample lower than the one before and not higher than the
    one after. Every sample of a lobe gets ``sign(x[p]) * envelope[p]``, ``p`` the lobe's envelope
    peak; if the peak value is reached at several samples, a non-negative trace value at any of
    them makes it positive. NaN and infinite samples count as 0 and give NaN.

    Parameters
    ----------
    x, h : arrays, shape (..., n_samples)
        Traces and their quadrature (:func:`quadrature`).
    """
    return implementation(__name__, x).apparent_polarity(x, h)
