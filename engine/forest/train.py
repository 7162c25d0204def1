"""Training a random forest on a training table: cross-validated tree count, refit, report.

Steps (docs/forest.md):

1. take the chosen attribute columns, drop rows with a NaN or infinite value, optionally z-score them;
2. stratified k-fold cross-validation (seeded, shuffled): per fold, one forest of the largest
   candidate tree count is fitted; the forest of the first ``k`` trees *is* scikit-learn's
   ``k``-tree forest with the same seed (tree seeds are drawn in order from it), so every
   candidate is scored from one fit by averaging the first ``k`` trees' probabilities;
3. the candidate with the best mean accuracy is adopted (ties: fewer trees, cheaper to apply);
4. the forest is refitted on all rows; its normalised Gini importances, the out-of-fold confusion
   matrix and per-facies precision and recall of the adopted count go into the report;
5. the forest's trees are kept as plain arrays (:class:`~facies.engine.forest.model.Tree`), stored as JSON.

``--trees`` is bounded by :data:`~facies.engine.forest.model.MAX_TREES` and ``--max-depth`` by
:data:`~facies.engine.forest.model.MAX_DEPTH`, the bounds a stored model is checked against.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from facies.engine.errors import FaciesError
from facies.engine.forest.model import (MAX_DEPTH, MAX_TOTAL_NODES, MAX_TREE_NODES, MAX_TREES, ForestModel,
                                        Normalisation, Tree, trees_from_sklearn)

log = logging.getLogger("facies")

DEFAULT_TREES = (50, 100, 200)
DEFAULT_FOLDS = 5


@dataclass
class TrainedForest:
    """The result of :func:`train_forest`: the model to store and the scikit-learn forest it came from."""

    model: ForestModel
    classifier: RandomForestClassifier
    report: dict


def make_classifier(trees: int, max_depth: int | None, seed: int, n_jobs: int | None) -> RandomForestClassifier:
    """The scikit-learn forest every step uses (same settings in CV and refit)."""
    return RandomForestClassifier(n_estimators=int(trees), max_depth=max_depth, random_state=int(seed),
                                  n_jobs=n_jobs)


def check_candidates(trees: Sequence[int]) -> tuple[int, ...]:
    """Sorted distinct tree counts in 1..:data:`MAX_TREES`."""
    values = sorted({int(t) for t in trees})
    if not values or values[0] < 1:
        raise FaciesError(f"tree counts must be positive integers, e.g. --trees 50,100,200 (got {list(trees)})")
    if values[-1] > MAX_TREES:
        raise FaciesError(f"--trees {values[-1]} is more than {MAX_TREES} trees, the most a model may hold; "
                          "accuracy stops improving long before: try --trees 50,100,200")
    return tuple(values)


def check_max_depth(max_depth: int | None) -> int | None:
    """None (grow until leaves are pure) or a depth in 1..:data:`MAX_DEPTH`."""
    if max_depth is None:
        return None
    if not 1 <= int(max_depth) <= MAX_DEPTH:
        raise FaciesError(f"--max-depth must be an integer in 1..{MAX_DEPTH} (or left out: unlimited), "
                          f"not {max_depth}")
    return int(max_depth)


def check_forest_size(trees: Sequence[Tree]) -> None:
    """Refuse a forest larger than a stored model may be (it could be saved but never loaded)."""
    counts = [tree.node_count for tree in trees]
    if max(counts) > MAX_TREE_NODES or sum(counts) > MAX_TOTAL_NODES:
        raise FaciesError(f"the forest has {sum(counts)} nodes, {max(counts)} in its largest tree; a stored model "
                          f"holds at most {MAX_TREE_NODES} per tree and {MAX_TOTAL_NODES} in all: "
                          "set --max-depth or train fewer trees")


def training_rows(table, attributes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(X float32 (n, d), codes (n,), rows dropped for NaN/inf) of the chosen columns."""
    x = table.matrix(list(attributes))
    finite = np.isfinite(x).all(axis=1)
    return np.ascontiguousarray(x[finite]), table.codes[finite].astype(np.int64), int((~finite).sum())


def present_facies(table, codes: np.ndarray) -> tuple[list[int], list[str]]:
    """Codes with rows and their names; refuse tables a classifier cannot learn from."""
    counts = np.bincount(codes, minlength=len(table.facies_names) + 1)[1:]
    present = [c + 1 for c in range(len(counts)) if counts[c] > 0]
    if len(present) < 2:
        only = table.facies_names[present[0] - 1] if present else "none"
        raise FaciesError(f"the training table has voxels of only one facies ({only}); "
                          "a classifier needs at least two: add polygons of another facies")
    missing = [table.facies_names[c] for c in range(len(counts)) if counts[c] == 0]
    if missing:
        log.warning("facies %s have no training voxels; the forest will not predict them", ", ".join(missing))
    return present, [table.facies_names[c - 1] for c in present]


def choose_folds(codes: np.ndarray, names_by_code: dict[int, str], folds: int) -> int:
    """Folds for stratified CV: as asked, fewer when a facies has fewer rows, never below 2."""
    counts = {c: int((codes == c).sum()) for c in names_by_code}
    smallest = min(counts, key=counts.__getitem__)
    if counts[smallest] < 2:
        raise FaciesError(f"facies {names_by_code[smallest]!r} has {counts[smallest]} training voxel; "
                          "cross-validation needs at least 2 per facies: enlarge its polygons")
    if counts[smallest] < folds:
        log.warning("facies %s has only %d training voxels: using %d folds instead of %d",
                    names_by_code[smallest], counts[smallest], counts[smallest], folds)
        return counts[smallest]
    return folds


def cumulative_tree_proba(forest: RandomForestClassifier, x: np.ndarray,
                          counts: Sequence[int]) -> dict[int, np.ndarray]:
    """Probabilities of the sub-forests made of the first ``k`` trees, for each ``k`` in ``counts``."""
    total = np.zeros((x.shape[0], forest.n_classes_), dtype=np.float64)
    out, wanted = {}, set(counts)
    for k, tree in enumerate(forest.estimators_, start=1):
        total += tree.predict_proba(x, check_input=False)
        if k in wanted:
            out[k] = total / k
    return out


def cross_validate(x: np.ndarray, y: np.ndarray, candidates: Sequence[int], *, max_depth: int | None,
                   seed: int, folds: int, n_jobs: int | None) -> dict:
    """Per-fold accuracy of every candidate tree count, and out-of-fold predictions of each.

    Returns
    -------
    dict
        ``{"folds": k, "accuracy": {trees: [per fold]}, "oof": {trees: predicted facies code per row}}``.
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    accuracy: dict[int, list[float]] = {t: [] for t in candidates}
    oof = {t: np.zeros(y.size, dtype=np.int64) for t in candidates}
    for train, valid in splitter.split(x, y):
        forest = make_classifier(max(candidates), max_depth, seed, n_jobs).fit(x[train], y[train])
        for trees, proba in cumulative_tree_proba(forest, x[valid], candidates).items():
            predicted = forest.classes_[np.argmax(proba, axis=1)]
            oof[trees][valid] = predicted
            accuracy[trees].append(float(np.mean(predicted == y[valid])))
    return {"folds": folds, "accuracy": accuracy, "oof": oof}


def best_candidate(accuracy: dict[int, list[float]]) -> int:
    """Highest mean accuracy; among equals the fewest trees."""
    return min(accuracy, key=lambda t: (-float(np.mean(accuracy[t])), t))


def train_forest(table, attributes: Sequence[str], *, name: str = "forest", trees: Sequence[int] = DEFAULT_TREES,
                 max_depth: int | None = None, normalise: bool = False, seed: int = 0,
                 folds: int = DEFAULT_FOLDS, n_jobs: int | None = -1,
                 provenance: dict | None = None) -> TrainedForest:
    """Cross-validate tree counts, refit on every row and return the model with its report.

    Parameters
    ----------
    table : TrainingTable
        Labelled voxels (codes 1..M) with attribute columns.
    attributes : sequence of str
        Columns to train on, in the order prediction will read the survey volumes.
    name : str
        Model name (kept in the model).
    trees : sequence of int
        Candidate tree counts, 1..10 000.
    max_depth : int, optional
        Maximum tree depth, 1..64 (None: grow until leaves are pure).
    normalise : bool
        Z-score every attribute with the training rows' mean and standard deviation (stored with the model).
        A forest's splits do not change under such a scaling; it is offered for comparability of the
        stored thresholds and matches the AASPI workflow's option.
    seed : int
        Seeds the fold split and the forests.
    folds : int
        Stratified folds (fewer when a facies has fewer rows).
    n_jobs : int, optional
        Threads of scikit-learn (-1: all cores).
    provenance : dict, optional
        Stored with the model.

    Returns
    -------
    TrainedForest
    """
    attributes = list(attributes)
    if not attributes:
        raise FaciesError("no attributes to train on; pass --attributes A,B or add attributes to the training table")
    max_depth = check_max_depth(max_depth)
    candidates = check_candidates(trees)
    x, y, dropped = training_rows(table, attributes)
    if dropped:
        log.warning("%d training rows have NaN or infinite values in %s and are left out",
                    dropped, ", ".join(attributes))
    codes, names = present_facies(table, y)
    folds = choose_folds(y, dict(zip(codes, names)), int(folds))
    norm = Normalisation.fit(x) if normalise else None
    if norm is not None:
        x = norm.apply(x)

    cv = cross_validate(x, y, candidates, max_depth=max_depth, seed=seed, folds=folds, n_jobs=n_jobs)
    best = best_candidate(cv["accuracy"])
    forest = make_classifier(best, max_depth, seed, n_jobs).fit(x, y)
    importances = np.asarray(forest.feature_importances_, dtype=np.float64)
    importances = importances / importances.sum() if importances.sum() > 0 else importances
    report = summarise_cv(cv, best, y, codes, names, attributes, importances, dropped=dropped)

    arrays = trees_from_sklearn(forest)
    check_forest_size(arrays)
    model = ForestModel(name=name, forest=arrays, attributes=attributes, facies_names=names,
                        codes=[int(c) for c in forest.classes_], normalisation=norm, trees=best,
                        max_depth=max_depth, cv=report,
                        importances=dict(zip(attributes, importances.tolist())), provenance=dict(provenance or {}))
    return TrainedForest(model=model, classifier=forest, report=report)


def summarise_cv(cv: dict, best: int, y: np.ndarray, codes: list[int], names: list[str], attributes: list[str],
                 importances: np.ndarray, *, dropped: int = 0) -> dict:
    """The JSON report: per candidate and fold accuracy, confusion, precision/recall, importances."""
    predicted = cv["oof"][best]
    confusion = confusion_matrix(y, predicted, labels=codes)
    precision, recall, _, support = precision_recall_fscore_support(y, predicted, labels=codes, zero_division=0)
    return {
        "folds": int(cv["folds"]),
        "candidates": [{"trees": int(t), "fold_accuracy": [float(a) for a in acc],
                        "mean_accuracy": float(np.mean(acc)), "std_accuracy": float(np.std(acc))}
                       for t, acc in sorted(cv["accuracy"].items())],
        "best_trees": int(best),
        "rows": int(y.size), "rows_dropped": int(dropped),
        "facies": [{"code": int(c), "name": n, "support": int(s), "precision": float(p), "recall": float(r)}
                   for c, n, s, p, r in zip(codes, names, support, precision, recall)],
        "confusion": {"labels": list(names), "rows_true_columns_predicted": confusion.astype(int).tolist()},
        "importances": [{"attribute": a, "importance": float(v)} for a, v in zip(attributes, importances)],
    }
