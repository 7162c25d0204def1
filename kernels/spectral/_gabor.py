"""Gabor (Gaussian-window short-time Fourier) spectra of whole traces, written once for NumPy and CuPy.

Every function takes the array module ``xp`` and an FFT module with SciPy's signatures
(``scipy.fft`` or ``cupyx.scipy.fft``); nothing here imports either. Frequencies are in cycles
per sample.

The local spectrum at sample ``t`` and frequency ``f`` is
``S(t, f) = sum_k x[t + k] g(k) exp(-2 pi i f k)`` with the untruncated Gaussian window
``g(k) = exp(-k^2 / (2 sigma^2))``, samples beyond the trace's ends (and NaN or infinite samples)
counting as 0; the results are NaN at NaN and infinite samples. ``|S(t, f)|`` is
``|x * (g exp(2 pi i f k))|``: a convolution, computed for a whole trace as one inverse FFT of
the trace's spectrum times the window's (a Gaussian centred on ``f``, its periodic images folded
in), after zero-padding the trace by ``6 sigma`` samples so that the circular
convolution equals the linear one to ``exp(-18)``. Magnitudes are divided by half the window's
sum, so a cosine of amplitude ``A`` at ``f`` has ``|S| = A`` away from the trace's ends.

Each trace's result depends on that trace alone (the FFT of a trace is the same whatever else is
in the batch), so a brick of whole traces gives the same bits as the whole volume.
"""

from __future__ import annotations

import math

from facies.kernels.complex_trace._analytic import zero_nan


def fast_length(n: int) -> int:
    """Smallest ``m >= n`` with no prime factor above 7 (fast for pocketfft and cuFFT alike).

    Searched over the products ``2^a 3^b 5^c``, each times the least power of 7 reaching ``n``:
    about ``log(n)^3 / 20`` steps whatever ``n`` (a count up from ``n`` can take millions). Not
    ``scipy.fft.next_fast_len``: it also takes factors of 11, which would change the padded length
    and so the bits of every result, and it is not this CuPy-and-NumPy module's to import.
    """
    n = max(1, int(n))
    best = 7 ** math.ceil(math.log(n, 7)) if n > 1 else 1
    best = best if best >= n else best * 7  # float logarithm rounding low
    p2 = 1
    while p2 < best:
        p23 = p2
        while p23 < best:
            p235 = p23
            while p235 < best:
                m = p235
                while m < n:
                    m *= 7
                best = min(best, m)
                p235 *= 5
            p23 *= 3
        p2 *= 2
    return best


def padded_length(n: int, sigma: float) -> int:
    """FFT length of a trace of ``n`` samples under a window of ``sigma`` samples: ``n + 6 sigma``, made fast."""
    return fast_length(n + math.ceil(6 * sigma))


def trace_spectrum(x, sigma: float, xp, fft):
    """Finite float copy of ``x`` (NaN and +-inf -> 0) zero-padded and transformed: ``(spectrum, n_fft)``."""
    x0 = zero_nan(x, xp)  # one inf would make the whole spectrum NaN
    n_fft = padded_length(x.shape[-1], sigma)
    return fft.fft(x0, n=n_fft, axis=-1), n_fft


def window_gain(n_fft: int, frequency: float, sigma: float, xp, dtype):
    """The window's spectrum centred on ``frequency``, over the FFT bins, scaled to 2 at its centre.

    ``2 exp(-2 pi^2 sigma^2 d^2)`` with ``d`` the distance from the bin's frequency to
    ``frequency`` folded into [-1/2, 1/2) (the periodic spectrum of a sampled window).
    """
    nu = xp.arange(n_fft, dtype=xp.float64) / n_fft
    d = (nu - frequency + 0.5) % 1.0 - 0.5
    return (2.0 * xp.exp(-2.0 * math.pi ** 2 * sigma ** 2 * d * d)).astype(dtype)


def _magnitude(spectrum, n: int, n_fft: int, frequency: float, sigma: float, xp, fft):
    """``|S(t, frequency)|`` for ``t < n`` from a trace's padded spectrum."""
    gain = window_gain(n_fft, frequency, sigma, xp, spectrum.dtype)  # complex: no mixed-type product
    local = fft.ifft(spectrum * gain, axis=-1, overwrite_x=True)[..., :n]
    return xp.abs(local)


def magnitudes(x, frequencies, sigma: float, xp, fft) -> list:
    """``|S(t, f)|`` for each of ``frequencies``: a list of arrays of ``x``'s shape, NaN where ``x`` is not finite."""
    spectrum, n_fft = trace_spectrum(x, sigma, xp, fft)
    n = x.shape[-1]
    dead = ~xp.isfinite(x)
    return [xp.where(dead, xp.nan, _magnitude(spectrum, n, n_fft, f, sigma, xp, fft)).astype(spectrum.real.dtype)
            for f in frequencies]


def peak_and_bandwidth(x, low: float, step: float, count: int, sigma: float, xp, fft):
    """Peak frequency and RMS bandwidth of the local power spectrum ``|S(t, f)|^2`` on a frequency grid.

    The grid is ``low + j step``, ``j = 0 .. count - 1``. The peak is the grid frequency of
    largest power, refined by a parabola through the logarithms of the power there and at its
    two neighbours (exact for a single tone, whose Gabor spectrum is a Gaussian); at the ends of
    the grid it is not refined. The bandwidth is the power-weighted standard deviation of the
    grid frequencies (it includes the window's own spread, ``1 / (2 sqrt(2) pi sigma)`` for a
    tone). Where the power is 0 at every grid frequency (a muted zone) both are 0; NaN where
    ``x`` is NaN or infinite.

    Returns
    -------
    tuple of 2 arrays
        ``(peak, bandwidth)`` in cycles per sample, of ``x``'s shape, in ``x``'s precision.
    """
    spectrum, n_fft = trace_spectrum(x, sigma, xp, fft)
    n = x.shape[-1]
    shape = x.shape
    real = spectrum.real.dtype
    # Everything updated once per grid frequency over the whole brick stays in the working
    # precision and is updated in place (masked copies). The moments are taken about the grid's
    # centre, so the variance does not come from the difference of two large numbers.
    centre = low + 0.5 * (count - 1) * step
    total, first, second = (xp.zeros(shape, real) for _ in range(3))
    best = xp.full(shape, -1.0, dtype=real)
    left, right, previous = (xp.zeros(shape, real) for _ in range(3))
    index = xp.zeros(shape, xp.int32)
    for j in range(int(count)):
        f = low + j * step - centre
        power = _magnitude(spectrum, n, n_fft, f + centre, sigma, xp, fft)
        power *= power
        total += power
        first += real.type(f) * power
        second += real.type(f * f) * power
        xp.copyto(right, power, where=index == j - 1)  # the neighbour after the best so far
        better = power > best
        xp.copyto(best, power, where=better)
        xp.copyto(left, previous, where=better)
        xp.copyto(right, real.type(0), where=better)
        xp.copyto(index, xp.int32(j), where=better)
        previous = power
    best, left, right = best.astype(xp.float64), left.astype(xp.float64), right.astype(xp.float64)
    total, first, second = total.astype(xp.float64), first.astype(xp.float64), second.astype(xp.float64)
    inner = (index > 0) & (index < count - 1) & (left > 0) & (right > 0)
    a = xp.log(xp.where(inner, left, 1.0))  # logs of 1 where there is nothing to refine
    b = xp.log(xp.where(inner, best, 1.0))
    c = xp.log(xp.where(inner, right, 1.0))
    curvature = a - 2.0 * b + c
    refine = inner & (curvature < 0)
    offset = xp.clip(xp.where(refine, 0.5 * (a - c) / xp.where(refine, curvature, -1.0), 0.0), -0.5, 0.5)
    peak = low + (index + offset) * step
    energetic = total > 0
    safe = xp.where(energetic, total, 1.0)
    mean = first / safe  # about the centre
    bandwidth = xp.sqrt(xp.maximum(second / safe - mean * mean, 0.0))
    dead = ~xp.isfinite(x)
    peak = xp.where(dead, xp.nan, xp.where(energetic, peak, 0.0)).astype(real)
    bandwidth = xp.where(dead, xp.nan, xp.where(energetic, bandwidth, 0.0)).astype(real)
    return peak, bandwidth
