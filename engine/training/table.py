"""The training table: one row per labelled voxel, its facies code, position and attribute values.

Stored in the survey as ``training/<name>``, a Zarr group of 1D arrays ``facies`` (uint8),
``inline``, ``crossline`` (int32), ``time`` or ``depth`` (float32), ``polygon`` (int32) and one
float32 array per attribute, with the facies names, attribute order, polygon source and
provenance in the group's ``facies`` attribute. Exchanged as CSV with the header
``facies,inline,crossline,time|depth,<attribute>...`` (facies by name), UTF-8. Reading a CSV
(:func:`read_training_csv`) refuses, naming the file's line and quoting the cell as written, what no
table may hold: empty facies names, values that are not finite numbers, line numbers that are not
whole int32 values, and times, depths or attributes beyond float32.

A table is written whole under ``training/_partial-<name>``, its ``facies`` attribute (with
``"complete": true``) last, and only then moved to ``training/<name>``: a save killed half way
never leaves a table that looks real, and an overwritten table stays readable until the move.
A save holds an exclusive lock on the table (``_runs/training.<name>.run.lock``), a read a shared
one, so two saves of one name, or a save and a read, never meet: the later one is refused with one
line. Reading checks the table whole (every column there, of its dtype and length); a damaged table
is one line naming it. Models are saved, locked, listed and opened with the same helpers
(:mod:`facies.engine.staging`: :func:`~facies.engine.staging.save_whole`,
:func:`~facies.engine.staging.member_locked`, :func:`~facies.engine.staging.member_names`,
:func:`~facies.engine.staging.open_member`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.integrity import DamagedArrayError, damage_found
from facies.engine.paths import check_input_file, check_new_path, exists, written_then_moved
from facies.engine.provenance import jsonable
from facies.engine.schema import COMPLETE_FIELD, FACIES_KEY, TRAINING_GROUP, check_name
from facies.engine.staging import member_locked, member_names, open_member, save_whole
from facies.engine.store import Survey, compressors

#: Column names that are not attributes (the sample column is "time" or "depth").
POSITION_COLUMNS = ("facies", "inline", "crossline", "polygon", "time", "depth")
#: Format of float columns in CSV: 9 significant digits read back to the same float32.
_CSV_FLOAT = "%.9g"


@dataclass(eq=False)
class TrainingTable:
    """Labelled voxels with their attribute values.

    Attributes
    ----------
    facies_names : list of str
        Code ``i + 1`` is ``facies_names[i]``; 0 is never used in a table.
    codes : ndarray of uint8, shape (n,)
    inline, crossline : ndarray of int32, shape (n,)
        Line numbers (not indices).
    sample : ndarray of float32, shape (n,)
        Time or depth values.
    sample_axis : {"time", "depth"}
    attributes : dict of str to ndarray of float32
        One column per attribute, in insertion order.
    polygon : ndarray of int32, shape (n,)
        Index of the source polygon in the polygon file; -1 for rows imported from CSV.
    source : str
        Where the rows came from (polygon file name or CSV path).
    report : dict
        Extraction report (per polygon and per facies counts, warnings); empty for imported tables.
    """

    facies_names: list[str]
    codes: np.ndarray
    inline: np.ndarray
    crossline: np.ndarray
    sample: np.ndarray
    sample_axis: str
    attributes: dict[str, np.ndarray]
    polygon: np.ndarray
    source: str = ""
    report: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.facies_names = [str(n) for n in self.facies_names]
        self.codes = np.asarray(self.codes, dtype=np.uint8)
        self.inline = np.asarray(self.inline, dtype=np.int32)
        self.crossline = np.asarray(self.crossline, dtype=np.int32)
        self.sample = np.asarray(self.sample, dtype=np.float32)
        self.polygon = np.asarray(self.polygon, dtype=np.int32)
        self.attributes = {str(k): np.asarray(v, dtype=np.float32) for k, v in self.attributes.items()}
        n = self.codes.size
        columns = {"inline": self.inline, "crossline": self.crossline, "sample": self.sample,
                   "polygon": self.polygon, **self.attributes}
        bad = [k for k, v in columns.items() if v.shape != (n,)]
        if bad:
            raise FaciesError(f"training table columns {', '.join(bad)} do not have {n} rows like the facies codes")
        clash = [k for k in self.attributes if k in POSITION_COLUMNS]
        if clash:
            raise FaciesError(f"attribute name {clash[0]!r} clashes with a training-table column; rename the attribute")
        if n and (self.codes.min() < 1 or self.codes.max() > len(self.facies_names)):
            raise FaciesError(f"facies codes must lie in 1..{len(self.facies_names)} (one per facies name)")

    def __len__(self) -> int:
        return int(self.codes.size)

    @property
    def attribute_names(self) -> list[str]:
        """Attribute column names, in order."""
        return list(self.attributes)

    def _names(self, names) -> list[str]:
        names = self.attribute_names if names is None else list(names)
        unknown = [n for n in names if n not in self.attributes]
        if unknown:
            raise FaciesError(f"training table has no attribute {unknown[0]!r} (it has {', '.join(self.attributes)})")
        return names

    def matrix(self, names=None) -> np.ndarray:
        """The (n, d) float32 matrix of the chosen attribute columns (all by default)."""
        names = self._names(names)
        if not names:
            return np.zeros((len(self), 0), dtype=np.float32)
        return np.stack([self.attributes[n] for n in names], axis=1)

    def by_facies(self, names=None) -> list[np.ndarray]:
        """One (n_m, d) matrix per facies, in code order (empty for a facies without rows)."""
        x = self.matrix(names)
        return [x[self.codes == code] for code in range(1, len(self.facies_names) + 1)]

    def counts(self) -> np.ndarray:
        """Rows per facies, in code order."""
        return np.bincount(self.codes, minlength=len(self.facies_names) + 1)[1:]

    # -------------------------------------------------------------------------------------- the store
    def save(self, survey: Survey, name: str = "picks", overwrite: bool = False,
             provenance: dict[str, Any] | None = None) -> None:
        """Write the table to ``training/<name>`` in the survey, whole or not at all.

        The table is written under ``training/_partial-<name>`` and moved into place only once every
        column and the attributes are written, under an exclusive lock on the table (see
        :func:`~facies.engine.staging.save_whole`): a failed or killed save leaves the previous table as it was, and two
        saves of one name never mix their columns (the second is refused with one line).

        Parameters
        ----------
        survey : Survey
        name : str
            Table name.
        overwrite : bool
            Replace an existing table; otherwise an existing name is an error. The folder of a save
            that an older facies left incomplete is replaced without it.
        provenance : dict, optional
            From :func:`~facies.engine.provenance.make_provenance`; stored with the table.

        Raises
        ------
        FaciesError
            A bad name, an existing table without ``overwrite``, a damaged ``training`` group.
        ArrayBusyError
            When another command saves or reads the table right now.
        """
        check_name(name, "training table")
        n = len(self)
        chunks = (max(1, min(n, 1 << 20)),)
        columns = {"facies": self.codes, "inline": self.inline, "crossline": self.crossline,
                   self.sample_axis: self.sample, "polygon": self.polygon, **self.attributes}

        def write(parent: zarr.Group, key: str) -> None:
            group = parent.create_group(key)
            for column, values in columns.items():
                arr = group.create_array(column, shape=(n,), dtype=values.dtype, chunks=chunks,
                                         dimension_names=["voxel"],
                                         compressors=compressors("zstd"))  # checksummed like every array of the store
                if n:
                    arr[...] = values
            group.attrs[FACIES_KEY] = jsonable({
                "facies_names": self.facies_names, "attributes": self.attribute_names,
                "sample_axis": self.sample_axis, "source": self.source, "rows": n,
                "report": self.report, "provenance": dict(provenance or {}),
                "polygons": self.report.get("polygons_file", {}), COMPLETE_FIELD: True,
            })

        save_whole(survey, TRAINING_GROUP, name, "training table", write, overwrite=overwrite,
                   is_junk=lambda: not table_exists(survey, name))

    @classmethod
    def load(cls, survey: Survey, name: str = "picks") -> TrainingTable:
        """Read ``training/<name>`` from the survey, checked whole.

        Holds a shared lock on the table while it reads: a save of the table meanwhile is refused,
        and so is this read while a save runs. Every column the table's attributes name must be
        there, one-dimensional, of its dtype and of the table's row count.

        Raises
        ------
        FaciesError
            No table of that name, or one an interrupted save of an older facies left incomplete.
        DamagedArrayError
            A damaged table: its ``zarr.json`` or a column's is missing or unreadable, a column is
            missing, has another length or dtype, or a chunk of it is missing or altered, its
            attributes are not what a save writes, or its facies codes are out of range.
        ArrayBusyError
            When another command saves the table right now.
        """
        check_name(name, "training table")
        with member_locked(survey, TRAINING_GROUP, name, "training table", shared=True):
            group = _table_group(survey, name)
            try:
                return _read_table(cls, group)
            except _DamagedTable as exc:
                raise DamagedArrayError(f"training table {name!r} in {survey.path} is damaged ({exc}); "
                                        f"{remake_hint(survey, name)}") from None

    # -------------------------------------------------------------------------------------- CSV
    def to_csv(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write ``facies,inline,crossline,time|depth,<attribute>...`` with facies names; floats round-trip.

        The file is written whole (a temporary name, then renamed); an existing file is replaced only
        with ``overwrite``.
        """
        path = Path(path)
        if path.is_dir():
            raise FaciesError(f"{path} is a folder; give the CSV file's name, e.g. {path / 'training.csv'}")
        check_new_path(path, "CSV file")
        if exists(path) and not overwrite:
            raise FaciesError(f"{path} already exists; pass --overwrite to replace it or choose another name")
        names = np.array(self.facies_names, dtype=object)
        columns = [names[self.codes.astype(np.intp) - 1] if len(self) else np.zeros(0, object),
                   self.inline.astype(str), self.crossline.astype(str),
                   *(np.char.mod(_CSV_FLOAT, c.astype(np.float64)) for c in (self.sample, *self.attributes.values()))]

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:  # what from_csv reads, whatever the locale
                writer = csv.writer(fh)
                writer.writerow(["facies", "inline", "crossline", self.sample_axis, *self.attributes])
                writer.writerows(zip(*columns))

        written_then_moved(path, write)

    @classmethod
    def from_csv(cls, path: str | Path, facies_names: list[str] | None = None) -> TrainingTable:
        """Read a training CSV.

        Parameters
        ----------
        path : path-like
        facies_names : list of str, optional
            Facies in code order; by default the order of first appearance in the file.

        Raises
        ------
        FaciesError
            See :func:`read_training_csv`.
        """
        return read_training_csv(path, facies_names)[0]


@dataclass(frozen=True)
class CsvRows:
    """Where the rows of a training CSV came from, so that messages quote the file as written.

    Attributes
    ----------
    lines : ndarray of int64
        Line of each row in the file (the header is line 1; blank lines are skipped but counted).
    cells : dict of str to ndarray of str
        The ``inline``, ``crossline`` and ``sample`` cells of each row, as written (stripped): a
        float32 column would print ``1e30`` as ``1.0000000150474662e+30``.
    """

    lines: np.ndarray
    cells: dict[str, np.ndarray]


def read_training_csv(path: str | Path, facies_names: list[str] | None = None) -> tuple[TrainingTable, CsvRows]:
    """Read a training CSV and keep where each row came from.

    Parameters
    ----------
    path : path-like
        ``facies,inline,crossline,time|depth,<attribute>...``, UTF-8 (a byte-order mark is fine).
    facies_names : list of str, optional
        Facies in code order; by default the order of first appearance in the file.

    Returns
    -------
    (TrainingTable, CsvRows)

    Raises
    ------
    FaciesError
        Naming the line and quoting the cell: a file that is not UTF-8 text or not CSV, a bad header, a
        row with another number of fields, an empty facies name or one outside ``facies_names``, a
        value that is not a number, NaN or infinite (or beyond float64), a line number that is not whole
        or beyond int32, a time/depth or attribute value beyond float32.
    """
    path = check_input_file(path, "training CSV")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise FaciesError(f"{path} line {line} is not UTF-8 text ({exc.reason}); save the table as UTF-8 CSV") from None
    rows: list[list[str]] = []
    line_nums: list[int] = []  # the line of each row in the file
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append(row)
                line_nums.append(reader.line_num)
    except csv.Error as exc:
        raise FaciesError(f"{path} line {reader.line_num} is not CSV ({exc})") from None
    if not rows:
        raise FaciesError(f"{path} is empty; expected a header facies,inline,crossline,time|depth,<attributes>")
    header = [c.strip() for c in rows[0]]
    if len(header) < 5 or header[:3] != ["facies", "inline", "crossline"] or header[3] not in ("time", "depth"):
        raise FaciesError(f"{path}: header must start facies,inline,crossline,time (or depth) and name at least "
                          f"one attribute; it is {','.join(header)}")
    attrs = header[4:]
    if len(set(attrs)) != len(attrs) or any(a in POSITION_COLUMNS or not a for a in attrs):
        raise FaciesError(f"{path}: attribute columns must be unique, non-empty and not position names: "
                          f"{','.join(attrs)}")
    lines = np.array(line_nums[1:], dtype=np.int64)
    bad = [k for k, r in enumerate(rows[1:]) if len(r) != len(header)]
    if bad:
        raise FaciesError(f"{path} line {lines[bad[0]]}: {len(rows[bad[0] + 1])} fields, the header has {len(header)}")
    body = np.array(rows[1:], dtype=object).reshape(-1, len(header))
    names = [c.strip() for c in body[:, 0]]
    if "" in names:
        raise FaciesError(f"{path} line {lines[names.index('')]}: the facies name is empty; every row needs one")
    order = _facies_order(facies_names, names, path)
    lookup = {n: i + 1 for i, n in enumerate(order)}
    unknown = sorted(set(names) - set(lookup))
    if unknown:
        raise FaciesError(f"{path}: facies {', '.join(unknown)} not in the given facies list ({', '.join(order)})")
    if len(order) > 255:
        raise FaciesError(f"{path}: {len(order)} facies; at most 255 fit the uint8 class codes")
    columns = header[1:]
    numbers = np.stack([_parse_column(body[:, 1 + c], name, lines, path) for c, name in enumerate(columns)], axis=1) \
        if len(body) else np.zeros((0, len(columns)))
    _check_finite(numbers, body[:, 1:], columns, lines, path)
    inline = _line_numbers(numbers[:, 0], body[:, 1], "inline", lines, path)
    crossline = _line_numbers(numbers[:, 1], body[:, 2], "crossline", lines, path)
    _check_float32(numbers[:, 2:], body[:, 3:], columns[2:], lines, path)
    # Through float64: 9-digit decimals then round to the float32 they were written from.
    values = numbers[:, 2:].astype(np.float32)
    # Map names to codes once per distinct name, not per row.
    distinct, inverse = np.unique(np.array(names, dtype=object), return_inverse=True)
    codes = np.array([lookup[n] for n in distinct], dtype=np.uint8)[inverse.reshape(-1)]
    table = TrainingTable(facies_names=order, codes=codes, inline=inline, crossline=crossline, sample=values[:, 0],
                          sample_axis=header[3], attributes={a: values[:, 1 + i] for i, a in enumerate(attrs)},
                          polygon=np.full(len(names), -1, dtype=np.int32), source=str(path))
    cells = {column: np.char.strip(body[:, c].astype(str)) for c, column in ((1, "inline"), (2, "crossline"),
                                                                             (3, "sample"))}
    return table, CsvRows(lines=lines, cells=cells)


def _facies_order(facies_names, names: list[str], path: Path) -> list[str]:
    """The facies in code order: the given list (checked) or the file's order of first appearance."""
    if facies_names is None:
        return list(dict.fromkeys(names))
    order = [str(n).strip() for n in facies_names]
    if "" in order or len(set(order)) != len(order):
        raise FaciesError(f"{path}: the facies list {','.join(order)} must name each facies once, none empty")
    return order


def _parse_column(cells: np.ndarray, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """One column's cells as float64; FaciesError naming the line of the first cell that is not a number."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for line, cell in zip(lines, cells):  # error path only: find the cell to name
        try:
            float(cell)
        except ValueError:
            raise FaciesError(f"{path} line {line}: {column} {cell.strip()!r} is not a number") from None
    raise AssertionError("unreachable: astype failed but every cell parses")  # pragma: no cover


def _check_finite(numbers: np.ndarray, cells: np.ndarray, columns: list[str], lines: np.ndarray, path: Path) -> None:
    """No NaN or infinity anywhere: selection and the forest cannot learn from them (extraction drops such voxels)."""
    bad = ~np.isfinite(numbers)
    if bad.any():
        row, col = np.argwhere(bad)[0]  # row-major: the first line, then its first bad column
        cell = cells[row, col].strip()
        if np.isnan(numbers[row, col]):
            why = "not a number (NaN)"
        elif cell.lower().lstrip("+-") in ("inf", "infinity"):
            why = "infinite"
        else:
            why = "beyond the range of a 64-bit float"
        raise FaciesError(f"{path} line {lines[row]}: {columns[col]} {cell} is {why}; every value of a training "
                          "table must be a finite number (remove the row or fill the value)")


def _line_numbers(values: np.ndarray, cells: np.ndarray, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """Whole line numbers within int32 (finite already checked); FaciesError quoting the first bad cell."""
    info = np.iinfo(np.int32)
    whole = values == np.round(values)
    fits = (values >= info.min) & (values <= info.max)
    if not (whole & fits).all():
        k = int(np.argmax(~(whole & fits)))
        why = ("is not a whole line number" if not whole[k]
               else f"is beyond the line numbers a table holds (int32, {info.max})")
        raise FaciesError(f"{path} line {lines[k]}: {column} {cells[k].strip()} {why}")
    return values.astype(np.int32)


def _check_float32(values: np.ndarray, cells: np.ndarray, columns: list[str], lines: np.ndarray, path: Path) -> None:
    """Times, depths and attributes are stored as float32: a value beyond its range would become infinite."""
    limit = float(np.finfo(np.float32).max)
    bad = np.abs(values) > limit
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise FaciesError(f"{path} line {lines[row]}: {columns[col]} {cells[row, col].strip()} is beyond the float32 "
                          f"range of training tables (largest magnitude {limit:.8g})")


def _is_complete(group) -> bool:
    """Whether a save finished: the ``facies`` attribute, with ``"complete": true``, is written last."""
    meta = group.attrs.get(FACIES_KEY)
    return isinstance(meta, dict) and meta.get(COMPLETE_FIELD) is True


def _is_incomplete_table(survey: Survey, name: str) -> bool:
    """Whether ``training/<name>`` is a readable group that a save never finished (junk, replaced freely)."""
    try:
        node = open_member(survey, TRAINING_GROUP, name, "training table", "")
    except FaciesError:
        return False  # damaged: only --overwrite replaces it
    return isinstance(node, zarr.Group) and not _is_complete(node)


def table_exists(survey: Survey, name: str) -> bool:
    """Whether ``training/<name>`` holds a table that only ``--overwrite`` replaces (whole or damaged).

    The folder of a save that an older facies left incomplete does not count: a save replaces it.
    """
    return exists(Path(survey.path) / TRAINING_GROUP / name) and not _is_incomplete_table(survey, name)


def list_tables(survey: Survey) -> list[str]:
    """Names of the complete training tables stored in the survey, sorted.

    Listed from the ``training`` folder: a table whose metadata cannot be read is left out (``facies
    verify`` reports it), and so are the folders of saves in progress or killed (``_partial-<name>``).
    """
    names = []
    for name in member_names(survey, TRAINING_GROUP):
        try:
            node = survey.node(f"{TRAINING_GROUP}/{name}")
        except Exception:  # noqa: BLE001 - damaged zarr.json: skipped here, reported by verify and by TrainingTable.load
            continue
        if isinstance(node, zarr.Group) and _is_complete(node):
            names.append(name)
    return names


def remake_command(survey: Survey, name: str) -> str:
    """The commands that make training table ``name`` again, replacing it."""
    return (f"facies training extract {survey.path} POLYGONS --name {name} ... --overwrite "
            "(or facies training import ... --overwrite)")


def remake_hint(survey: Survey, name: str) -> str:
    """What to do about a training table that cannot be read: make it again under its name."""
    return f"make it again: {remake_command(survey, name)}"


def _table_group(survey: Survey, name: str) -> zarr.Group:
    node = open_member(survey, TRAINING_GROUP, name, "training table", remake_hint(survey, name))
    if node is None:
        have = ", ".join(list_tables(survey)) or "none"
        raise FaciesError(f"survey {survey.path} has no training table {name!r} (tables: {have}); "
                          "make one with 'facies training extract' or 'facies training import'")
    if not isinstance(node, zarr.Group):
        raise DamagedArrayError(f"training table {name!r} in {survey.path} is damaged (it is an array, not a group "
                                f"of columns); {remake_hint(survey, name)}")
    if not _is_complete(node):
        raise FaciesError(f"training table {name!r} in {survey.path} is incomplete (an interrupted save); "
                          "run 'facies training extract' or 'facies training import' again with --overwrite")
    return node


class _DamagedTable(Exception):
    """What is wrong with a stored table; :meth:`TrainingTable.load` adds the table's name and the remedy."""


#: dtype of each position column (the sample column, ``time`` or ``depth``, is float32 like the attributes).
_COLUMN_DTYPES = {"facies": np.uint8, "inline": np.int32, "crossline": np.int32, "polygon": np.int32}


def _read_table(cls, group: zarr.Group) -> TrainingTable:
    """The table of a complete ``training/<name>`` group, every field checked (raises :class:`_DamagedTable`)."""
    meta = _table_meta(group.attrs.get(FACIES_KEY))
    axis, rows = meta["sample_axis"], meta["rows"]
    wanted = {**_COLUMN_DTYPES, axis: np.float32, **{a: np.float32 for a in meta["attributes"]}}
    values = {column: _column(group, column, rows, np.dtype(dtype)) for column, dtype in wanted.items()}
    try:
        return cls(facies_names=meta["facies_names"], codes=values["facies"], inline=values["inline"],
                   crossline=values["crossline"], sample=values[axis], sample_axis=axis,
                   attributes={a: values[a] for a in meta["attributes"]}, polygon=values["polygon"],
                   source=meta["source"], report=meta["report"])
    except FaciesError as exc:  # codes outside the facies list
        raise _DamagedTable(str(exc)) from None


def _table_meta(meta) -> dict:
    """The checked ``facies`` attributes of a table group (raises :class:`_DamagedTable`)."""
    if not isinstance(meta, dict):
        raise _DamagedTable("its 'facies' attributes are not a JSON object")
    names, attributes = meta.get("facies_names"), meta.get("attributes")
    if not isinstance(names, list) or not 1 <= len(names) <= 255 or not all(isinstance(n, str) and n for n in names):
        raise _DamagedTable("facies_names is not a list of 1..255 names")
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes) \
            or len(set(attributes)) != len(attributes):
        raise _DamagedTable("attributes is not a list of distinct names")
    for attribute in attributes:
        try:
            check_name(attribute, "attribute")
        except FaciesError:
            raise _DamagedTable(f"attribute {attribute[:40]!r} is not a valid column name") from None
        if attribute in POSITION_COLUMNS:
            raise _DamagedTable(f"attribute {attribute!r} has the name of a position column")
    axis, rows = meta.get("sample_axis"), meta.get("rows")
    if axis not in ("time", "depth"):
        raise _DamagedTable(f"sample_axis is {str(axis)[:20]!r}, not 'time' or 'depth'")
    if type(rows) is not int or rows < 0:  # type(): a JSON true is no count
        raise _DamagedTable(f"rows is {str(rows)[:20]!r}, not a row count")
    source, report = meta.get("source", ""), meta.get("report", {})
    if not isinstance(source, str) or not isinstance(report, dict):
        raise _DamagedTable("its source is not a string or its report not a JSON object")
    polygons = report.get("polygons", [])
    if not isinstance(polygons, list) or not all(isinstance(p, dict) for p in polygons):
        raise _DamagedTable("the report's polygons are not a list of JSON objects")
    return {"facies_names": names, "attributes": attributes, "sample_axis": axis, "rows": rows,
            "source": source, "report": dict(report)}


def _column(group: zarr.Group, column: str, rows: int, dtype: np.dtype) -> np.ndarray:
    """Column ``column`` of a table: ``rows`` values of ``dtype`` (raises :class:`_DamagedTable`)."""
    try:
        node = group[column]
    except KeyError:
        raise _DamagedTable(f"column {column!r} is missing") from None
    except Exception:  # noqa: BLE001 - zarr raises several types for a broken zarr.json
        raise _DamagedTable(f"the zarr.json of column {column!r} cannot be read") from None
    if not isinstance(node, zarr.Array) or node.shape != (rows,) or node.dtype != dtype:
        shown = f"{node.dtype} {node.shape}" if isinstance(node, zarr.Array) else "a group"
        raise _DamagedTable(f"column {column!r} is {shown}, not {rows} values of {dtype}")
    try:
        return np.asarray(node[...])
    except (OSError, MemoryError):  # the disk's or the machine's, not the table's: the CLI reports them
        raise
    except DamagedArrayError as exc:  # the store's chunk checks: keep what it found ("chunk 0 is missing")
        raise _DamagedTable(f"column {column!r}: {damage_found(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a codec that cannot decode a chunk (stores made before checksums)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _DamagedTable(f"column {column!r} cannot be decoded: {first[:120]}") from None
