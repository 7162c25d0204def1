"""NumPy/SciPy backend of the spectral kernels: :mod:`._gabor` with ``scipy.fft`` (pocketfft)."""

from __future__ import annotations

import numpy as np
import scipy.fft

from facies.kernels.spectral import _gabor


def magnitudes(x, frequencies, sigma: float) -> list:
    """Gabor magnitudes at ``frequencies`` (cycles per sample): :func:`._gabor.magnitudes`."""
    return _gabor.magnitudes(x, frequencies, sigma, np, scipy.fft)


def peak_and_bandwidth(x, low: float, step: float, count: int, sigma: float):
    """Peak frequency and bandwidth of the local spectrum: :func:`._gabor.peak_and_bandwidth`."""
    return _gabor.peak_and_bandwidth(x, low, step, count, sigma, np, scipy.fft)
