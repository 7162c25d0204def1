"""Writing a selection: combinations.csv, summary.json, scores.png."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def write_combinations(result, path: Path) -> None:
    """One row per combination: attributes, dimension, score, validity, and per facies model, K, logL, BIC."""
    header = ["attributes", "dimension", "score", "valid"]
    for name in result.facies_names:
        header += [f"{name}:model", f"{name}:K", f"{name}:loglik", f"{name}:bic", f"{name}:invalid_fits"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in result.combinations:
            row = ["+".join(r.attributes), r.dimension, f"{r.score:.10g}" if r.valid else "", int(r.valid)]
            for f in r.fits:
                ok = f.model is not None
                row += [f.model or "", f.k if ok else "", f"{f.loglik:.10g}" if ok else "",
                        f"{f.bic:.10g}" if ok else "", f.invalid_fits]
            w.writerow(row)


def summary(result) -> dict:
    """The JSON summary: best per dimension, overall best, validation accuracies, timings, device, parameters."""
    return {
        "attributes": result.attribute_names,
        "facies": result.facies_names,
        "best": None if result.best is None else {"attributes": list(result.best.attributes),
                                                  "dimension": result.best.dimension, "score": result.best.score},
        "best_per_dimension": {str(k): {"attributes": list(v.attributes), "score": v.score,
                                        "validation_accuracy": _num(result.validation.get(k))}
                               for k, v in result.best_per_dimension.items()},
        "select_by": result.settings.select_by,
        "counts": result.counts,
        "timings_s": result.timings,
        "device": result.device,
        "workers": result.workers,
        "parameters": result.settings.as_dict(),
    }


def plot_scores(result, path: Path) -> None:
    """Score and validation accuracy against dimension, the best combination named (like AASPI's figure)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    dims = sorted(result.best_per_dimension)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(dims, [result.best_per_dimension[d].score for d in dims], "o-", color="C0", label="best score")
    ax.set_xlabel("number of attributes n")
    ax.set_ylabel("average cumulative Bhattacharyya distance", color="C0")
    if result.validation:
        ax2 = ax.twinx()
        vd = sorted(result.validation)
        ax2.plot(vd, [result.validation[d] for d in vd], "s--", color="C1", label="held-out accuracy")
        ax2.set_ylabel("held-out accuracy", color="C1")
    if result.best is not None:
        ax.set_title("best: " + ", ".join(result.best.attributes), fontsize=9)
        ax.axvline(result.best.dimension, color="0.7", lw=1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _written_then_moved(path: Path, write) -> None:
    """``write(tmp)`` to a temporary name beside ``path``, then move it into place: never a half-written file."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_outputs(result, out_dir) -> dict:
    """Write the three files into ``out_dir``, each complete or not at all, ``summary.json`` last; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"combinations": out / "combinations.csv", "summary": out / "summary.json", "figure": out / "scores.png"}
    # a previous run's summary must not stand beside this run's other files if writing stops half-way
    paths["summary"].unlink(missing_ok=True)
    _written_then_moved(paths["combinations"], lambda p: write_combinations(result, p))
    _written_then_moved(paths["figure"], lambda p: plot_scores(result, p))
    _written_then_moved(paths["summary"], lambda p: p.write_text(json.dumps(summary(result), indent=2, default=float)))
    return paths
