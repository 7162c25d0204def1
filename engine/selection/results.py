"""Writing a selection: combinations.csv, summary.json, scores.png.

The output folder is checked (and made) before the fitting starts, so a bad ``--out`` costs no
minutes of work. Each file is written whole under a temporary name and moved into place,
``summary.json`` last: a folder holding a ``summary.json`` holds one finished run. A run that ends
without a result (:func:`discard_outputs`) removes what a previous run left there rather than let it
pass for this run's.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.paths import check_new_path, file_head, written_then_moved

#: The files of a selection, by role; ``summary.json`` is written last and removed first.
OUTPUT_FILES = {"combinations": "combinations.csv", "summary": "summary.json", "figure": "scores.png"}


def _num(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def _g(v) -> str:
    return f"{v:.10g}" if v is not None and math.isfinite(v) else ""


def write_combinations(result, path: Path) -> None:
    """One row per combination: attributes, dimension, score (the one chosen by ``--score``), validity, both
    scores (``score_aaspi``, ``score_between_facies``), and per facies the chosen model, K, observed
    log-likelihood, the BIC it was chosen by, invalid fits, then its classification log-likelihood and both BICs."""
    header = ["attributes", "dimension", "score", "valid", "score_aaspi", "score_between_facies"]
    for name in result.facies_names:
        header += [f"{name}:model", f"{name}:K", f"{name}:loglik", f"{name}:bic", f"{name}:invalid_fits",
                   f"{name}:classification_loglik", f"{name}:bic_observed", f"{name}:bic_classification"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in result.combinations:
            row = ["+".join(r.attributes), r.dimension, f"{r.score:.10g}" if r.valid else "", int(r.valid),
                   _g(r.scores.get("aaspi")), _g(r.scores.get("between-facies"))]
            for f in r.fits:
                ok = f.model is not None
                row += [f.model or "", f.k if ok else "", f"{f.loglik:.10g}" if ok else "",
                        f"{f.bic:.10g}" if ok else "", f.invalid_fits]
                row += [_g(f.classification_loglik), _g(f.bic_observed), _g(f.bic_classification)] if ok else \
                    ["", "", ""]
            w.writerow(row)


def summary(result) -> dict:
    """The JSON summary: best per dimension, overall best, validation accuracies, timings, device, parameters."""
    return {
        "attributes": result.attribute_names,
        "facies": result.facies_names,
        "best": None if result.best is None else {"attributes": list(result.best.attributes),
                                                  "dimension": result.best.dimension, "score": result.best.score},
        "best_per_dimension": {str(k): {"attributes": list(v.attributes), "score": v.score,
                                        "score_aaspi": _num(v.scores.get("aaspi")),
                                        "score_between_facies": _num(v.scores.get("between-facies")),
                                        "mean_score": _num(result.mean_scores.get(k)),
                                        "validation_accuracy": _num(result.validation.get(k)),
                                        "validation_accuracy_polygons": _num(result.validation_grouped.get(k)),
                                        "validation_accuracy_random": _num(result.validation_random.get(k))}
                               for k, v in result.best_per_dimension.items()},
        "select_by": result.settings.select_by,
        "score": result.settings.score,
        "choose": result.settings.choose,
        "validation_split": result.split,
        "validation_note": result.split_note,
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
        ax2.set_ylabel(f"held-out accuracy ({result.split})", color="C1")
    if result.best is not None:
        ax.set_title("best: " + ", ".join(result.best.attributes), fontsize=9)
        ax.axvline(result.best.dimension, color="0.7", lw=1)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # the temporary name has no .png suffix
    plt.close(fig)


def output_paths(out_dir) -> dict[str, Path]:
    """The paths of the selection files in ``out_dir``, by role (:data:`OUTPUT_FILES`)."""
    return {role: Path(out_dir) / name for role, name in OUTPUT_FILES.items()}


def check_out_folder(out_dir) -> Path:
    """Make sure the selection can write into ``out_dir``, creating it; done before any fitting.

    Raises
    ------
    FaciesError
        ``out_dir`` is a file, lies under a file, or is not writable.
    OSError
        Creating it failed otherwise (a read-only file system, a name too long...): the CLI prints it as one line.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FaciesError(f"--out {out} is a file; give a folder for {', '.join(OUTPUT_FILES.values())}")
    check_new_path(out, "--out folder", hint="choose another --out", parent_must_exist=False)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise FaciesError(f"cannot write into the --out folder {out}; check its permissions or choose another --out")
    for role, path in output_paths(out).items():  # a run replaces (or, failing, removes) these names
        if (path.exists() or path.is_symlink()) and not written_by_select(path, role):
            raise FaciesError(f"--out {out} holds {path.name}, which facies select did not write; facies replaces "
                              "only its own files: move it away or choose another --out")
    return out


def written_by_select(path: Path, role: str) -> bool:
    """Whether ``path`` (the file of ``role`` in :data:`OUTPUT_FILES`) looks like one facies select wrote."""
    head = file_head(path)
    if head is None:
        return False
    if role == "summary":
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and {"attributes", "facies", "best", "best_per_dimension"} <= doc.keys()
    if role == "combinations":
        return head.startswith(b"attributes,dimension,score,valid")
    return head.startswith(b"\x89PNG") and b"Matplotlib" in head  # the figure: matplotlib names itself in the PNG


def discard_outputs(out_dir) -> list[Path]:
    """Remove the selection files a previous run left in ``out_dir`` (``summary.json`` first); return those removed.

    For a run that ends without a result: a previous run's summary, figure or table beside its error
    would read as this run's. Only files facies select wrote are removed (:func:`written_by_select`;
    :func:`check_out_folder` refused the others before the run, and one put there since stays).
    """
    removed = []
    paths = output_paths(out_dir)
    for role in ("summary", "figure", "combinations"):  # stopped half-way: no summary left
        if written_by_select(paths[role], role):
            paths[role].unlink()
            removed.append(paths[role])
    return removed


def write_outputs(result, out_dir) -> dict:
    """Write the three files into ``out_dir``, each complete or not at all, ``summary.json`` last; return
    their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = output_paths(out)
    # a previous run's summary must not stand beside this run's other files if writing stops half-way
    paths["summary"].unlink(missing_ok=True)
    written_then_moved(paths["combinations"], lambda p: write_combinations(result, p))
    written_then_moved(paths["figure"], lambda p: plot_scores(result, p))
    written_then_moved(paths["summary"], lambda p: p.write_text(json.dumps(summary(result), indent=2, default=float)))
    return paths


def write_failed_outputs(result, out_dir) -> dict:
    """For a run in which no combination is valid: remove a previous run's files, write only combinations.csv.

    The table says, per combination and facies, how many fits were invalid: the reason the run has no
    result. No ``summary.json`` and no figure are written (they would name a best combination).
    """
    discard_outputs(out_dir)
    path = output_paths(out_dir)["combinations"]
    written_then_moved(path, lambda p: write_combinations(result, p))
    return {"combinations": path}
