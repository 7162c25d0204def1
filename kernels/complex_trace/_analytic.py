"""The complex-trace computations, written once for NumPy and CuPy.

Every function here takes the array module ``xp`` and an FFT module ``fft`` with SciPy's
signatures (``scipy.fft`` or ``cupyx.scipy.fft``) from ``_numpy.py`` or ``_cuda.py``; nothing here
imports either. Traces run along the last axis and are transformed whole: each trace's result
depends on that trace alone (the FFT of a trace is the same whatever else is in the batch), so
a brick of whole traces gives the same bits as the whole volume.

NaN and infinite samples (dead traces, gaps, corrupt values) are 0 for the transform (one inf would
make a whole trace's spectrum NaN), and every output is NaN where its input sample is NaN or infinite.
"""

from __future__ import annotations

import math


def real_dtype(x, xp):
    """float32 for float32 input, float64 otherwise (the precision of the transforms)."""
    return xp.float32 if x.dtype == xp.float32 else xp.float64


def zero_nan(x, xp):
    """``x`` as floats with NaN and +-inf replaced by 0 (the samples the transform sees)."""
    x = x.astype(real_dtype(x, xp), copy=False)
    return xp.where(xp.isfinite(x), x, x.dtype.type(0))


def nan_infinite(x, xp):
    """``x`` with +-inf replaced by NaN, so that the point-wise attributes follow the NaN rule there."""
    return xp.where(xp.isinf(x), x.dtype.type(xp.nan), x)


def analytic_parts(x0, xp, fft, *, derivatives: bool):
    """The quadrature trace ``h`` of ``x0`` (NaN-free), and with ``derivatives`` also dx/dt and dh/dt.

    ``x0 + i h`` is the analytic signal of :func:`scipy.signal.hilbert`: its spectrum is twice the
    positive frequencies of ``X = rfft(x0)``, once DC and (even length) Nyquist. Only real inverse
    transforms are taken: ``h = irfft(-i X)`` with DC and Nyquist set to 0 (their contribution to
    the analytic signal is real), and the time derivatives, per sample, are the exact spectral
    derivatives ``dx = irfft(i w X)`` and ``dh = irfft(w X)`` with ``w = 2 pi k / n`` (Nyquist 0:
    its derivative vanishes at every sample).

    Returns
    -------
    tuple of arrays
        ``(h,)`` or ``(h, dx, dh)``, each of ``x0``'s shape and dtype.
    """
    n = x0.shape[-1]
    spectrum = fft.rfft(x0, axis=-1)
    k = xp.arange(spectrum.shape[-1])
    inside = (k > 0) & (2 * k < n)  # not DC, not Nyquist
    minus_i = (-1j * inside).astype(spectrum.dtype)
    h = fft.irfft(spectrum * minus_i, n=n, axis=-1)
    if not derivatives:
        return (h,)
    omega = ((2 * math.pi / n) * k * inside).astype(x0.dtype)
    dx = fft.irfft(spectrum * (1j * omega).astype(spectrum.dtype), n=n, axis=-1)
    dh = fft.irfft(spectrum * omega, n=n, axis=-1)
    return h, dx, dh


def centred_sums(values, length: int, xp):
    """Sum over a centred window of ``length`` (odd) samples along the last axis, zeros beyond the ends.

    A fixed-order sum of shifted slices (offsets -r .. r in that order), so every sample's sum is
    the same sequence of additions wherever it sits.
    """
    r = length // 2
    if r == 0:
        return values
    n = values.shape[-1]
    pad = [(0, 0)] * (values.ndim - 1) + [(r, r)]
    padded = xp.pad(values, pad)
    total = padded[..., 0:n] + padded[..., 1:1 + n]
    for d in range(2, length):
        total += padded[..., d:d + n]
    return total


def instantaneous_frequency(x, xp, fft, *, smoothing: int):
    """Envelope-weighted instantaneous frequency in cycles per sample (see the package docstring)."""
    x0 = zero_nan(x, xp)
    h, dx, dh = analytic_parts(x0, xp, fft, derivatives=True)
    # In the working precision: the few terms of each sum lose nothing that matters (a relative
    # 1e-7 in float32), and float64 temporaries doubled the time of this memory-bound step.
    numerator = centred_sums(x0 * dh - h * dx, smoothing, xp)
    denominator = centred_sums(x0 * x0 + h * h, smoothing, xp)
    positive = denominator > 0
    one = denominator.dtype.type(1)
    frequency = numerator / (denominator.dtype.type(2 * math.pi) * xp.where(positive, denominator, one))
    return xp.where(xp.isfinite(x), xp.where(positive, frequency, x0.dtype.type(0)), x0.dtype.type(xp.nan))


def lobe_starts(envelope, xp):
    """True at the first sample of every envelope lobe: each trace's first sample and every envelope trough.

    A trough is a sample lower than the one before and not higher than the one after (so a flat
    bottom starts its lobe at its first sample).
    """
    starts = xp.zeros(envelope.shape, dtype=bool)
    starts[..., 0] = True
    if envelope.shape[-1] > 2:
        middle = envelope[..., 1:-1]
        starts[..., 1:-1] = (middle < envelope[..., :-2]) & (middle <= envelope[..., 2:])
    return starts


def apparent_polarity(x, h, xp, lobe_max):
    """Sign of the trace at each envelope lobe's peak times that peak, over the whole lobe.

    ``lobe_max(values, starts)`` is the backend's segmented maximum: each sample of the flat
    ``values`` replaced by the largest value of its segment (segments begin where the flat
    ``starts`` is True).
    """
    x0, h0 = zero_nan(x, xp), zero_nan(h, xp)
    envelope = xp.hypot(x0, h0)
    starts = lobe_starts(envelope, xp).ravel()
    peak = lobe_max(envelope.ravel(), starts)
    # Largest envelope among the lobe's samples where the trace is >= 0 (-1 where there is none):
    # equal to the lobe's peak when the peak sits on a non-negative sample (ties: positive).
    positive = lobe_max(xp.where(x0 >= 0, envelope, envelope.dtype.type(-1)).ravel(), starts)
    polarity = xp.where(positive >= peak, peak, -peak).reshape(envelope.shape)
    return xp.where(xp.isfinite(x), polarity, xp.nan).astype(x0.dtype)


def envelope(x, h, xp):
    """``sqrt(x^2 + h^2)``, NaN where ``x`` is NaN or infinite."""
    return xp.hypot(nan_infinite(x, xp), h)


def instantaneous_phase(x, h, xp):
    """``atan2(h, x)`` in degrees, in (-180, 180]; 0 where the envelope is 0, NaN where ``x`` is not finite."""
    x = nan_infinite(x, xp)
    return xp.degrees(xp.arctan2(h, x + x.dtype.type(0)))  # + 0 turns -0.0 into 0.0: atan2(0, -0.0) is 180


def cosine_of_phase(x, h, xp):
    """``x / envelope``; 1 where the envelope is 0 (the cosine of the phase 0 that atan2 gives there)."""
    x = nan_infinite(x, xp)
    amplitude = xp.hypot(x, h)
    zero = amplitude == 0
    return xp.where(zero, amplitude.dtype.type(1), x / xp.where(zero, amplitude.dtype.type(1), amplitude))


def sweetness(x, h, frequency, floor: float, xp):
    """``envelope / sqrt(max(frequency, floor))`` (``frequency`` and ``floor`` in the same unit)."""
    amplitude = xp.hypot(nan_infinite(x, xp), h)
    return amplitude / xp.sqrt(xp.maximum(frequency, amplitude.dtype.type(floor)))
