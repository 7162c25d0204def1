"""Accuracy of a facies volume against known labels, away from the training voxels.

On the synthetic survey the true facies (``truth``) is known everywhere. Voxels next to the
interpreter's polygons are nearly training data; the fair score counts only voxels farther than
``min_distance`` voxels (Euclidean, in index units) from every training voxel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def training_mask(survey, table) -> np.ndarray:
    """Bool volume, True at the voxels of the training table's rows."""
    g = survey.geometry
    mask = np.zeros(survey.shape, dtype=bool)
    il = np.searchsorted(g.inlines, table.inline)
    xl = np.searchsorted(g.crosslines, table.crossline)
    s = np.argmin(np.abs(g.samples[None, :].astype(np.float64) - table.sample[:, None].astype(np.float64)), axis=1)
    mask[il, xl, s] = True
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
