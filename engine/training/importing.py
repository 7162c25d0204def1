"""Training tables made elsewhere: check a CSV table against the survey before storing it.

A table made elsewhere must say what an extracted one guarantees: every row on the survey's grid,
and each voxel once with one facies (extraction refuses a voxel claimed by two facies and keeps a
voxel claimed twice by one facies once). The CSV reader already refuses NaN, infinite and
out-of-range values and empty facies names. Messages name the CSV line and quote the value as
written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from facies.engine.training.table import CsvRows, TrainingTable, read_training_csv

#: Survey axes in the order of the position columns.
_AXES = ("inline", "crossline", "sample")


def _on_grid(geometry: Geometry, axis: str, values: np.ndarray, cells: np.ndarray, lines: np.ndarray,
             source: str) -> np.ndarray:
    """Indices of ``values`` on ``axis``; FaciesError naming the CSV line of the first value off the grid."""
    try:
        return geometry.indices(axis, values)
    except FaciesError:
        pass
    # Error path only: bisect for the first row whose prefix fails (the row the message names).
    good, bad = 0, len(values)
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            geometry.indices(axis, values[:middle])
            good = middle
        except FaciesError:
            bad = middle
    row = bad - 1
    try:
        geometry.indices(axis, values[row:row + 1])
        message = f"{axis} {cells[row]} is not in the survey"  # pragma: no cover - the bisection found it
    except FaciesError as exc:
        message = str(exc)
    # The survey's message prints the value with 6 digits (1000001 as 1e+06): quote the file's cell instead.
    name = geometry.sample_axis if axis == "sample" else axis
    _, found, rest = message.partition(" is not in the survey")
    if found:
        message = f"{name} {cells[row]}{found}{rest}"
    raise FaciesError(f"{source} line {lines[row]}: {message} (or import the table into the survey it came from)")


def _one_row_per_voxel(table: TrainingTable, geometry: Geometry, index: list[np.ndarray], rows: CsvRows) -> None:
    """FaciesError for the first row (in file order) whose voxel an earlier row already labels."""
    flat = np.ravel_multi_index(tuple(index), geometry.shape)
    order = np.argsort(flat, kind="stable")  # stable: among rows of one voxel, the earlier line comes first
    repeat = np.zeros(flat.size, dtype=bool)
    repeat[1:] = flat[order][1:] == flat[order][:-1]
    if not repeat.any():
        return
    later = int(order[repeat].min())
    first = int(order[np.searchsorted(flat[order], flat[later])])
    where = ", ".join(f"{geometry.sample_axis if axis == 'sample' else axis} {rows.cells[axis][later]}"
                      for axis in _AXES)
    names = [table.facies_names[int(table.codes[k]) - 1] for k in (first, later)]
    lines = (int(rows.lines[first]), int(rows.lines[later]))
    if names[0] != names[1]:
        raise FaciesError(f"{table.source} lines {lines[0]} and {lines[1]} label the voxel at {where} as {names[0]} "
                          f"and as {names[1]}; a voxel has one facies: remove one of the rows")
    raise FaciesError(f"{table.source} line {lines[1]} repeats the voxel of line {lines[0]} ({where}, {names[0]}); "
                      "give each voxel once (a repeated voxel would weigh twice in the fits)")


def check_against_survey(table: TrainingTable, survey: Survey, rows: CsvRows | None = None) -> None:
    """Raise FaciesError unless every attribute exists in the survey, every row lies on its grid, and no
    two rows label one voxel.

    Parameters
    ----------
    table : TrainingTable
    survey : Survey
    rows : CsvRows, optional
        From :func:`~facies.engine.training.table.read_training_csv`: messages then name the CSV line
        and quote the cells as written. Without it, row ``k`` is called line ``k + 2`` (a CSV with
        a header and no blank line) and the values are printed with all their digits.
    """
    g = survey.geometry
    if table.sample_axis != g.sample_axis:
        raise FaciesError(f"{table.source}: the table's sample column is {table.sample_axis} but the survey's "
                          f"sample axis is {g.sample_axis}")
    try:
        survey.resolve_attributes(table.attribute_names, include_virtual=True)  # names only: nothing is read
    except FaciesError as exc:
        raise FaciesError(f"{table.source}: {exc}") from None
    if rows is None:
        # numpy writes each value with the shortest digits that read back to it (float32 1e30 as 1e+30)
        rows = CsvRows(lines=np.arange(2, len(table) + 2),
                       cells={axis: values.astype(str) for axis, values in
                              zip(_AXES, (table.inline, table.crossline, table.sample))})
    # Positions as written (float64), not the stored float32: 1e30 is checked and named as 1e30.
    index = [_on_grid(g, axis, rows.cells[axis].astype(np.float64), rows.cells[axis], rows.lines, table.source)
             for axis in _AXES]
    _one_row_per_voxel(table, g, index, rows)


def import_training(survey: Survey, csv_path: str | Path, name: str = "picks", *, facies_names=None,
                    overwrite: bool = False) -> TrainingTable:
    """Read a training CSV, check it against the survey and store it as ``training/<name>``.

    Raises
    ------
    FaciesError
        What :func:`~facies.engine.training.table.read_training_csv` and :func:`check_against_survey`
        refuse, a CSV without rows, or an existing table (whole or damaged) without ``overwrite``.
    ArrayBusyError
        When another command saves or reads the table right now (the save is whole or not at all:
        :meth:`~facies.engine.training.table.TrainingTable.save`).
    """
    table, rows = read_training_csv(csv_path, facies_names=facies_names)
    if len(table) == 0:
        raise FaciesError(f"{csv_path} has a header but no rows")
    check_against_survey(table, survey, rows)
    table.save(survey, name, overwrite=overwrite,
               provenance=make_provenance("facies training import", {"csv": Path(csv_path).name},
                                          inputs=[str(csv_path)]))
    return table
