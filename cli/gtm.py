"""``facies gtm``: fit a Generative Topographic Map on a sample of the survey, project every voxel onto it
(facies probabilities and latent coordinates), draw the map, and score the facies against known labels."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from facies.cli.console import console
from facies.cli.options import (BRICK, DEVICE, JSON, MEMORY_FRACTION, OVERWRITE, RESUME, STORE, name_list,
                                run_options)
from facies.cli.rf import print_evaluation
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.store import Survey

app = typer.Typer(help="Generative Topographic Mapping: fit on a sample, project every voxel, show the map.",
                  no_args_is_help=True)

MODEL = typer.Option("gtm", "--model", help="GTM model name (gtm_models/<name> in the store).")


@app.command("fit")
def fit(store: Path = STORE,
        attributes: str = typer.Option(None, "--attributes", help="Comma-separated attribute volumes (default: "
                                                                  "the store's latest selection, filtered versions)."),
        selection: Path = typer.Option(None, "--selection", help="A 'facies select --out' folder: fit on its best "
                                                                 "combination."),
        training: str = typer.Option("picks", "--training", help="Training table giving the facies' PDFs."),
        grid: int = typer.Option(20, "--grid", help="Latent nodes per side (K = grid^2)."),
        basis: int = typer.Option(5, "--basis", help="Radial basis functions per side."),
        width: float = typer.Option(1.0, "--width", help="Basis width, in units of the basis spacing."),
        regularisation: float = typer.Option(0.1, "--regularisation", "--regularization",
                                             help="Weight penalty lambda (>= 0)."),
        iterations: int = typer.Option(200, "--iterations", help="Most EM iterations."),
        sample: int = typer.Option(200_000, "--sample", help="Live voxels in the stratified sample."),
        seed: int = typer.Option(0, "--seed", help="Seed of the sample."),
        priors: str = typer.Option("equal", "--priors", help="Facies priors of the GTC projection: equal|training."),
        name: str = typer.Option("gtm", "--name", help="Model name (gtm_models/<name> in the store)."),
        device: str = DEVICE, overwrite: bool = OVERWRITE) -> None:
    """Fit a GTM on a seeded, stratified sample of live voxels; store it with the training facies' PDFs."""
    from facies.engine.gtm.fit import fit_model  # noqa: PLC0415 - the kernels load only when used

    survey = Survey.open(store)
    # On stderr and only on a terminal, as the brick runs' bars (facies.engine.progress).
    bar = Progress(TextColumn("[bold]EM"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("log-likelihood {task.fields[ll]}"), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=not sys.stderr.isatty(), transient=False)
    task = bar.add_task("EM", total=iterations, ll="")

    def on_choice(choice) -> None:
        console.print(f"attributes ({choice.source}): {', '.join(choice.names)}: {choice.reason}")

    def on_iteration(iteration: int, loglik: float) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=iteration, ll=f"{loglik:.6g}")

    try:
        run = fit_model(survey, name, attributes=name_list(attributes), selection=selection, training=training,
                        grid=grid, basis=basis, width=width, regularisation=regularisation, iterations=iterations,
                        sample=sample, seed=seed, priors=priors, overwrite=overwrite, device=device,
                        on_iteration=on_iteration, on_choice=on_choice)
    finally:
        bar.stop()
    model, drawn = run.model, run.sample
    console.print(f"sample: {drawn.values.shape[0]} of {drawn.live} live voxels (seed {model.sample_seed}; "
                  f"{drawn.dropped} dropped for non-finite values)")
    state = "converged" if model.converged else "stopped at --iterations"
    console.print(f"EM: {model.iterations} iterations ({state}); log-likelihood {model.loglik[0]:.6g} -> "
                  f"{model.loglik[-1]:.6g}; beta {model.beta:.4g}")
    table = Table("facies", "training voxels", "prior", "PDF peak (u1, u2)", title=f"facies on GTM {name}")
    for facies, pdf, prior in zip(model.facies_names, model.pdfs, model.priors):
        k = int(pdf.argmax())
        table.add_row(facies, str(run.counts[facies]), f"{prior:.3f}",
                      f"({model.latent[k][0]:+.2f}, {model.latent[k][1]:+.2f})")
    console.print(table)
    console.print(f"saved gtm_models/{name} in {survey.path}")


@app.command("project")
def project(store: Path = STORE, model: str = MODEL,
            method: str = typer.Option("bhattacharyya", "--method", help="bhattacharyya|gtc: how a voxel's "
                                                                         "responsibilities become probabilities."),
            device: str = DEVICE, resume: bool = RESUME, overwrite: bool = OVERWRITE, brick: str = BRICK,
            memory_fraction: float = MEMORY_FRACTION) -> None:
    """Write prob_<model>_<facies>, facies_<model> (0 = no data), confidence_<model>, <model>_u1, <model>_u2."""
    from facies.engine.gtm.project import project_survey  # noqa: PLC0415

    options = run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                          overwrite=overwrite)
    survey = Survey.open(store)
    with exit_130_when_interrupted():
        result = project_survey(survey, model, method=method, options=options)
    names = result.names
    console.print(result.run.summary)
    console.print(f"method {result.method}; classes: {names['classes']}; probabilities: "
                  f"{', '.join(names['probabilities'])}; confidence: {names['confidence']}; latent: "
                  f"{', '.join(names['latent'])}")


@app.command("show")
def show(store: Path = STORE, model: str = MODEL,
         out: Path = typer.Option(..., "--out", help="Folder of the pictures and the CSV of the facies PDFs."),
         at: float = typer.Option(None, "--at", help="Time or depth of the slice (default: the middle)."),
         overwrite: bool = typer.Option(False, "--overwrite", help="Replace files an earlier show wrote.")) -> None:
    """Latent space by sample density, each facies' PDF, the (u1, u2) colour key, a slice through it, a CSV."""
    from facies.engine.gtm.show import show_model  # noqa: PLC0415 - matplotlib loads only when used

    result = show_model(Survey.open(store, mode="r"), model, out, overwrite=overwrite, sample=at)
    for what, path in result.files.items():
        console.print(f"  {what}: {path}")
    for what, why in result.skipped.items():
        console.print(f"  {what}: skipped ({why})")


@app.command("evaluate")
def evaluate(store: Path = STORE, model: str = MODEL,
             labels: str = typer.Option("truth", "--labels", help="Label volume with the true facies codes."),
             training: str = typer.Option("picks", "--training", help="Training table whose voxels are left out."),
             min_distance: float = typer.Option(3.0, "--min-distance",
                                                help="Count only voxels farther than this (>= 0, in voxels) "
                                                     "from training voxels."),
             as_json: bool = JSON) -> None:
    """Accuracy of facies_<model> against known labels (e.g. the synthetic truth), away from the training voxels."""
    from facies.engine.forest.evaluate import evaluate_classes  # noqa: PLC0415
    from facies.engine.schema import check_name  # noqa: PLC0415

    check_name(model, "GTM model")
    classes = f"facies_{model}"
    score = evaluate_classes(Survey.open(store, mode="r"), classes, labels=labels, training=training,
                             min_distance=min_distance)
    print_evaluation(score, classes, labels, as_json=as_json)
