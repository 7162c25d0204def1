"""Candidate attribute volumes computed from the synthetic amplitude, brick by brick.

Seven of the ten are computed by the operators of ``facies attributes`` (:mod:`facies.engine.attributes`),
run by brick-engine :class:`~facies.engine.bricks.operator.Chain` s over the survey's ``amplitude`` and
``trace_mask`` (:data:`FROM_OPERATORS` names the attribute and the parameters of each); dip deviation
adds the generator's own :class:`~facies.engine.synth.dip_deviation.DipDeviation` to the structure
family's dips. A chain cuts every operator's region from global voxel indices and applies each
operator's boundary rule at the survey's edges, so a brick's values are those that
``facies attributes STORE -a NAME -p ...`` writes from the same amplitude with the same parameters, at
the survey's edges too (tests/test_synth_attributes.py compares them). The other three are synthetic by
design: reflection strength (the operators' envelope with 3% noise) and two pure-noise fields, functions
of global voxel indices.

The generator (:mod:`facies.engine.synth.generate`) computes a brick's amplitude with a lateral halo of
:data:`HALO` traces (whole traces along time) and asks for the brick's interior. The roles (informative,
redundant, pure noise) are the known right answer for attribute selection; docs/synthetic.md explains each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import ndimage

from facies.engine.attributes.parameters import resolve_parameters
from facies.engine.attributes.registry import attribute_spec
from facies.engine.attributes.spec import SurveySampling
from facies.engine.attributes.structure import structure_operators
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.plan import Region, clip, grow, region_slices
from facies.engine.synth.dip_deviation import DipDeviation
from facies.engine.synth.hashing import normal, stream_key
from facies.engine.synth.seismic import MAX_VOXELS_AT_ONCE

#: The amplitude and trace mask arrays the operators read (the store's names).
SOURCE, TRACE_MASK = "amplitude", "trace_mask"
#: Synthetic attribute -> (``facies attributes`` attribute, its parameters that differ from the defaults).
FROM_OPERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "envelope": ("envelope", {}),
    "instantaneous_frequency": ("instantaneous_frequency", {"smoothing": 9}),
    # A 5 Hz grid: 16 frequencies instead of 38, half the time, the same separation (tiny survey).
    "spectral_bandwidth": ("spectral_bandwidth", {"frequency_step": 5.0}),
    "similarity": ("semblance", {"window": (3, 3, 7)}),
    "rms_amplitude": ("rms_amplitude", {"window": (3, 3, 9)}),
    # A fixed clip (about 3x the background's RMS amplitude), the same in every survey; time-slice pairs only,
    # so that the contrast is lateral: the vertical contrast of every reflection would swamp the MTD's. 8 levels
    # separate the facies as well as 16 (tiny survey) at a fifth of the time.
    "texture_contrast": ("glcm_contrast", {"levels": 8, "clip": 3.0, "window": (3, 3, 7), "directions": "lateral"}),
}
#: The structure tensor under dip deviation (small Gaussians: the dip of each reflection, not of a package),
#: and the deviation's dip clip (samples per trace), regional box and smoothing box (half-widths).
DIP_SIGMAS = {"derivative_sigma": 0.6, "sigma": 0.6}
DIP_CLIP = 1.5
DIP_REGIONAL = (3, 3, 3)
DIP_SMOOTHING = (1, 1, 2)
#: The synthetic attributes the operators compute, one chain each.
CHAIN_OUTPUTS = (*FROM_OPERATORS, "dip_deviation")
_NOISE_A_STREAM, _NOISE_B_STREAM, _STRENGTH_STREAM = 30, 31, 32
#: Lateral and time half-widths of the noise fields' Gaussian smoothing (their correlation length).
_NOISE_RADIUS, _NOISE_TIME_RADIUS = 3, 6


@dataclass(frozen=True)
class AttributeSpec:
    """What an attribute is, written into its array's attributes (what each separates: docs/synthetic.md)."""

    name: str
    long_name: str
    units: str
    role: str  # "informative", "redundant" or "noise"


ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("envelope", "instantaneous amplitude (Hilbert envelope)", "amplitude", "informative"),
    AttributeSpec("instantaneous_frequency", "envelope-weighted instantaneous frequency over 9 samples", "Hz",
                  "informative"),
    AttributeSpec("spectral_bandwidth", "standard deviation of the Gaussian-window local spectrum", "Hz",
                  "informative"),
    AttributeSpec("similarity", "semblance over 3x3 traces and 7 samples", "1", "informative"),
    AttributeSpec("rms_amplitude", "RMS amplitude over 3x3 traces and 9 samples", "amplitude", "redundant"),
    AttributeSpec("texture_contrast", "GLCM contrast of 8-level amplitude, time-slice pairs, 3x3x7 window",
                  "levels^2", "informative"),
    AttributeSpec("dip_deviation", "deviation of the structure-tensor dip from the regional dip", "ms/trace",
                  "informative"),
    AttributeSpec("reflection_strength", "rescaled envelope with 3% multiplicative noise", "amplitude", "redundant"),
    AttributeSpec("noise_a", "smoothed log-normal random field", "1", "noise"),
    AttributeSpec("noise_b", "smoothed logistic random field in (0, 1)", "1", "noise"),
)
ATTRIBUTE_NAMES = tuple(spec.name for spec in ATTRIBUTES)


def operator_parameters(name: str, dt_ms: float) -> tuple[str, dict[str, Any]]:
    """The ``facies attributes`` attribute behind synthetic attribute ``name`` and every parameter of it, checked."""
    attribute, given = FROM_OPERATORS[name]
    spec = attribute_spec(attribute)
    params = resolve_parameters(spec, given)
    if spec.check is not None:
        spec.check(params, SurveySampling(dt_ms))
    return attribute, params


def attribute_operators(name: str, dt_ms: float) -> list[Operator]:
    """The operators that compute synthetic attribute ``name`` of :data:`CHAIN_OUTPUTS`, output named ``name``."""
    if name == "dip_deviation":
        tensor = structure_operators(SOURCE, DIP_SIGMAS)
        return [tensor, DipDeviation(tensor.names["inline_dip"], tensor.names["crossline_dip"], name, clip=DIP_CLIP,
                                     regional=DIP_REGIONAL, smoothing=DIP_SMOOTHING, sample_interval_ms=dt_ms)]
    attribute, params = operator_parameters(name, dt_ms)
    return attribute_spec(attribute).build(SOURCE, name, params, SurveySampling(dt_ms))


@cache
def attribute_chains(survey_shape: tuple[int, int, int], dt_ms: float) -> tuple[Chain, ...]:
    """One chain per attribute of :data:`CHAIN_OUTPUTS`, on a survey of ``survey_shape`` (they hold no state).

    Run one after another, not as one chain: a chain keeps every intermediate of its operators until it
    returns (the GLCM's four measures, the structure tensor's dips and chaos, ...), so separate chains
    bound a brick's memory by the largest attribute's instead of the sum. No intermediate is shared
    between these attributes, so nothing is computed twice.
    """
    return tuple(Chain(attribute_operators(name, dt_ms), survey_shape) for name in CHAIN_OUTPUTS)


def _lateral_halo() -> int:
    """Traces the chains reach around a voxel, laterally (the sample axis is read whole)."""
    big = 10**6
    return max(max(Chain(attribute_operators(name, 4.0), (big, big, big)).total_halo()[:2])
               for name in CHAIN_OUTPUTS)


#: Lateral halo (traces) of a brick: the chains' widest (dip deviation's: 4 for the tensor, 3 + 1 for its
#: boxes). At most the smallest survey's 8 traces (:data:`~facies.engine.synth.layout.MIN_SHAPE`): a chain
#: refuses a halo wider than the survey.
HALO = _lateral_halo()


def piece_rows(n_xl: int, n_samples: int) -> int:
    """Inlines of a piece of a brick ``n_xl`` crosslines wide on which the attribute chains run at once.

    About :data:`~facies.engine.synth.seismic.MAX_VOXELS_AT_ONCE` voxels (the spectral grid alone takes
    about 150 bytes per voxel), and at least ``2 * HALO`` inlines, so that the halo each piece recomputes
    stays a fraction of it.
    """
    return max(2 * HALO, MAX_VOXELS_AT_ONCE // max(1, n_xl * n_samples))


def _gaussian_noise(seed, stream, il, xl, survey_shape):
    """Unit-variance Gaussian random field, smoothed over ~1 trace and ~2 samples, from global indices."""
    n_xl, n_s = survey_shape[1], survey_shape[2]
    i = np.arange(il.start, il.stop, dtype=np.int64)[:, None, None]
    j = np.arange(xl.start, xl.stop, dtype=np.int64)[None, :, None]
    k = np.arange(n_s, dtype=np.int64)[None, None, :]
    field = normal(stream_key(seed, stream), (i * n_xl + j) * n_s + k).astype(np.float32)
    norm = 1.0
    for axis, sigma in ((0, 1.0), (1, 1.0), (2, 2.0)):
        radius = _NOISE_RADIUS if axis < 2 else _NOISE_TIME_RADIUS
        x = np.arange(-radius, radius + 1)
        weights = np.exp(-0.5 * (x / sigma) ** 2)
        weights /= weights.sum()
        norm *= np.sqrt(np.sum(weights ** 2))
        field = ndimage.correlate1d(field, weights, axis=axis, mode="reflect")
    return field / np.float32(norm)


def _noise(seed: int, stream: int, out_region: Region, survey_shape) -> np.ndarray:
    """:func:`_gaussian_noise` over ``out_region``: computed with its halo (mirrored at the survey's edges), cut."""
    grown = clip(grow(out_region, (_NOISE_RADIUS, _NOISE_RADIUS)), tuple(survey_shape[:2]))
    il, xl = region_slices(grown)
    field = _gaussian_noise(seed, stream, il, xl, survey_shape)
    return field[region_slices(out_region, origin=(il.start, xl.start))]


def compute_attributes(amplitude: np.ndarray, trace_mask: np.ndarray, *, region: Region, out_region: Region,
                       survey_shape, seed: int, dt_ms: float) -> dict[str, np.ndarray]:
    """Every attribute of :data:`ATTRIBUTES` on one lateral region (float32, whole traces).

    Parameters
    ----------
    amplitude : ndarray of float32, shape (ni, nj, n_s)
        Amplitude of ``region``, whole traces (zeros on dead traces, as the store holds them).
    trace_mask : ndarray of bool, shape (ni, nj)
        Live traces of ``region``.
    region : ((i0, i1), (j0, j1))
        Global inline and crossline index ranges of ``amplitude``: at least ``out_region`` grown by
        :data:`HALO` traces and clipped to the survey.
    out_region : ((i0, i1), (j0, j1))
        The lateral region to compute.
    survey_shape : tuple of 3 int
    seed : int
    dt_ms : float
        Sample interval, for frequencies in Hz and dips in ms per trace.

    Returns
    -------
    dict
        Name -> float32 array of ``out_region``'s traces, whole traces, in :data:`ATTRIBUTE_NAMES` order.
    """
    shape = tuple(int(n) for n in survey_shape)
    samples = ((0, shape[2]),)
    sources = {SOURCE: (amplitude, tuple(region) + samples), TRACE_MASK: (trace_mask, tuple(region))}
    (i0, i1), (j0, j1) = out_region
    out: dict[str, np.ndarray] = {name: np.empty((i1 - i0, j1 - j0, shape[2]), dtype=np.float32)
                                  for name in CHAIN_OUTPUTS}
    # Pieces of whole inlines bound the operators' temporaries; a chain's values do not depend on where a
    # piece starts.
    rows = piece_rows(j1 - j0, shape[2])
    for start in range(i0, i1, rows):
        piece = ((start, min(i1, start + rows)), (j0, j1)) + samples
        for name, chain in zip(CHAIN_OUTPUTS, attribute_chains(shape, float(dt_ms))):
            used = {source: sources[source] for source in chain.sources}
            out[name][start - i0:piece[0][1] - i0] = chain.run(piece, used, np, [name])[name]

    # Redundant by construction: the envelope times a constant, with 3% multiplicative noise.
    wobble = _noise(seed, _STRENGTH_STREAM, out_region, shape)
    out["reflection_strength"] = 2.5 * out["envelope"] * (1.0 + 0.03 * wobble)
    # Pure noise with the look of real attributes: a positive skewed one and a bounded one.
    out["noise_a"] = 0.8 * np.exp(0.45 * _noise(seed, _NOISE_A_STREAM, out_region, shape))
    out["noise_b"] = 1.0 / (1.0 + np.exp(-(1.4 + 0.7 * _noise(seed, _NOISE_B_STREAM, out_region, shape))))
    return {name: out[name].astype(np.float32, copy=False) for name in ATTRIBUTE_NAMES}
