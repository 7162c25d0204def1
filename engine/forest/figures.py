"""The training figure: accuracy per tree count and fold, confusion matrix, Gini importances (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_training(report: dict, path: Path, title: str = "") -> Path:
    """Draw the three panels of a training report into ``path`` (matplotlib, Agg backend)."""
    fig = training_figure(report, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _pyplot():
    import matplotlib  # noqa: PLC0415 - only when a figure is asked for

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def training_figure(report: dict, title: str = ""):
    """The three panels of a training report as a matplotlib figure (closing it is the caller's).

    Parameters
    ----------
    report : dict
        A forest's training report (:attr:`~facies.engine.forest.model.ForestModel.cv`): ``candidates``,
        ``best_trees``, ``folds``, ``confusion``, ``importances``.
    title : str
        The figure's title (default: the adopted tree count).
    """
    plt = _pyplot()
    fig, (ax_cv, ax_cm, ax_imp) = plt.subplots(1, 3, figsize=(15, 4.5), constrained_layout=True)
    trees = [c["trees"] for c in report["candidates"]]
    for k, c in enumerate(report["candidates"]):
        ax_cv.plot(np.full(len(c["fold_accuracy"]), k), c["fold_accuracy"], "o", color="0.6", ms=4)
    ax_cv.plot(range(len(trees)), [c["mean_accuracy"] for c in report["candidates"]], "s-", color="C0", label="mean")
    best = trees.index(report["best_trees"])
    ax_cv.plot([best], [report["candidates"][best]["mean_accuracy"]], "*", color="C3", ms=14, label="adopted")
    ax_cv.set_xticks(range(len(trees)), [str(t) for t in trees])
    ax_cv.set_xlabel("trees")
    ax_cv.set_ylabel(f"accuracy ({report['folds']}-fold CV)")
    ax_cv.legend(loc="lower right")

    labels = report["confusion"]["labels"]
    cm = np.asarray(report["confusion"]["rows_true_columns_predicted"], dtype=float)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax_cm.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        ax_cm.text(j, i, f"{int(v)}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                   color="white" if share[i, j] > 0.5 else "black")
    ax_cm.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax_cm.set_yticks(range(len(labels)), labels)
    ax_cm.set_xlabel("predicted")
    ax_cm.set_ylabel("true")
    ax_cm.set_title("out-of-fold confusion")

    items = sorted(report["importances"], key=lambda i: i["importance"])
    ax_imp.barh([i["attribute"] for i in items], [i["importance"] for i in items], color="C2")
    ax_imp.set_xlabel("normalised Gini importance")
    fig.suptitle(title or f"random forest: {report['best_trees']} trees adopted")
    return fig
