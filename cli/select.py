"""``facies select``: attribute selection by Gaussian mixtures over attribute combinations."""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.engine.errors import FaciesError


def select(store: Path = typer.Argument(None, help="Survey store holding the training table (with --training)."),
           training: str = typer.Option(None, "--training", help="Name of the training table in STORE."),
           csv: Path = typer.Option(None, "--csv", help="Training table as CSV: facies,inline,crossline,time|depth,attributes..."),
           attributes: str = typer.Option(None, "--attributes", help="Comma list of candidate attributes (default: all)."),
           max_clusters: int = typer.Option(2, "--max-clusters", help="J: fit K = 1..J clusters per facies."),
           models: str = typer.Option("default", "--models", help="default|all|comma list of mclust names."),
           sem_iter: int = typer.Option(200, "--sem-iter", help="Stochastic EM iterations."),
           dims: str = typer.Option(None, "--dims", help="Dimensions to try, e.g. 1-9 (default all)."),
           seed: int = typer.Option(0, "--seed", help="Seed of the counter-based generator."),
           device: str = typer.Option("auto", "--device", help="auto|cpu|gpu"),
           select_by: str = typer.Option("score", "--select-by", help="score|validation"),
           holdout: float = typer.Option(0.3, "--holdout", help="Held-out fraction per facies for validation."),
           out: Path = typer.Option(..., "--out", help="Output folder for combinations.csv, summary.json, scores.png.")) -> None:
    """Score every attribute combination by Bhattacharyya distance between per-facies Gaussian mixtures."""
    from facies.engine.backend import get_backend  # noqa: PLC0415
    from facies.engine.progress import WorkProgress  # noqa: PLC0415
    from facies.engine.selection import SelectionSettings, parse_dims, run_selection  # noqa: PLC0415
    from facies.engine.selection.results import write_outputs  # noqa: PLC0415
    from facies.engine.selection.settings import parse_models  # noqa: PLC0415
    from facies.engine.training import TrainingTable  # noqa: PLC0415 - built by the training workflow

    if (csv is None) == (store is None or training is None):
        raise FaciesError("give either STORE --training NAME or --csv TABLE.csv")
    survey = None
    if csv is not None:
        table = TrainingTable.from_csv(csv)
    else:
        from facies.engine.store import Survey  # noqa: PLC0415

        survey = Survey.open(store)
        table = TrainingTable.load(survey, training)
    names = list(table.attributes) if not attributes else [a.strip() for a in attributes.split(",") if a.strip()]
    missing = [a for a in names if a not in table.attributes]
    if missing:
        raise FaciesError(f"attribute(s) {', '.join(missing)} not in the training table; it has {', '.join(table.attributes)}")
    backend = get_backend(device)
    settings = SelectionSettings(models=parse_models(models), max_clusters=max_clusters, sem_iter=sem_iter,
                                 seed=seed, select_by=select_by, holdout=holdout)
    bars = []

    def progress(total):
        bars.append(WorkProgress("select", total, unit="fits").__enter__())
        return bars[-1]

    try:
        result = run_selection(table.by_facies(names), names, list(table.facies_names), settings,
                               dims=parse_dims(dims, len(names)), backend=backend,
                               require_gpu=(device or '').lower() == 'gpu', progress=progress)
    finally:
        for b in bars:
            b.__exit__(None, None, None)
    paths = write_outputs(result, out)
    if result.best is None:
        console.print("[red]no valid combination[/]: every combination has a facies without a valid fit")
    else:
        console.print(f"best: {', '.join(result.best.attributes)} (score {result.best.score:.4g})")
        if survey is not None:
            from facies.engine.selection.record import record_selection  # noqa: PLC0415

            record_selection(survey, {"attributes": list(result.best.attributes), "score": result.best.score,
                                      "out": str(Path(out).resolve()), "training": training,
                                      "select_by": select_by})
    for p in paths.values():
        console.print(f"wrote {p}")
