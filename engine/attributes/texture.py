"""GLCM texture attributes (Haralick et al. 1973; in 3D, Gao 2003): contrast, homogeneity, energy, entropy.

The amplitude is quantised to ``levels`` levels over ``[-clip, clip]``, and the grey-level co-occurrence
matrix of the window around each voxel (pairs at the offsets of ``directions`` x ``distance``, both ways,
pooled) gives four measures (:mod:`facies.kernels.glcm.definition` defines them exactly). One histogram
serves all four, so one operator computes them together, :class:`GlcmOperator`, whose outputs are named
from the source and the parameters (``_<source>-glcm-<digest>-<measure>``): however many of the four a run
asks for, the workflow keeps one copy of it, and a :class:`~facies.engine.operators.copy.Copy` per
attribute names the output. Dead traces (``trace_mask``) and NaN samples are left out of every window.

The clip must be the same for every brick (a survey-wide value), so it is a parameter: its default, None,
asks the workflow to measure it once, with :func:`measure_clip` on a sample of the survey
(``spec.extra["fill"]["clip"]``), before building the operators.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.engine.operators.copy import Copy
from facies.engine.schema import TRACE_MASK
from facies.kernels.glcm import MEASURES, glcm_texture
from facies.kernels.glcm.definition import (DIRECTIONS, MAX_LEVELS, MAX_PAIRS, MIN_LEVELS, check_levels, glcm_halo,
                                            normalise_offsets, normalise_window, offsets_for, pair_count)

FAMILY = "texture"
REFERENCE = ("Haralick, Shanmugam and Dinstein 1973, Textural features for image classification, IEEE Trans. SMC "
             "3(6); in 3D seismic: Gao 2003, Volume texture extraction for 3D seismic visualization and "
             "interpretation, Geophysics 68(4)")
#: The default clip: this percentile of |amplitude| over a sample of the survey (:func:`measure_clip`).
CLIP_PERCENTILE = 99.0


class GlcmOperator(Operator):
    """The four GLCM measures of ``source`` (:func:`facies.kernels.glcm.glcm_texture`), one float32 output each.

    Parameters
    ----------
    source : str
        The amplitude array.
    clip : float or None
        Levels span ``[-clip, clip]``. None (not yet measured) builds the operator, for its halo, but refuses
        to compute.
    levels, window, directions, distance
        As the attribute parameters (checked by :func:`check_texture`).
    use_mask : bool
        Read the store's ``trace_mask``: dead traces are left out of every window.
    """

    boundary = "nan"  # outside the survey is invalid: windows are clipped at its edge
    # On the CPU the histograms live in tiles of bounded size (kernels/glcm/_numpy.py); on the GPU the levels
    # take one byte per voxel of the grown brick.
    scratch_bytes_per_voxel = 1

    def __init__(self, source: str, *, clip: float | None, levels: int = 16, window=(5, 5, 9),
                 directions: str = "all", distance: int = 1, use_mask: bool = True):
        self.source = source
        self.clip = None if clip is None else float(clip)
        self.levels, self.window = int(levels), tuple(int(w) for w in window)
        self.directions, self.distance = str(directions), int(distance)
        self.use_mask = bool(use_mask)
        self.names = glcm_names(source, self.settings())
        self.inputs = (source, TRACE_MASK) if self.use_mask else (source,)
        self.outputs = tuple(Output(self.names[m], "float32") for m in MEASURES)
        self.halo = glcm_halo(self.window)

    def settings(self) -> dict:
        """What determines the values (the output names are made from it)."""
        return {"levels": self.levels, "clip": self.clip, "window": list(self.window),
                "directions": self.directions, "distance": self.distance, "use_mask": self.use_mask}

    def parameters(self) -> dict:
        return {"source": self.source, **self.settings()}

    def compute(self, inputs, xp):
        if self.clip is None:
            raise FaciesError(f"the GLCM texture of {self.source!r} has no clip: measure one with "
                              "facies.engine.attributes.texture.measure_clip or pass the parameter clip")
        x = inputs[self.source]
        # Under the "nan" boundary the bool mask arrives as float32: 1 live, 0 dead, NaN outside the survey.
        mask = inputs[TRACE_MASK] == 1 if self.use_mask else None
        interior = tuple((h, n - h) for h, n in zip(self.halo, x.shape))
        try:
            values = glcm_texture(x, value_range=(-self.clip, self.clip), levels=self.levels, window=self.window,
                                  directions=self.directions, distance=self.distance, mask=mask,
                                  out_region=interior)
        except ValueError as exc:
            raise FaciesError(f"GLCM texture of {self.source!r}: {str(exc).splitlines()[0]}") from None
        return {self.names[m]: values[k] for k, m in enumerate(MEASURES)}


def glcm_names(source: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """The shared outputs of the GLCM operator of ``source`` with ``settings``, by measure (deterministic)."""
    digest = hashlib.sha1(json.dumps(dict(settings), sort_keys=True).encode()).hexdigest()[:12]
    return {m: f"_{source}-glcm-{digest}-{m}" for m in MEASURES}


def measure_clip(sample) -> float:
    """The default clip: :data:`CLIP_PERCENTILE` of ``|amplitude|`` over the finite values of ``sample``.

    The workflow calls it once per run on a sample of the source that does not depend on the bricks (the same
    traces every time), so every brick quantises alike and a resumed run finds the same parameters.

    Raises
    ------
    FaciesError
        When the sample has no finite non-zero amplitude.
    """
    values = np.abs(np.asarray(sample, dtype=np.float64).ravel())
    values = values[np.isfinite(values)]
    clip = float(np.percentile(values, CLIP_PERCENTILE)) if values.size else 0.0
    if not (clip > 0 and math.isfinite(clip)):
        raise FaciesError("cannot measure the GLCM clip: the sampled amplitudes are all zero or missing; "
                          "give one with --param glcm_contrast.clip=VALUE (and the same for the other measures)")
    return clip


def check_texture(params: Mapping[str, Any], sampling: SurveySampling, *, attribute: str = "glcm") -> None:
    """Raise FaciesError, one line naming ``attribute.parameter`` (as ``--param`` takes it), for unusable values.

    The kernel's own checks decide; the messages are written here so that each names the parameter once.
    """
    levels, window, directions, distance = params["levels"], params["window"], params["directions"], params["distance"]
    try:
        check_levels(levels)
    except ValueError:
        raise FaciesError(f"{attribute}.levels = {levels!r} must be an integer from {MIN_LEVELS} to "
                          f"{MAX_LEVELS}") from None
    try:
        window = normalise_window(window)
    except ValueError:
        raise FaciesError(f"{attribute}.window = {window!r} must be 3 odd sizes >= 1 (inline traces, crossline "
                          "traces, samples)") from None
    if directions not in DIRECTIONS:
        raise FaciesError(f"{attribute}.directions = {directions!r} must be one of {', '.join(DIRECTIONS)}")
    try:
        offsets = normalise_offsets(offsets_for(directions, distance))
    except ValueError:
        raise FaciesError(f"{attribute}.distance = {distance!r} must be an integer >= 1") from None
    pairs = pair_count(window, offsets)
    if pairs == 0:
        raise FaciesError(f"{attribute}.window = {window!r}: no offset fits inside it at distance {distance}; use a "
                          "larger window or a shorter distance")
    if pairs > MAX_PAIRS:
        raise FaciesError(f"{attribute}.window = {window!r} holds {pairs} pairs over {len(offsets)} offsets, more than "
                          f"{MAX_PAIRS}: use a smaller window or fewer directions")
    clip = params.get("clip")
    if clip is not None and not (isinstance(clip, int | float) and not isinstance(clip, bool) and math.isfinite(clip)
                                 and clip > 0):
        raise FaciesError(f"{attribute}.clip = {clip!r} must be a positive amplitude (levels span -clip..clip)")


def _checker(attribute: str):
    def check(params: Mapping[str, Any], sampling: SurveySampling) -> None:
        check_texture(params, sampling, attribute=attribute)

    return check


def _builder(measure: str):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        glcm = GlcmOperator(source, clip=params["clip"], levels=params["levels"], window=params["window"],
                            directions=params["directions"], distance=params["distance"])
        return [glcm, Copy(glcm.names[measure], output)]

    return build


PARAMETERS = (
    Parameter("levels", 16, "levels", "quantisation levels (2-32) over -clip..clip"),
    Parameter("window", (5, 5, 9), "traces,traces,samples",
              "window: inline traces, crossline traces, samples (odd numbers)"),
    Parameter("directions", "all", "", f"pair directions: {', '.join(DIRECTIONS)} (13 in 3D, 4 in the time slice, "
                                       "3 axes)"),
    Parameter("distance", 1, "voxels", "pairs are the directions times this many voxels apart"),
    Parameter("clip", None, "amplitude",
              f"levels span -clip..clip; default: the {CLIP_PERCENTILE:g}th percentile of |amplitude|, measured once"),
)
_MATRIX = ("of the symmetric grey-level co-occurrence matrix P (pairs at the offsets of every direction, both "
           "ways, pooled) of the amplitude quantised to L levels in a 3D window")
_DEFINITIONS = {
    "contrast": ("GLCM contrast: sum P(i,j) (i-j)^2 " + _MATRIX + "; high in chaotic, rapidly varying texture",
                 "levels^2"),
    "homogeneity": ("GLCM homogeneity: sum P(i,j) / (1 + (i-j)^2) " + _MATRIX + "; high in smooth, uniform texture",
                    "1"),
    "energy": ("GLCM energy (angular second moment): sum P(i,j)^2 " + _MATRIX + "; high where few level pairs "
               "dominate (orderly texture)", "1"),
    "entropy": ("GLCM entropy: -sum P(i,j) ln P(i,j) " + _MATRIX + "; high in disordered texture such as "
                "mass-transport deposits and salt", "nats"),
}

SPECS: tuple[AttributeSpec, ...] = tuple(
    AttributeSpec(f"glcm_{m}", FAMILY, _DEFINITIONS[m][0], REFERENCE, PARAMETERS, _builder(m), _checker(f"glcm_{m}"),
                  _DEFINITIONS[m][1], extra={"fill": {"clip": measure_clip}})
    for m in MEASURES)
