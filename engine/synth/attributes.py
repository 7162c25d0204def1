"""Candidate attribute volumes computed from the synthetic amplitude, brick by brick.

Each attribute is a function of the amplitude in a window around the voxel: whole traces
along time (Hilbert transform, time windows) and at most :data:`HALO` traces laterally. The
generator reads (computes) a brick with that lateral halo and keeps the interior, so a brick
equals the same region of a whole-volume run. Only filters whose output depends on the
window alone are used (``ndimage.correlate1d`` with explicit weights, never running sums
such as ``uniform_filter``, whose rounding depends on where a line starts).

The roles (informative, redundant, pure noise) are the known right answer for attribute
selection; docs/synthetic.md explains each one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from facies.engine.synth.hashing import normal, stream_key

#: Lateral halo (traces) that every attribute below fits in (dip deviation needs 6).
HALO = 6
_NOISE_A_STREAM, _NOISE_B_STREAM, _STRENGTH_STREAM = 30, 31, 32
#: Amplitude clip used to quantise for the GLCM-like contrast (about 3x the background RMS).
_CONTRAST_CLIP = 3.0
_CONTRAST_LEVELS = 16


@dataclass(frozen=True)
class AttributeSpec:
    """What an attribute is, written into its array's attributes (what each separates: docs/synthetic.md)."""

    name: str
    long_name: str
    units: str
    role: str  # "informative", "redundant" or "noise"


ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("envelope", "instantaneous amplitude (Hilbert envelope)", "amplitude", "informative"),
    AttributeSpec("instantaneous_frequency", "envelope-weighted instantaneous frequency", "Hz", "informative"),
    AttributeSpec("spectral_bandwidth", "standard deviation of the local spectrum (time-domain moments)", "Hz",
                  "informative"),
    AttributeSpec("similarity", "semblance over 3x3 traces and 7 samples", "1", "informative"),
    AttributeSpec("rms_amplitude", "RMS amplitude over 3x3 traces and 9 samples", "amplitude", "redundant"),
    AttributeSpec("texture_contrast", "GLCM-like lateral contrast of 16-level amplitude", "levels^2", "informative"),
    AttributeSpec("dip_deviation", "deviation of local dip from the regional dip", "ms/trace", "informative"),
    AttributeSpec("reflection_strength", "rescaled envelope with 3% multiplicative noise", "amplitude", "redundant"),
    AttributeSpec("noise_a", "smoothed log-normal random field", "1", "noise"),
    AttributeSpec("noise_b", "smoothed logistic random field in (0, 1)", "1", "noise"),
)
ATTRIBUTE_NAMES = tuple(spec.name for spec in ATTRIBUTES)


def _box(values, radii):
    """Mean over a box of half-widths ``radii`` (one per axis), window-local (reflect at the edges)."""
    out = values
    for axis, radius in enumerate(radii):
        if radius:
            weights = np.full(2 * radius + 1, 1.0 / (2 * radius + 1))
            out = ndimage.correlate1d(out, weights, axis=axis, mode="reflect")
    return out


def _time_smooth(values, length=9):
    weights = np.hanning(length + 2)[1:-1]
    return ndimage.correlate1d(values, weights / weights.sum(), axis=2, mode="reflect")


def _gaussian_noise(seed, stream, il, xl, survey_shape):
    """Unit-variance Gaussian random field, smoothed over ~1 trace and ~2 samples, from global indices."""
    n_xl, n_s = survey_shape[1], survey_shape[2]
    i = np.arange(il.start, il.stop, dtype=np.int64)[:, None, None]
    j = np.arange(xl.start, xl.stop, dtype=np.int64)[None, :, None]
    k = np.arange(n_s, dtype=np.int64)[None, None, :]
    field = normal(stream_key(seed, stream), (i * n_xl + j) * n_s + k).astype(np.float32)
    norm = 1.0
    for axis, sigma in ((0, 1.0), (1, 1.0), (2, 2.0)):
        radius = HALO // 2 if axis < 2 else 6
        x = np.arange(-radius, radius + 1)
        weights = np.exp(-0.5 * (x / sigma) ** 2)
        weights /= weights.sum()
        norm *= np.sqrt(np.sum(weights ** 2))
        field = ndimage.correlate1d(field, weights, axis=axis, mode="reflect")
    return field / np.float32(norm)


def _lateral_diff(values, axis):
    """Forward difference along a lateral axis, 0 on the last line (window-local)."""
    out = np.zeros_like(values)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    src[axis], dst[axis] = slice(1, None), slice(None, -1)
    out[tuple(dst)] = values[tuple(src)] - values[tuple(dst)]
    return out


def compute_attributes(amplitude: np.ndarray, *, il: slice, xl: slice, survey_shape, seed: int,
                       dt_ms: float) -> dict[str, np.ndarray]:
    """Every attribute of :data:`ATTRIBUTES` on one region (float32, same shape as ``amplitude``).

    Parameters
    ----------
    amplitude : ndarray of float32, shape (ni, nj, n_s)
        Amplitude of the region, whole traces.
    il, xl : slice
        The region's global index ranges (the noise attributes are functions of global indices).
    survey_shape : tuple of 3 int
    seed : int
    dt_ms : float
        Sample interval, for frequencies in Hz.

    Returns
    -------
    dict
        Name -> float32 array. Values within :data:`HALO` traces of a region side that is not
        a survey edge are not final: the caller keeps the interior.
    """
    a = amplitude.astype(np.float32, copy=False)
    dt = dt_ms * 1e-3
    out: dict[str, np.ndarray] = {}

    analytic = signal.hilbert(a, axis=2)
    h = analytic.imag.astype(np.float32)
    del analytic
    env2 = a * a + h * h
    envelope = np.sqrt(env2)
    out["envelope"] = envelope

    # Instantaneous frequency (Taner et al. 1979), weighted by envelope squared over a short time
    # window: the unweighted one spikes where the envelope nearly vanishes.
    da, dh = np.gradient(a, axis=2), np.gradient(h, axis=2)
    weight = _time_smooth(env2) + np.float32(1e-6)
    inst = (a * dh - h * da) / np.float32(2 * np.pi * dt)
    out["instantaneous_frequency"] = np.clip(_time_smooth(inst) / weight, 0.0, 0.5 / dt).astype(np.float32)
    del inst
    # Spectral bandwidth: standard deviation of the local spectrum from time-domain moments,
    # sigma^2 = <f^2> - <f>^2 with <f^2> = S|z'|^2 / (4 pi^2 S|z|^2), in the same weighted window.
    second = _time_smooth(da * da + dh * dh) / weight / np.float32((2 * np.pi * dt) ** 2)
    first = out["instantaneous_frequency"]
    out["spectral_bandwidth"] = np.sqrt(np.clip(second - first * first, 0.0, None)).astype(np.float32)
    del dh, second, weight  # da is the time gradient the dip below needs

    # Semblance: energy of the stacked 3x3 traces over the summed energy, in a 7-sample window.
    # The 3x3-trace mean energy serves it and the RMS amplitude (_box filters axis by axis).
    energy = _box(a * a, (1, 1, 0))
    stack = _box(a, (1, 1, 0))
    out["similarity"] = _box(stack * stack, (0, 0, 3)) / (_box(energy, (0, 0, 3)) + np.float32(1e-9))
    del stack

    out["rms_amplitude"] = np.sqrt(_box(energy, (0, 0, 4))).astype(np.float32)
    del energy

    levels = np.clip(np.floor((a / _CONTRAST_CLIP + 1.0) * 0.5 * _CONTRAST_LEVELS), 0, _CONTRAST_LEVELS - 1)
    contrast = 0.5 * (_lateral_diff(levels, 0) ** 2 + _lateral_diff(levels, 1) ** 2)
    out["texture_contrast"] = _box(contrast.astype(np.float32), (1, 1, 3)).astype(np.float32)
    del levels, contrast

    # Local dip from the gradient structure tensor (least-squares slope of the events, samples per
    # trace), against the regional dip (a 7x7-trace mean): large in chaotic and rotated reflections.
    gi, gj, gt = np.gradient(a, axis=0), np.gradient(a, axis=1), da
    tt = _box(gt * gt, (1, 1, 3)) + np.float32(1e-6)
    dip_i = np.clip(-_box(gi * gt, (1, 1, 3)) / tt, -3.0, 3.0)
    dip_j = np.clip(-_box(gj * gt, (1, 1, 3)) / tt, -3.0, 3.0)
    del gi, gj, gt, da, tt
    dev = np.hypot(dip_i - _box(dip_i, (3, 3, 3)), dip_j - _box(dip_j, (3, 3, 3)))
    out["dip_deviation"] = (_box(dev, (1, 1, 2)) * np.float32(dt_ms)).astype(np.float32)
    del dip_i, dip_j, dev

    # Redundant by construction: envelope times a constant, with 3% multiplicative noise.
    wobble = _gaussian_noise(seed, _STRENGTH_STREAM, il, xl, survey_shape)
    out["reflection_strength"] = (2.5 * envelope * (1.0 + 0.03 * wobble)).astype(np.float32)

    # Pure noise with the look of real attributes: a positive skewed one and a bounded one.
    out["noise_a"] = (0.8 * np.exp(0.45 * _gaussian_noise(seed, _NOISE_A_STREAM, il, xl, survey_shape)))
    noise_b = _gaussian_noise(seed, _NOISE_B_STREAM, il, xl, survey_shape)
    out["noise_b"] = (1.0 / (1.0 + np.exp(-(1.4 + 0.7 * noise_b)))).astype(np.float32)
    return {name: out[name].astype(np.float32, copy=False) for name in ATTRIBUTE_NAMES}
