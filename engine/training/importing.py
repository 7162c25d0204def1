"""Training tables made elsewhere: check a CSV table against the survey before storing it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from facies.engine.training.table import TrainingTable


def _off_grid(values: np.ndarray, axis: np.ndarray, tolerance: float) -> np.ndarray:
    """Mask of values farther than ``tolerance`` from every value of the (increasing) axis."""
    values = np.asarray(values, dtype=np.float64)
    axis = np.asarray(axis, dtype=np.float64)
    right = np.clip(np.searchsorted(axis, values), 0, axis.size - 1)
    left = np.clip(right - 1, 0, axis.size - 1)
    nearest = np.minimum(np.abs(axis[right] - values), np.abs(axis[left] - values))
    return nearest > tolerance


def check_against_survey(table: TrainingTable, survey: Survey) -> None:
    """Raise FaciesError unless every attribute exists in the survey and every row lies on its grid.

    Row numbers in messages are CSV line numbers (the header is line 1).
    """
    g = survey.geometry
    if table.sample_axis != g.sample_axis:
        raise FaciesError(f"{table.source}: the table's sample column is {table.sample_axis} but the survey's "
                          f"sample axis is {g.sample_axis}")
    available = survey.attributes()
    unknown = [a for a in table.attribute_names if a not in available]
    if unknown:
        raise FaciesError(f"{table.source}: unknown attribute {unknown[0]!r}; the survey's attributes are "
                          f"{', '.join(available) or 'none'}")
    checks = (("inline", table.inline, g.inlines, 0.0), ("crossline", table.crossline, g.crosslines, 0.0),
              (g.sample_axis, table.sample, g.samples, 1e-3 * max(g.sample_interval, 1e-9)))
    for what, values, axis, tol in checks:
        bad = _off_grid(values, axis, tol)
        if bad.any():
            row = int(np.argmax(bad))
            raise FaciesError(f"{table.source} line {row + 2}: {what} {float(values[row]):g} is not on the survey grid "
                              f"({axis[0]:g}..{axis[-1]:g}); fix the row or import into the survey it came from")


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
