"""``facies select``: attribute selection by Gaussian mixtures over attribute combinations."""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import DEVICE, name_list
from facies.cli.runs import INTERRUPTED


#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("select")
def select(store: Path = typer.Argument(None, help="Survey store holding the training table (with --training)."),
           training: str = typer.Option(None, "--training", help="Name of the training table in STORE."),
           csv: Path = typer.Option(None, "--csv",
                                    help="Training table as CSV: facies,inline,crossline,time|depth,attributes..."),
           attributes: str = typer.Option(None, "--attributes",
                                          help="Comma list of candidate attributes (default: all)."),
           max_clusters: int = typer.Option(2, "--max-clusters", help="J: fit K = 1..J clusters per facies."),
           models: str = typer.Option("default", "--models", help="default|all|comma list of mclust names."),
           sem_iter: int = typer.Option(200, "--sem-iter", help="Stochastic EM iterations."),
           dims: str = typer.Option(None, "--dims", help="Dimensions to try, e.g. 1-9 (default all)."),
           seed: int = typer.Option(0, "--seed", help="Seed of the counter-based generator."),
           device: str = DEVICE,
           select_by: str = typer.Option("score", "--select-by", help="score|validation"),
           score: str = typer.Option("aaspi", "--score",
                                     help="aaspi (the notes' eq. 8: all cluster pairs, same facies included, "
                                          "over M^2 J^2) | between-facies (clusters of different facies, per "
                                          "facies pair over K_a K_b)."),
           choose: str = typer.Option("argmax", "--choose",
                                      help="Overall best by score: argmax (eq. 9) | parsimony (smallest dimension "
                                           "within --tolerance of the top)."),
           tolerance: float = typer.Option(0.01, "--tolerance",
                                           help="Fraction of the top score for --choose parsimony."),
           bic: str = typer.Option("classification", "--bic",
                                   help="classification (eq. 6 with the CEM log-likelihood, eq. 5) | "
                                        "observed (mclust)."),
           init: str = typer.Option("pca2", "--init",
                                    help="k-means start: pca2 (300 iterations on the first two principal axes) | "
                                         "full (20 iterations on all attributes)."),
           split: str = typer.Option("auto", "--split",
                                     help="Held-out voxels: auto (whole polygons when every facies has 2 or more, "
                                          "else random) | polygons | random."),
           holdout: float = typer.Option(0.3, "--holdout", help="Held-out fraction per facies for validation."),
           workers: int = typer.Option(0, "--workers", help="CPU worker processes (0: one per core when the run is "
                                                            "longer than a few seconds, else 1)."),
           out: Path = typer.Option(..., "--out",
                                    help="Output folder for combinations.csv, summary.json, scores.png.")) -> None:
    """Score every attribute combination by Bhattacharyya distance between per-facies Gaussian mixtures.

    A bad --out (a file, or a path under one) is refused before any fitting. A run that finds no valid
    combination, or stops on bad training data, exits with one error line and leaves no earlier result
    looking current: the earlier files in --out are removed and the store's selection record emptied.
    """
    from facies.engine.selection import SelectionSettings, select_attributes  # noqa: PLC0415
    from facies.engine.selection.settings import parse_models  # noqa: PLC0415

    settings = SelectionSettings(models=parse_models(models), max_clusters=max_clusters, sem_iter=sem_iter,
                                 seed=seed, select_by=select_by, holdout=holdout, score=score, choose=choose,
                                 score_tolerance=tolerance, bic=bic, init=init, split=split, workers=workers)
    try:
        run = select_attributes(survey=store, training=training, csv=csv, attributes=name_list(attributes),
                                settings=settings, dims=dims, device=device, out=out)
    except KeyboardInterrupt:
        # the outputs are written at the end, each file whole and summary.json last (engine/selection/results.py)
        typer.echo("facies: interrupted; a selection writes its summary.json and store record only when it finishes",
                   err=True)
        raise typer.Exit(INTERRUPTED) from None
    # a run without a valid combination is a FaciesError (one line, exit 2): here there is a best
    result = run.result
    best = result.best
    console.print(f"best: {', '.join(best.attributes)} (score {best.score:.4g}, --score {result.settings.score})")
    if result.validation:
        console.print(f"held-out accuracy per dimension ({result.split_note}):")
        console.print("  n  score       polygons  random")
        for dim, top in result.best_per_dimension.items():
            console.print(f"  {dim:<2} {top.score:<11.4g} {_pct(result.validation_grouped.get(dim)):<9} "
                          f"{_pct(result.validation_random.get(dim))}")
    if run.record is not None:
        console.print(f"recorded in {store} (the forest trains on these attributes by default)")
    for p in run.files.values():
        console.print(f"wrote {p}")


def _pct(value) -> str:
    """An accuracy as a percentage, or "-" when there is none (no such split)."""
    return "-" if value is None or value != value else f"{100 * value:.1f}%"
