"""The training report on disk: CSV tables of cross-validation, per-facies scores and importances."""

from __future__ import annotations

import csv
from pathlib import Path


def write_report_csv(report: dict, folder: Path, name: str) -> dict[str, Path]:
    """Write ``<name>_cv.csv``, ``<name>_facies.csv`` and ``<name>_importance.csv`` into ``folder``.

    - cv: one row per candidate tree count and fold (``fold`` = ``mean`` for the average), ``adopted`` flag, and
      ``split``: ``polygons`` (whole polygons per fold) or ``random`` (random voxels); with polygons, the random
      folds' rows follow, so both accuracies stand in one table;
    - facies: code, name, support, precision, recall, then the confusion row (true facies -> predicted);
    - importance: attribute and normalised Gini importance, most important first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / f"{name}_{k}.csv" for k in ("cv", "facies", "importance")}
    with open(paths["cv"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trees", "fold", "accuracy", "adopted", "split"])
        split = report.get("cv_split", "random")
        for c in report["candidates"]:
            adopted = int(c["trees"] == report["best_trees"])
            for k, acc in enumerate(c["fold_accuracy"], start=1):
                w.writerow([c["trees"], k, f"{acc:.6f}", adopted, split])
            w.writerow([c["trees"], "mean", f"{c['mean_accuracy']:.6f}", adopted, split])
        if split == "polygons":
            for c in report["candidates"]:
                adopted = int(c["trees"] == report["best_trees"])
                for k, acc in enumerate(c.get("fold_accuracy_random", []), start=1):
                    w.writerow([c["trees"], k, f"{acc:.6f}", adopted, "random"])
                w.writerow([c["trees"], "mean", f"{c['mean_accuracy_random']:.6f}", adopted, "random"])
    labels = report["confusion"]["labels"]
    with open(paths["facies"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "facies", "support", "precision", "recall", *(f"predicted_{n}" for n in labels)])
        for f, row in zip(report["facies"], report["confusion"]["rows_true_columns_predicted"]):
            w.writerow([f["code"], f["name"], f["support"], f"{f['precision']:.6f}", f"{f['recall']:.6f}", *row])
    with open(paths["importance"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["attribute", "importance"])
        for item in sorted(report["importances"], key=lambda i: -i["importance"]):
            w.writerow([item["attribute"], f"{item['importance']:.6f}"])
    return paths
