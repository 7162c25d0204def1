"""Training tables made elsewhere: check a CSV table against the survey before storing it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from facies.engine.training.table import TrainingTable


def _check_on_grid(geometry: Geometry, axis: str, values: np.ndarray, source: str) -> None:
    """Raise FaciesError naming the CSV line of the first value of ``axis`` that is not on the grid."""
    try:
        geometry.indices(axis, values)
        return
    except FaciesError as exc:
        error = exc
    # Error path only: bisect for the first row whose prefix fails (the row the message names).
    good, bad = 0, len(values)
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            geometry.indices(axis, values[:middle])
            good = middle
        except FaciesError:
            bad = middle
    raise FaciesError(f"{source} line {bad + 1}: {error} (or import the table into the survey it came from)") from None


def check_against_survey(table: TrainingTable, survey: Survey) -> None:
    """Raise FaciesError unless every attribute exists in the survey and every row lies on its grid.

    Row numbers in messages are CSV line numbers (the header is line 1).
    """
    g = survey.geometry
    if table.sample_axis != g.sample_axis:
        raise FaciesError(f"{table.source}: the table's sample column is {table.sample_axis} but the survey's "
                          f"sample axis is {g.sample_axis}")
    try:
        survey.resolve_attributes(table.attribute_names)
    except FaciesError as exc:
        raise FaciesError(f"{table.source}: {exc}") from None
    for axis, values in (("inline", table.inline), ("crossline", table.crossline), ("sample", table.sample)):
        _check_on_grid(g, axis, values, table.source)


def import_training(survey: Survey, csv_path: str | Path, name: str = "picks", *, facies_names=None,
                    overwrite: bool = False) -> TrainingTable:
    """Read a training CSV, check it against the survey and store it as ``training/<name>``."""
    table = TrainingTable.from_csv(csv_path, facies_names=facies_names)
    if len(table) == 0:
        raise FaciesError(f"{csv_path} has a header but no rows")
    check_against_survey(table, survey)
    table.save(survey, name, overwrite=overwrite,
               provenance=make_provenance("facies training import", {"csv": Path(csv_path).name}, inputs=[str(csv_path)]))
    return table
