"""CuPy backend of the spectral kernels: :mod:`._gabor` with ``cupyx.scipy.fft`` (cuFFT).

No RawKernel: cuFFT and CuPy's element-wise kernels do all the work, so there is no ``.cu`` and
no specialisation to declare.
"""

from __future__ import annotations

from facies.kernels.spectral import _gabor

#: No ``.cu`` beside this module (tests/test_cuda_compile.py reads this list from every ``_cuda.py``).
CUDA_SPECIALISATIONS: list = []


def _modules():
    import cupy  # noqa: PLC0415 - GPU path only
    import cupyx.scipy.fft  # noqa: PLC0415

    return cupy, cupyx.scipy.fft


def magnitudes(x, frequencies, sigma: float) -> list:
    """Gabor magnitudes at ``frequencies`` (cycles per sample): :func:`._gabor.magnitudes`."""
    cp, fft = _modules()
    return _gabor.magnitudes(x, frequencies, sigma, cp, fft)


def peak_and_bandwidth(x, low: float, step: float, count: int, sigma: float):
    """Peak frequency and bandwidth of the local spectrum: :func:`._gabor.peak_and_bandwidth`."""
    cp, fft = _modules()
    return _gabor.peak_and_bandwidth(x, low, step, count, sigma, cp, fft)
