"""Synthetic seismic: reflectivity from impedance, Ricker wavelets along time, band-limited random noise.

Every trace is made whole (all samples), so the time convolutions need no halo; laterally
the amplitude of a voxel depends on that voxel's trace only. A region therefore equals the
same region of a whole-volume run, bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from facies.engine.synth.hashing import normal, stream_key
from facies.engine.synth.model import SALT, EarthModel

#: Dominant frequencies (Hz): the survey's wavelet, and the lower one seen inside salt
#: (absorption and poor imaging under and in salt give it its low-frequency, weak character).
MAIN_FREQUENCY_HZ = 30.0
SALT_FREQUENCY_HZ = 12.0
#: Gain that brings the background's RMS amplitude near 1, and the noise level relative to it.
AMPLITUDE_GAIN = 18.0
NOISE_STD = 0.08
#: Pass band (Hz) of the noise: processed seismic is band-limited, its noise too. White noise up to Nyquist
#: would swamp the weak salt interior's 12 Hz energy, so that the instantaneous frequency (exact spectral
#: derivatives) no longer told salt apart; its length in taps (odd) at the survey's sample interval.
NOISE_BAND_HZ = (5.0, 50.0)
NOISE_TAPS = 41
_NOISE_STREAM = 20
#: Largest number of voxels evaluated at once (bounds the uint64/float64 temporaries).
MAX_VOXELS_AT_ONCE = 1 << 21


def ricker(frequency_hz: float, dt_s: float) -> np.ndarray:
    """Zero-phase Ricker wavelet sampled at ``dt_s``, peak 1, long enough to decay below 1e-4."""
    half = int(np.ceil(1.6 / (frequency_hz * dt_s)))
    t = np.arange(-half, half + 1) * dt_s
    arg = (np.pi * frequency_hz * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


def noise_filter(dt_s: float) -> np.ndarray:
    """Zero-phase band-pass FIR of :data:`NOISE_BAND_HZ`, scaled so that white noise keeps its variance."""
    weights = signal.firwin(NOISE_TAPS, NOISE_BAND_HZ, pass_zero=False, fs=1.0 / dt_s)
    return weights / np.sqrt(np.sum(weights ** 2))


def reflectivity(impedance: np.ndarray) -> np.ndarray:
    """Normal-incidence reflection coefficients along the last axis (0 at the last sample)."""
    out = np.zeros_like(impedance)
    upper, lower = impedance[..., :-1], impedance[..., 1:]
    out[..., :-1] = (lower - upper) / (lower + upper)
    return out


def region_labels_and_amplitude(model: EarthModel, il: slice, xl: slice, dt_ms: float):
    """Facies labels (uint8) and amplitude (float32) of a lateral region, all samples.

    Parameters
    ----------
    model : EarthModel
    il, xl : slice
        Index ranges (step 1) of inlines and crosslines.
    dt_ms : float
        Sample interval.
    """
    n_s = model.shape[2]
    ni, nj = il.stop - il.start, xl.stop - xl.start
    labels = np.empty((ni, nj, n_s), dtype=np.uint8)
    amplitude = np.empty((ni, nj, n_s), dtype=np.float32)
    main = ricker(MAIN_FREQUENCY_HZ, dt_ms * 1e-3)
    low = ricker(SALT_FREQUENCY_HZ, dt_ms * 1e-3) * np.sqrt(SALT_FREQUENCY_HZ / MAIN_FREQUENCY_HZ)
    noise_key = stream_key(model.seed, _NOISE_STREAM)
    band = noise_filter(dt_ms * 1e-3)
    # Sub-blocks of whole traces bound the temporaries; values do not depend on the split.
    rows = max(1, MAX_VOXELS_AT_ONCE // max(1, nj * n_s))
    for r0 in range(0, ni, rows):
        r1 = min(ni, r0 + rows)
        i = np.arange(il.start + r0, il.start + r1, dtype=np.int64)[:, None, None]
        j = np.arange(xl.start, xl.stop, dtype=np.int64)[None, :, None]
        k = np.arange(n_s, dtype=np.int64)[None, None, :]
        i, j, k = (np.ascontiguousarray(a) for a in np.broadcast_arrays(i, j, k))
        tau = model.tau(i, j, k)
        lab = model.labels(i, j, k, tau=tau)
        imp = model.impedance(i, j, k, lab, tau)
        refl = reflectivity(imp)
        trace = ndimage.correlate1d(refl, main, axis=2, mode="constant")
        salt = lab == SALT
        crossing = salt.any(axis=2)  # only the traces that cross the salt need its wavelet
        if crossing.any():
            low_trace = ndimage.correlate1d(refl[crossing], low, axis=-1, mode="constant")
            trace[crossing] = np.where(salt[crossing], low_trace, trace[crossing])
        trace *= AMPLITUDE_GAIN
        noise = normal(noise_key, (i * model.shape[1] + j) * n_s + k)
        trace += NOISE_STD * ndimage.correlate1d(noise, band, axis=2, mode="reflect")
        del noise
        trace[lab == 0] = 0.0  # dead traces hold zeros
        labels[r0:r1] = lab
        amplitude[r0:r1] = trace
    return labels, amplitude
