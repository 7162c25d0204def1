"""Training voxels for the selection: held-out split and standardisation."""

from __future__ import annotations

import numpy as np

from facies.engine.errors import FaciesError
from facies.kernels.philox import key_for, uniforms

#: Fewest fitting voxels a facies may keep after the split: a one-attribute Gaussian needs two.
MIN_FIT_VOXELS = 2


def holdout_split(per_facies, fraction: float, seed: int):
    """Stratified split: per facies, the ``round(fraction * n)`` voxels with the smallest Philox uniforms are held out.

    Stream: key ``(seed, split)``, counter ``(block, facies index, 0, 0)``. Returns (fit, held) lists.
    """
    fit, held = [], []
    for f, x in enumerate(per_facies):
        n_held = int(round(fraction * len(x)))
        order = np.argsort(uniforms(key_for(seed, "split"), f, 0, 0, len(x)), kind="stable")
        held.append(x[np.sort(order[:n_held])])
        fit.append(x[np.sort(order[n_held:])])
    return fit, held


def standardisation(per_facies):
    """Mean and standard deviation of each attribute over all the given voxels (std 1 for a constant attribute).

    A constant attribute keeps scale 1: its covariances are then singular and every combination
    holding it is reported invalid, instead of dividing by zero.
    """
    allx = np.concatenate(per_facies).astype(np.float64)
    mean = allx.mean(axis=0)
    std = allx.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def check_inputs(per_facies, names, facies_names):
    """Shapes and values a selection needs; FaciesError naming the facies otherwise.

    Parameters
    ----------
    per_facies : list of (n_m, N) arrays
    names : list of str
        The N attribute names.
    facies_names : list of str
        One per entry of ``per_facies``: messages name the facies, not its code.
    """
    if len(per_facies) < 2:
        raise FaciesError(f"attribute selection needs at least 2 facies with training voxels, got {len(per_facies)}")
    if len(facies_names) != len(per_facies):
        raise FaciesError(f"{len(facies_names)} facies names for {len(per_facies)} facies; give one name per facies")
    for name, x in zip(facies_names, per_facies):
        if x.ndim != 2 or x.shape[1] != len(names):
            raise FaciesError(f"{name}: expected (n, {len(names)}) training values, got shape {x.shape}")
        if len(x) == 0:
            raise FaciesError(f"{name} has no training voxels; draw a polygon for it, or leave it out of the "
                              "table's facies (--facies of 'facies training import')")
        if not np.isfinite(x).all():
            raise FaciesError(f"{name} has NaN or infinite attribute values; mask them before selecting")


def check_split(fit, held, holdout: float, facies_names) -> None:
    """After :func:`holdout_split`: every facies keeps enough voxels to fit, and to validate with.

    Each facies needs :data:`MIN_FIT_VOXELS` fitting voxels, and at least one held-out voxel when
    ``holdout > 0`` (validation then scores every facies). FaciesError, saying how many it has.
    """
    for name, x, h in zip(facies_names, fit, held):
        total = len(x) + len(h)
        if len(x) < MIN_FIT_VOXELS:
            fix = "lower --holdout" if total >= MIN_FIT_VOXELS else "give it more training voxels"
            raise FaciesError(f"{name} keeps {len(x)} fitting voxel(s) of {total} with --holdout {holdout:.6g}; "
                              f"fitting needs at least {MIN_FIT_VOXELS}: {fix}")
        if holdout > 0 and len(h) == 0:
            raise FaciesError(f"{name} has no held-out voxel of {total} with --holdout {holdout:.6g}; validation "
                              "needs at least 1 per facies: raise --holdout, or use --holdout 0 for no validation")


def polygon_split(per_facies, polygons, fraction: float, seed: int):
    """Split by whole polygons: per facies, polygons in Philox order are held out while that brings the held
    voxels nearer ``round(fraction * n)``; at least one polygon on each side.

    Stream: key ``(seed, split)``, counter ``(block, facies index, 1, 0)``, one uniform per distinct polygon id
    of the facies (sorted ids). No polygon has voxels on both sides. Every facies needs two or more polygons
    (:func:`split_kind` checks). Returns (fit, held) lists like :func:`holdout_split`.
    """
    fit, held = [], []
    for f, (x, ids) in enumerate(zip(per_facies, polygons)):
        ids = np.asarray(ids)
        distinct, inverse = np.unique(ids, return_inverse=True)
        sizes = np.bincount(inverse.reshape(-1), minlength=len(distinct))
        order = np.argsort(uniforms(key_for(seed, "split"), f, 1, 0, len(distinct)), kind="stable")
        target = round(fraction * len(x))
        held_counts = np.cumsum(sizes[order])[:len(distinct) - 1]  # holding out the first h + 1 polygons
        h = int(np.argmin(np.abs(held_counts - target))) + 1  # ties: fewer polygons held out
        out = np.zeros(len(distinct), bool)
        out[order[:h]] = True
        mask = out[inverse.reshape(-1)]
        held.append(x[mask])
        fit.append(x[~mask])
    return fit, held


def split_kind(polygons, split: str, facies_names) -> tuple[str, str]:
    """How held-out voxels are chosen: ``("polygons" | "random", note)``.

    ``polygons`` is one array of polygon ids per facies (-1: unknown, as in a table imported from CSV) or
    None. ``split="auto"`` holds out whole polygons when every facies has two or more known polygons, else
    falls back to the random split and the note says why (accuracies are then optimistic: held-out voxels
    sit next to fitting voxels). ``split="polygons"`` without that is a FaciesError naming the facies.
    """
    if split == "random":
        return "random", "random voxels held out (--split random); neighbours of held-out voxels were fitted"
    few = _facies_with_few_polygons(polygons, facies_names)
    if not few:
        return "polygons", "whole polygons held out"
    why = ("the table has no polygon ids (imported from CSV)" if polygons is None or
           all((np.asarray(p) < 0).all() for p in polygons)
           else ", ".join(f"{name} has {n} polygon{'s' if n != 1 else ''}" for name, n in few))
    if split == "polygons":
        raise FaciesError(f"--split polygons needs at least 2 polygons per facies: {why}; draw more polygons or use "
                          "--split random")
    return "random", (f"random voxels held out, not whole polygons ({why}; polygons need 2 per facies): "
                      "accuracies are optimistic, held-out voxels sit next to fitting voxels")


def _facies_with_few_polygons(polygons, facies_names) -> list[tuple[str, int]]:
    if polygons is None:
        return [(name, 0) for name in facies_names]
    out = []
    for name, ids in zip(facies_names, polygons):
        ids = np.asarray(ids)
        n = len(np.unique(ids)) if len(ids) and (ids >= 0).all() else 0
        if n < 2:
            out.append((name, n))
    return out
