"""Training a random forest on a training table: cross-validated tree count, refit, report.

Steps (docs/forest.md):

1. take the chosen attribute columns, drop rows with a NaN or infinite value, optionally z-score them;
2. k-fold cross-validation, stratified by facies: by whole polygons (:func:`polygon_folds`) when every facies
   has two or more polygons (``split="auto"``), else by random voxels (seeded, shuffled) with a note saying so;
   with polygons the random folds are run too, so that both accuracies are reported. Per fold, one forest of the largest
   candidate tree count is fitted; the forest of the first ``k`` trees *is* scikit-learn's
   ``k``-tree forest with the same seed (tree seeds are drawn in order from it), so every
   candidate is scored from one fit by averaging the first ``k`` trees' probabilities;
3. the candidate with the best mean accuracy (grouped by polygons when available) is adopted (ties: fewer trees,
   cheaper to apply);
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


def training_polygons(table, attributes: Sequence[str]) -> np.ndarray:
    """Polygon id (-1: unknown) of each row :func:`training_rows` keeps."""
    finite = np.isfinite(table.matrix(list(attributes))).all(axis=1)
    return np.asarray(table.polygon, dtype=np.int64)[finite]


#: How cross-validation folds are made (``split``): the first is the default.
CV_SPLITS = ("auto", "polygons", "random")


def cv_split_kind(y: np.ndarray, polygons: np.ndarray | None, names_by_code: dict[int, str], split: str,
                  folds: int) -> tuple[str, int, str]:
    """``("polygons" | "random", folds, note)``: whole polygons when every facies has 2 or more (folds then at
    most the fewest polygons of a facies, so that every fold holds every facies), else random voxels.

    ``split="polygons"`` without two polygons per facies is a FaciesError naming them; ``"random"`` never groups.
    """
    if split not in CV_SPLITS:
        raise FaciesError(f"--split must be {' or '.join(map(repr, CV_SPLITS))}, not {split!r}")
    if split == "random":
        return "random", folds, ("random voxels per fold (--split random); neighbours of validation voxels were "
                                 "trained on")
    counts = {}
    for code, name in names_by_code.items():
        ids = polygons[y == code] if polygons is not None else np.array([-1])
        counts[name] = 0 if (ids < 0).any() else len(np.unique(ids))
    few = {name: n for name, n in counts.items() if n < 2}
    if not few:
        used = min(folds, min(counts.values()))
        note = "whole polygons per fold"
        if used < folds:
            note += f" ({used} folds: a facies has only {used} polygons)"
        return "polygons", used, note
    why = ("the table has no polygon ids (imported from CSV)" if polygons is None or (polygons < 0).all()
           else ", ".join(f"{name} has {n} polygon{'s' if n != 1 else ''}" for name, n in few.items()))
    if split == "polygons":
        raise FaciesError(f"--split polygons needs at least 2 polygons per facies: {why}")
    return "random", folds, (f"random voxels per fold, not whole polygons ({why}; polygons need 2 per facies): "
                             "the accuracy is optimistic, validation voxels sit next to training voxels")


def polygon_folds(y: np.ndarray, polygons: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group k-fold: every polygon in one fold, every facies in every fold (given ``folds`` polygons).

    Per facies, its polygons in a seeded random order, largest first (stable), each to the fold holding the
    fewest of this facies' voxels so far (ties: the lowest fold): the first ``folds`` polygons go to distinct
    folds. scikit-learn's StratifiedGroupKFold balances the class shares too, but does not promise a fold for
    every class. Returns ``[(train rows, validation rows)]`` like a scikit-learn splitter.
    """
    rng = np.random.default_rng(seed)
    fold_of = np.empty(y.size, dtype=np.int64)
    for code in np.unique(y):
        rows = np.flatnonzero(y == code)
        ids, inverse, sizes = np.unique(polygons[rows], return_inverse=True, return_counts=True)
        order = rng.permutation(len(ids))
        order = order[np.argsort(-sizes[order], kind="stable")]
        load = np.zeros(folds, dtype=np.int64)
        assigned = np.empty(len(ids), dtype=np.int64)
        for i in order:
            f = int(np.argmin(load))
            assigned[i] = f
            load[f] += sizes[i]
        fold_of[rows] = assigned[inverse.reshape(-1)]
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]


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
                   seed: int, folds: int, n_jobs: int | None, polygons: np.ndarray | None = None) -> dict:
    """Per-fold accuracy of every candidate tree count, and out-of-fold predictions of each.

    With ``polygons`` (one id per row) the folds hold whole polygons (:func:`polygon_folds`); else
    scikit-learn's StratifiedKFold over voxels.

    Returns
    -------
    dict
        ``{"folds": k, "accuracy": {trees: [per fold]}, "oof": {trees: predicted facies code per row}}``.
    """
    if polygons is not None:
        splits = polygon_folds(y, polygons, folds, seed)
    else:
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y))
    accuracy: dict[int, list[float]] = {t: [] for t in candidates}
    oof = {t: np.zeros(y.size, dtype=np.int64) for t in candidates}
    for train, valid in splits:
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
                 provenance: dict | None = None, split: str = "auto") -> TrainedForest:
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
        Stratified folds (fewer when a facies has fewer rows, or, by polygons, fewer polygons).
    split : {"auto", "polygons", "random"}
        Folds of whole polygons (``auto``: when every facies has two or more; then the random folds run too and
        both accuracies are reported, and the tree count is chosen by the polygon folds), or of random voxels.
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
    polygons = training_polygons(table, attributes)
    kind, group_folds, note = cv_split_kind(y, polygons, dict(zip(codes, names)), split, folds)
    if kind == "random" and split == "auto":
        log.warning("cross-validation: %s", note)
    norm = Normalisation.fit(x) if normalise else None
    if norm is not None:
        x = norm.apply(x)

    random_cv = cross_validate(x, y, candidates, max_depth=max_depth, seed=seed, folds=folds, n_jobs=n_jobs)
    cv = random_cv
    if kind == "polygons":
        cv = cross_validate(x, y, candidates, max_depth=max_depth, seed=seed, folds=group_folds, n_jobs=n_jobs,
                            polygons=polygons)
    best = best_candidate(cv["accuracy"])
    forest = make_classifier(best, max_depth, seed, n_jobs).fit(x, y)
    importances = np.asarray(forest.feature_importances_, dtype=np.float64)
    importances = importances / importances.sum() if importances.sum() > 0 else importances
    report = summarise_cv(cv, best, y, codes, names, attributes, importances, dropped=dropped)
    report.update(cv_split=kind, cv_note=note, folds_random=int(random_cv["folds"]))
    for c in report["candidates"]:
        acc = random_cv["accuracy"][c["trees"]]
        c["mean_accuracy_polygons"] = c["mean_accuracy"] if kind == "polygons" else None
        c["mean_accuracy_random"] = float(np.mean(acc))
        c["fold_accuracy_random"] = [float(a) for a in acc]

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
