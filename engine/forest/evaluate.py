"""Accuracy of a facies volume against known labels, away from the training voxels.

On the synthetic survey the true facies (``truth``) is known everywhere. Voxels next to the
interpreter's polygons are nearly training data; the fair score counts only voxels farther than
``min_distance`` voxels (Euclidean, in index units) from every training voxel.
"""

from __future__ import annotations

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


def holdout_accuracy(predicted: np.ndarray, truth: np.ndarray, train_mask: np.ndarray, *,
                     min_distance: float = 3.0) -> dict:
    """Accuracy of ``predicted`` codes on labelled voxels farther than ``min_distance`` from training voxels.

    Returns
    -------
    dict
        ``accuracy``, ``voxels`` counted, and ``recall`` per true code.
    """
    far = ndimage.distance_transform_edt(~train_mask) > min_distance
    counted = far & (truth > 0)
    right = predicted[counted] == truth[counted]
    recall = {int(c): float(np.mean(right[truth[counted] == c])) for c in np.unique(truth[counted])}
    return {"accuracy": float(np.mean(right)) if right.size else float("nan"), "voxels": int(counted.sum()),
            "min_distance": float(min_distance), "recall": recall}


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
    labels : str
        Label volume with the true facies codes (kind "label"; ``truth`` on the synthetic survey).
    training : str
        Training table whose voxels (and their neighbourhood) are left out.
    min_distance : float
        Only voxels farther than this (index units) from every training voxel count.

    Returns
    -------
    dict
        ``accuracy``, ``voxels``, ``min_distance``, ``recall`` by facies name.
    """
    if int(np.prod(survey.shape)) > MAX_EVALUATE_VOXELS:
        raise FaciesError(f"the survey has {np.prod(survey.shape):.3g} voxels; evaluation holds whole volumes in memory "
                          f"and is limited to {MAX_EVALUATE_VOXELS:.0e}: evaluate a subvolume")
    classes = f"facies_{model}"
    if labels not in survey.volumes(kind="label"):
        raise FaciesError(f"survey {survey.path} has no label volume {labels!r} to compare with; "
                          "known facies are needed everywhere (the synthetic survey has 'truth')")
    table = TrainingTable.load(survey, training)
    score = holdout_accuracy(survey.read(classes), survey.read(labels), training_mask(survey, table),
                             min_distance=min_distance)
    names = {i + 1: name for i, name in enumerate(table.facies_names)}
    score["recall"] = {names.get(code, str(code)): value for code, value in score["recall"].items()}
    return score
