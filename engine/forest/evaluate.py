"""Accuracy of a facies volume against known labels, away from the training voxels.

On the synthetic survey the true facies (``truth``) is known everywhere. Voxels next to the
interpreter's polygons are nearly training data; the fair score counts only voxels farther than
``min_distance`` voxels (Euclidean, in index units) from every training voxel.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from facies.engine.errors import FaciesError
from facies.engine.training import TrainingTable


def training_mask(survey, table) -> np.ndarray:
    """Bool volume, True at the voxels of the training table's rows.

    Raises
    ------
    FaciesError
        When a row lies off the survey's grid (a table made for another survey).
    """
    g = survey.geometry
    mask = np.zeros(survey.shape, dtype=bool)
    mask[g.indices("inline", table.inline), g.indices("crossline", table.crossline),
         g.indices("sample", table.sample)] = True
    return mask


def check_min_distance(min_distance: float) -> float:
    """A finite distance >= 0 (0 leaves out the training voxels only)."""
    if not math.isfinite(min_distance) or min_distance < 0:
        raise FaciesError(f"--min-distance must be a finite number of voxels >= 0, not {min_distance:g} "
                          "(0 leaves out only the training voxels themselves)")
    return float(min_distance)


def holdout_accuracy(predicted: np.ndarray, truth: np.ndarray, train_mask: np.ndarray, *,
                     min_distance: float = 3.0) -> dict:
    """Accuracy of ``predicted`` codes on labelled voxels farther than ``min_distance`` from training voxels.

    Returns
    -------
    dict
        ``accuracy`` (NaN when no voxel counts), ``voxels`` counted, ``labelled`` voxels in all,
        and ``recall`` per true code.

    Raises
    ------
    FaciesError
        When ``min_distance`` is negative or not finite.
    """
    min_distance = check_min_distance(min_distance)
    far = ndimage.distance_transform_edt(~train_mask) > min_distance
    counted = far & (truth > 0)
    right = predicted[counted] == truth[counted]
    recall = {int(c): float(np.mean(right[truth[counted] == c])) for c in np.unique(truth[counted])}
    return {"accuracy": float(np.mean(right)) if right.size else float("nan"), "voxels": int(counted.sum()),
            "labelled": int((truth > 0).sum()), "min_distance": min_distance, "recall": recall}


#: Above this many voxels the in-memory evaluation (a distance transform of the whole volume) is refused.
MAX_EVALUATE_VOXELS = 2_000_000_000


def evaluate_model(survey, model: str, *, labels: str = "truth", training: str = "picks",
                   min_distance: float = 3.0) -> dict:
    """Accuracy of ``facies_<model>`` against a label volume, away from the training voxels.

    Parameters
    ----------
    survey : Survey
        Store holding ``facies_<model>``, the label volume and the training table.
    model : str
        Model name (its classes are ``facies_<model>``).
    labels, training, min_distance
        See :func:`evaluate_classes`.

    Returns
    -------
    dict
        ``accuracy``, ``voxels`` counted, ``labelled`` voxels in all, ``min_distance``, ``recall`` by facies name.
    """
    return evaluate_classes(survey, f"facies_{model}", labels=labels, training=training, min_distance=min_distance)


def evaluate_classes(survey, classes: str, *, labels: str = "truth", training: str = "picks",
                     min_distance: float = 3.0) -> dict:
    """Accuracy of any facies-code volume (a forest's or a GTM's ``facies_<model>``) against a label volume.

    Parameters
    ----------
    survey : Survey
        Store holding ``classes``, the label volume and the training table.
    classes : str
        Volume of facies codes (uint8, 0 = no data), coded as the training table's facies (code ``i + 1`` is
        its facies ``i``).
    labels : str
        Label volume with the true facies codes (kind "label"; ``truth`` on the synthetic survey).
    training : str
        Training table whose voxels (and their neighbourhood) are left out.
    min_distance : float
        Only voxels farther than this (index units) from every training voxel count.

    Returns
    -------
    dict
        ``accuracy``, ``voxels`` counted, ``labelled`` voxels in all, ``min_distance``, ``recall`` by facies name.

    Raises
    ------
    FaciesError
        When ``min_distance`` is negative, the survey is too large, the label volume is missing, or
        no labelled voxel is left once those near the training voxels are left out.
    """
    check_min_distance(min_distance)
    if int(np.prod(survey.shape)) > MAX_EVALUATE_VOXELS:
        raise FaciesError(f"the survey has {np.prod(survey.shape):.3g} voxels; "
                          "evaluation holds whole volumes in memory "
                          f"and is limited to {MAX_EVALUATE_VOXELS:.0e}: evaluate a subvolume")
    if labels not in survey.volumes(kind="label"):
        raise FaciesError(f"survey {survey.path} has no label volume {labels!r} to compare with; "
                          "known facies are needed everywhere (the synthetic survey has 'truth')")
    table = TrainingTable.load(survey, training)
    with survey.reading(classes, labels):  # not while a run replaces either of them
        predicted, known = survey.read(classes), survey.read(labels)
    score = holdout_accuracy(predicted, known, training_mask(survey, table), min_distance=min_distance)
    if score["voxels"] == 0:
        raise FaciesError(_nothing_left(score, labels, training))
    names = {i + 1: name for i, name in enumerate(table.facies_names)}
    score["recall"] = {names.get(code, str(code)): value for code, value in score["recall"].items()}
    return score


def _nothing_left(score: dict, labels: str, training: str) -> str:
    """Why no voxel was scored: no labels at all, or all of them near the training voxels."""
    if score["labelled"] == 0:
        return f"label volume {labels!r} has no labelled voxel (all codes are 0): nothing to evaluate"
    return (f"no voxel left to evaluate: all {score['labelled']} labelled voxels of {labels!r} lie within "
            f"{score['min_distance']:g} voxels of the training voxels of {training!r}; lower --min-distance")
