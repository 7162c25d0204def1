"""What measured rates mean for a whole survey: :func:`project_workflow`, a pure function."""

from __future__ import annotations

import math
from collections.abc import Mapping

from facies.engine.errors import FaciesError

#: The 8000 km² example of the README: 2900 x 2930 traces (8.5 M) of 1250 samples.
DEFAULT_SURVEY = (2900, 2930, 1250)
DEFAULT_ATTRIBUTES = 9
#: Attributes the selection can score: 2^N - 1 combinations, each fitted per facies and model.
MAX_ATTRIBUTES = 30

#: How each voxel stage scales with the number of attributes N: ``store`` and ``kuwahara`` run once per
#: attribute (each attribute is read, filtered and written once); the GTM projection and the forest read all N
#: attributes of a voxel in one pass, and their measured rates are for N attributes already.
PER_ATTRIBUTE = {"store": True, "kuwahara": True, "gtm": False, "forest": False}


def project_workflow(rates: Mapping[str, float], survey_shape: tuple[int, int, int], n_attributes: int, *,
                     fits_per_combination: float | None = None) -> dict:
    """How long each stage of the workflow would take on a survey, at the measured rates.

    A voxel stage takes ``voxels / rate`` seconds, times ``n_attributes`` where it runs once per attribute
    (:data:`PER_ATTRIBUTE`). The selection takes ``(2^N - 1) * fits_per_combination / rate`` seconds, its rate
    in fits/s. Stages without a rate are left out. The wall is the slowest stage.

    Parameters
    ----------
    rates : mapping of str to float
        Stage name (``store``, ``kuwahara``, ``gtm``, ``forest``, ``selection``) -> units per second.
    survey_shape : (IL, XL, NS)
    n_attributes : int
        N, the attributes computed, filtered and selected among.
    fits_per_combination : float, optional
        Fits per attribute combination (facies x models x cluster counts); needed for ``selection``.

    Returns
    -------
    dict
        ``survey`` (the shape), ``voxels``, ``attributes``, ``stages`` (name -> ``{"seconds", "units",
        "rate", "per_attribute"}``), ``total_seconds``, ``wall`` (the slowest stage's name, None when none).

    Raises
    ------
    FaciesError
        A survey size or attribute count that is not positive, or a rate that is not positive.
    """
    if len(survey_shape) != 3 or min(survey_shape) < 1:
        raise FaciesError(f"the survey must be three positive sizes IL,XL,NS, not {tuple(survey_shape)}")
    if not 1 <= n_attributes <= MAX_ATTRIBUTES:
        raise FaciesError(f"--attributes must be 1..{MAX_ATTRIBUTES}, not {n_attributes}")
    voxels = math.prod(int(v) for v in survey_shape)
    stages: dict[str, dict] = {}
    for name, rate in rates.items():
        if not rate or rate <= 0 or not math.isfinite(rate):
            raise FaciesError(f"stage {name!r} has no positive rate ({rate})")
        if name == "selection":
            if fits_per_combination is None:
                continue
            units = (2 ** n_attributes - 1) * fits_per_combination
            per_attribute = False
        elif name in PER_ATTRIBUTE:
            per_attribute = PER_ATTRIBUTE[name]
            units = voxels * (n_attributes if per_attribute else 1)
        else:
            continue
        stages[name] = {"seconds": units / rate, "units": units, "rate": rate, "per_attribute": per_attribute}
    wall = max(stages, key=lambda s: stages[s]["seconds"]) if stages else None
    return {"survey": [int(v) for v in survey_shape], "voxels": voxels, "attributes": n_attributes,
            "stages": stages, "total_seconds": sum(s["seconds"] for s in stages.values()), "wall": wall}
