"""``facies rf train`` as one engine call: table -> attributes -> forest -> store + report files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.forest.attributes import choose_attributes
from facies.engine.forest.figures import plot_training
from facies.engine.forest.model_io import list_models, save_model
from facies.engine.forest.report import write_report_csv
from facies.engine.forest.train import (CV_SPLITS, DEFAULT_TREES, TrainedForest, check_candidates, check_max_depth,
                                        train_forest)
from facies.engine.provenance import make_provenance
from facies.engine.schema import check_name
from facies.engine.training import TrainingTable


@dataclass
class TrainingRun:
    """What :func:`train_model` made: the forest, where its attributes came from, the files written."""

    trained: TrainedForest
    attribute_source: str
    files: dict[str, Path] = field(default_factory=dict)


def default_report_folder(survey, name: str) -> Path:
    """``<store stem>_rf_<name>/`` beside the store."""
    path = Path(survey.path)
    return path.parent / f"{path.name.removesuffix('.zarr')}_rf_{name}"


def train_model(survey, name: str, *, training: str | None = None, csv: str | Path | None = None,
                attributes=None, trees=DEFAULT_TREES, max_depth: int | None = None, normalise: bool = False,
                seed: int = 0, out_dir: str | Path | None = None, overwrite: bool = False,
                n_jobs: int | None = -1, figure: bool = True, split: str = "auto") -> TrainingRun:
    """Train a forest on a stored or CSV training table, store it as ``models/<name>``, write its report.

    Parameters
    ----------
    survey : Survey
        Writable store (the model goes there; attribute selection's result is read from it).
    name : str
        Model name.
    training : str, optional
        Training table in the store (default ``picks`` when no ``csv`` is given).
    csv : path-like, optional
        Training table as CSV instead.
    attributes : sequence of str, optional
        Attributes to use; default: attribute selection's best combination, else all of the table's.
    trees, max_depth, normalise, seed, n_jobs, split
        See :func:`~facies.engine.forest.train.train_forest` (``split``: cross-validation folds of whole polygons
        when every facies has two or more, ``auto``; or ``polygons``, ``random``).
    out_dir : path-like, optional
        Folder of the CSV and PNG report (default: beside the store).
    overwrite : bool
        Replace a model of the same name.
    figure : bool
        Draw the PNG.
    """
    check_name(name, "model")
    # Bounds first: a bad option is reported before the table is read.
    candidates, max_depth = check_candidates(trees), check_max_depth(max_depth)
    if split not in CV_SPLITS:
        raise FaciesError(f"--split must be {' or '.join(map(repr, CV_SPLITS))}, not {split!r}")
    if name in list_models(survey) and not overwrite:
        raise FaciesError(f"model {name!r} already exists in {survey.path}; pass --overwrite or choose another --name")
    if training is not None and csv is not None:
        raise FaciesError("give either --training NAME or --csv FILE, not both")
    table = TrainingTable.from_csv(csv) if csv is not None else TrainingTable.load(survey, training or "picks")
    names, source = choose_attributes(table, survey, attributes)
    training_source = str(csv) if csv is not None else (training or "picks")
    parameters = {"training": training_source, "attributes": names,
                  "attribute_source": source, "trees": list(candidates), "max_depth": max_depth,
                  "normalise": bool(normalise), "seed": int(seed), "split": split}
    provenance = make_provenance("facies rf train", parameters, inputs=[training_source])
    trained = train_forest(table, names, name=name, trees=trees, max_depth=max_depth, normalise=normalise,
                           seed=seed, n_jobs=n_jobs, provenance=provenance, split=split)
    save_model(survey, trained.model, overwrite=overwrite)
    folder = Path(out_dir) if out_dir is not None else default_report_folder(survey, name)
    files = write_report_csv(trained.report, folder, name)
    if figure:
        files["figure"] = plot_training(trained.report, folder / f"{name}_training.png",
                                        title=f"random forest {name}: {trained.model.trees} trees, "
                                              f"{len(names)} attributes")
    return TrainingRun(trained, source, files)
