"""``facies rf``: train a random forest on training voxels, and classify the whole survey with it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from facies.cli.console import console, print_json
from facies.cli.options import (BRICK, DEVICE, JSON, MEMORY_FRACTION, OVERWRITE, RESUME, STORE, int_tuple, name_list,
                                run_options)
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.store import Survey

app = typer.Typer(help="Random-forest facies classification (train on training voxels, predict the survey).",
                  no_args_is_help=True)


@app.command("train")
def train(store: Path = STORE,
          name: str = typer.Option(..., "--name", help="Model name (models/<name> in the store)."),
          training: str = typer.Option(None, "--training", help="Training table in the store (default: picks)."),
          csv: Path = typer.Option(None, "--csv", help="Training table as CSV instead of one in the store."),
          attributes: str = typer.Option(None, "--attributes",
                                         help="Comma-separated attributes "
                                              "(default: attribute selection's best, else all)."),
          trees: str = typer.Option("50,100,200", "--trees",
                                    help="Candidate tree counts (1..10000), chosen by 5-fold CV."),
          max_depth: int = typer.Option(None, "--max-depth", help="Maximum tree depth, 1..64 (default: unlimited)."),
          normalise: bool = typer.Option(False, "--normalise", "--normalize",
                                         help="Z-score every attribute (stats stored with the model)."),
          seed: int = typer.Option(0, "--seed", help="Seed of the folds and the forests."),
          split: str = typer.Option("auto", "--split",
                                    help="Cross-validation folds: polygons (whole polygons held out), random, or "
                                         "auto (polygons when every facies has two or more)."),
          out: Path = typer.Option(None, "--out", help="Folder of the CSV and PNG report (default: beside the store)."),
          overwrite: bool = OVERWRITE) -> None:
    """Cross-validate tree counts, refit on all training voxels, store the forest; print CV and importances."""
    from facies.engine.forest.workflow import train_model  # noqa: PLC0415 - scikit-learn loads only when used

    survey = Survey.open(store)
    run = train_model(survey, name, training=training, csv=csv, attributes=name_list(attributes),
                      trees=list(int_tuple(trees, "--trees", example="50,100,200")), max_depth=max_depth,
                      normalise=normalise, seed=seed, out_dir=out, overwrite=overwrite, split=split)
    report, model = run.trained.report, run.trained.model
    console.print(f"[bold]model {name}[/]: {report['rows']} training voxels, {len(model.attributes)} attributes "
                  f"({run.attribute_source}): {', '.join(model.attributes)}")
    grouped = report.get("cv_split") == "polygons"
    cv = Table("trees", *(f"fold {k + 1}" for k in range(report["folds"])), "mean", "std",
               *(("mean, polygons held out", "mean, random voxels") if grouped else ()),
               title=f"cross-validation accuracy ({'whole polygons held out' if grouped else 'random voxels'})")
    for c in report["candidates"]:
        mark = " *" if c["trees"] == report["best_trees"] else ""
        both = (f"{c['mean_accuracy_polygons']:.4f}", f"{c['mean_accuracy_random']:.4f}") if grouped else ()
        cv.add_row(f"{c['trees']}{mark}", *(f"{a:.4f}" for a in c["fold_accuracy"]),
                   f"{c['mean_accuracy']:.4f}", f"{c['std_accuracy']:.4f}", *both)
    console.print(cv)
    if report.get("cv_note"):
        console.print(f"cross-validation: {report['cv_note']}")
    per_facies = Table("facies", "voxels", "precision", "recall", *report["confusion"]["labels"],
                       title=f"out-of-fold scores at {report['best_trees']} trees (rows: true, columns: predicted)")
    for f, row in zip(report["facies"], report["confusion"]["rows_true_columns_predicted"]):
        per_facies.add_row(f["name"], str(f["support"]), f"{f['precision']:.3f}", f"{f['recall']:.3f}", *map(str, row))
    console.print(per_facies)
    importance = Table("attribute", "importance", title="normalised Gini importance")
    for item in sorted(report["importances"], key=lambda i: -i["importance"]):
        importance.add_row(item["attribute"], f"{item['importance']:.3f}")
    console.print(importance)
    console.print(f"adopted {model.trees} trees; saved models/{name} in {survey.path}")
    for what, path in run.files.items():
        console.print(f"  {what}: {path}")


@app.command("predict")
def predict(store: Path = STORE,
            model: str = typer.Option(..., "--model", help="Model name (models/<name> in the store)."),
            device: str = DEVICE, resume: bool = RESUME, overwrite: bool = OVERWRITE, brick: str = BRICK,
            memory_fraction: float = MEMORY_FRACTION) -> None:
    """Write facies_<model> (uint8, 0 = no data), prob_<model>_<facies> and confidence_<model> over the survey."""
    from facies.engine.forest.predict_survey import predict_survey  # noqa: PLC0415

    options = run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                          overwrite=overwrite)
    survey = Survey.open(store)
    with exit_130_when_interrupted():
        result = predict_survey(survey, model, options=options)
    console.print(result.run.summary)
    console.print(f"classes: {result.classes}; probabilities: {', '.join(result.probabilities)}; "
                  f"confidence: {result.confidence}")


@app.command("evaluate")
def evaluate(store: Path = STORE,
             model: str = typer.Option(..., "--model", help="Model name whose facies_<model> is scored."),
             labels: str = typer.Option("truth", "--labels", help="Label volume with the true facies codes."),
             training: str = typer.Option("picks", "--training", help="Training table whose voxels are left out."),
             min_distance: float = typer.Option(3.0, "--min-distance",
                                                help="Count only voxels farther than this (>= 0, in voxels) "
                                                     "from training voxels."),
             as_json: bool = JSON) -> None:
    """Accuracy of facies_<model> against known labels (e.g. the synthetic truth), away from the training voxels."""
    from facies.engine.forest.evaluate import evaluate_model  # noqa: PLC0415

    score = evaluate_model(Survey.open(store, mode="r"), model, labels=labels, training=training,
                           min_distance=min_distance)
    print_evaluation(score, f"facies_{model}", labels, as_json=as_json)


def print_evaluation(score: dict, classes: str, labels: str, *, as_json: bool) -> None:
    """Print a held-out score (``rf evaluate``, ``gtm evaluate``): JSON, or one line with the recall per facies."""
    if as_json:
        print_json(score)
        return
    recall = ", ".join(f"{name} {value:.3f}" for name, value in score["recall"].items())
    console.print(f"{classes} vs {labels}: accuracy {score['accuracy']:.3f} on {score['voxels']} voxels farther "
                  f"than {score['min_distance']:g} voxels from the training voxels; recall: {recall}")
