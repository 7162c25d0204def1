"""Spectral decomposition of seismic traces: Gabor (Gaussian-window short-time Fourier) spectra, on NumPy or CuPy.

Traces run along the last axis and are transformed whole (FFT, see ``_gabor.py`` for the
definition and the normalisation: a cosine of amplitude ``A`` at ``f`` has magnitude ``A`` at
``f``). The work dispatches on the array type (:func:`facies.kernels.array_module.implementation`):
a CuPy array runs ``_cuda.py`` (cuFFT), anything else ``_numpy.py`` (``scipy.fft``); both run
``_gabor.py``. Frequencies are in cycles per sample (Hz times the sample interval in seconds).

NaN and infinite samples count as 0 and give NaN. Results are float32 for float32 traces, else float64.
"""

from __future__ import annotations

import math

from facies.kernels.array_module import implementation
from facies.kernels.spectral._gabor import fast_length, padded_length

__all__ = ["MAX_FREQUENCIES", "fast_length", "grid_count", "magnitudes", "padded_length", "peak_and_bandwidth"]

#: The most grid frequencies :func:`peak_and_bandwidth` takes (each costs one inverse FFT of every trace).
MAX_FREQUENCIES = 1000


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 1.0):
        raise ValueError(f"sigma must be at least 1 sample, got {sigma}")
    return sigma


def _check_frequency(f: float, what: str) -> float:
    f = float(f)
    if not (math.isfinite(f) and 0.0 < f <= 0.5):
        raise ValueError(f"{what} must be in (0, 0.5] cycles per sample (up to Nyquist), got {f}")
    return f


def grid_count(low: float, high: float, step: float) -> int:
    """Number of frequencies ``low, low + step, ...`` up to ``high`` (inclusive, to within a millionth of a step)."""
    return int(math.floor((high - low) / step + 1e-6)) + 1


def magnitudes(x, frequencies, *, sigma: float = 10.0) -> list:
    """Magnitude of the local spectrum of every trace at each of ``frequencies``.

    Parameters
    ----------
    x : ndarray or cupy.ndarray, shape (..., n_samples)
    frequencies : sequence of float
        Cycles per sample, each in (0, 0.5].
    sigma : float
        Standard deviation of the Gaussian time window in samples (>= 1); its frequency
        resolution (standard deviation of a tone's magnitude spectrum) is ``1 / (2 pi sigma)``.

    Returns
    -------
    list of arrays
        One per frequency, of ``x``'s shape; NaN where ``x`` is NaN or infinite.
    """
    sigma = _check_sigma(sigma)
    frequencies = [_check_frequency(f, "each frequency") for f in frequencies]
    return implementation(__name__, x).magnitudes(x, frequencies, sigma)


def peak_and_bandwidth(x, *, low: float, high: float, step: float, sigma: float = 10.0):
    """Peak frequency and RMS bandwidth of the local power spectrum of every trace.

    The spectrum is sampled at ``low, low + step, ...`` up to ``high`` (inclusive, to within a
    millionth of a step); see :func:`._gabor.peak_and_bandwidth` for the refinement of the peak
    and the definition of the bandwidth.

    Parameters
    ----------
    x : ndarray or cupy.ndarray, shape (..., n_samples)
    low, high, step : float
        The frequency grid in cycles per sample: ``0 < low < high <= 0.5``, ``step > 0``.
    sigma : float
        Gaussian window's standard deviation in samples (>= 1).

    Returns
    -------
    tuple of 2 arrays
        ``(peak, bandwidth)`` in cycles per sample, NaN where ``x`` is NaN or infinite.

    Raises
    ------
    ValueError
        A bad grid, or one of more than :data:`MAX_FREQUENCIES` frequencies.
    """
    sigma = _check_sigma(sigma)
    low, high = _check_frequency(low, "low"), _check_frequency(high, "high")
    step = float(step)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be > 0, got {step}")
    if high <= low:
        raise ValueError(f"high ({high}) must be above low ({low})")
    count = grid_count(low, high, step)
    if count < 3:
        raise ValueError(f"the grid from {low} to {high} by {step} has {count} frequencies; it needs at least 3")
    if count > MAX_FREQUENCIES:
        raise ValueError(f"the grid from {low} to {high} by {step} has {count} frequencies, more than "
                         f"{MAX_FREQUENCIES}; lengthen the step")
    return implementation(__name__, x).peak_and_bandwidth(x, low, step, count, sigma)
