"""The training table: one row per labelled voxel, its facies code, position and attribute values.

Stored in the survey as ``training/<name>``, a Zarr group of 1D arrays ``facies`` (uint8),
``inline``, ``crossline`` (int32), ``time`` or ``depth`` (float32), ``polygon`` (int32) and one
float32 array per attribute, with the facies names, attribute order, polygon source and
provenance in the group's ``facies`` attribute. Exchanged as CSV with the header
``facies,inline,crossline,time|depth,<attribute>...`` (facies by name).

A table is written whole under ``training/_partial-<name>``, its ``facies`` attribute (with
``"complete": true``) last, and only then moved to ``training/<name>``: a save killed half way
never leaves a table that looks real, and an overwritten table stays readable until the move.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.provenance import jsonable
from facies.engine.store import Survey, check_name

#: Group of the survey holding the training tables.
TRAINING_GROUP = "training"
#: Column names that are not attributes (the sample column is "time" or "depth").
POSITION_COLUMNS = ("facies", "inline", "crossline", "polygon", "time", "depth")
#: Format of float columns in CSV: 9 significant digits read back to the same float32.
_CSV_FLOAT = "%.9g"
#: Prefixes of the folders a save writes before the move (table names never start with "_").
_PARTIAL, _REPLACED = "_partial-", "_replaced-"


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
        """Write the table to ``training/<name>`` in the survey.

        Parameters
        ----------
        survey : Survey
        name : str
            Table name.
        overwrite : bool
            Replace an existing table; otherwise an existing name is an error.
        provenance : dict, optional
            From :func:`~facies.engine.provenance.make_provenance`; stored with the table.
        """
        check_name(name, "training table")
        root = survey.group.require_group(TRAINING_GROUP)
        if name in list_tables(survey) and not overwrite:
            raise FaciesError(f"training table {name!r} already exists in {survey.path}; "
                              "pass --overwrite or choose another --name")
        folder = Path(survey.path) / TRAINING_GROUP
        partial, replaced, final = (folder / f"{_PARTIAL}{name}", folder / f"{_REPLACED}{name}", folder / name)
        for leftover in (partial, replaced):  # from a save killed before it finished
            shutil.rmtree(leftover, ignore_errors=True)
        group = root.create_group(partial.name)
        n = len(self)
        chunks = (max(1, min(n, 1 << 20)),)
        columns = {"facies": self.codes, "inline": self.inline, "crossline": self.crossline,
                   self.sample_axis: self.sample, "polygon": self.polygon, **self.attributes}
        for column, values in columns.items():
            arr = group.create_array(column, shape=(n,), dtype=values.dtype, chunks=chunks, dimension_names=["voxel"])
            if n:
                arr[...] = values
        group.attrs["facies"] = jsonable({
            "facies_names": self.facies_names, "attributes": self.attribute_names,
            "sample_axis": self.sample_axis, "source": self.source, "rows": n,
            "report": self.report, "provenance": dict(provenance or {}),
            "polygons": self.report.get("polygons_file", {}), "complete": True,
        })
        # A folder cannot be renamed over a non-empty one: move the old table aside, then the new one in.
        if final.exists():
            os.replace(final, replaced)
        os.replace(partial, final)
        shutil.rmtree(replaced, ignore_errors=True)

    @classmethod
    def load(cls, survey: Survey, name: str = "picks") -> TrainingTable:
        """Read ``training/<name>`` from the survey."""
        group = _table_group(survey, name)
        meta = dict(group.attrs["facies"])
        axis = meta["sample_axis"]

        def col(column):
            return np.asarray(group[column][...])

        return cls(facies_names=meta["facies_names"], codes=col("facies"), inline=col("inline"),
                   crossline=col("crossline"), sample=col(axis), sample_axis=axis,
                   attributes={a: col(a) for a in meta["attributes"]}, polygon=col("polygon"),
                   source=meta.get("source", ""), report=dict(meta.get("report", {})))

    # -------------------------------------------------------------------------------------- CSV
    def to_csv(self, path: str | Path) -> None:
        """Write ``facies,inline,crossline,time|depth,<attribute>...`` with facies names; floats round-trip."""
        path = Path(path)
        if path.is_dir():
            raise FaciesError(f"{path} is a folder; give the CSV file's name, e.g. {path / 'training.csv'}")
        if not path.parent.is_dir():
            raise FaciesError(f"folder {path.parent} does not exist; create it first")
        names = np.array(self.facies_names, dtype=object)
        columns = [names[self.codes.astype(np.intp) - 1] if len(self) else np.zeros(0, object),
                   self.inline.astype(str), self.crossline.astype(str),
                   *(np.char.mod(_CSV_FLOAT, c.astype(np.float64)) for c in (self.sample, *self.attributes.values()))]
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["facies", "inline", "crossline", self.sample_axis, *self.attributes])
            writer.writerows(zip(*columns))

    @classmethod
    def from_csv(cls, path: str | Path, facies_names: list[str] | None = None) -> TrainingTable:
        """Read a training CSV.

        Parameters
        ----------
        path : path-like
        facies_names : list of str, optional
            Facies in code order; by default the order of first appearance in the file.
        """
        path = Path(path)
        if not path.is_file():
            raise FaciesError(f"training CSV {path} does not exist")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
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
        bad = [i for i, r in enumerate(rows[1:], start=2) if len(r) != len(header)]
        if bad:
            raise FaciesError(f"{path} line {bad[0]}: {len(rows[bad[0] - 1])} fields, the header has {len(header)}")
        body = np.array(rows[1:], dtype=object).reshape(-1, len(header))
        names = [s.strip() for s in body[:, 0]]
        order = list(facies_names) if facies_names is not None else list(dict.fromkeys(names))
        lookup = {n: i + 1 for i, n in enumerate(order)}
        unknown = sorted(set(names) - set(lookup))
        if unknown:
            raise FaciesError(f"{path}: facies {', '.join(unknown)} not in the given facies list ({', '.join(order)})")
        if len(order) > 255:
            raise FaciesError(f"{path}: {len(order)} facies; at most 255 fit the uint8 class codes")
        try:
            inline = _parse_ints(body[:, 1], "inline")
            crossline = _parse_ints(body[:, 2], "crossline")
            # Parse through float64: 9-digit decimals then round to the float32 they were written from.
            numbers = (body[:, 3:].astype(np.float64).astype(np.float32) if len(body)
                       else np.zeros((0, len(header) - 3), np.float32))
        except ValueError as exc:
            raise FaciesError(f"{path}: a position or attribute value is not a number ({exc})") from exc
        # Map names to codes once per distinct name, not per row.
        distinct, inverse = np.unique(np.array(names, dtype=object), return_inverse=True)
        codes = np.array([lookup[n] for n in distinct], dtype=np.uint8)[inverse.reshape(-1)]
        return cls(facies_names=order, codes=codes,
                   inline=inline, crossline=crossline, sample=numbers[:, 0], sample_axis=header[3],
                   attributes={a: numbers[:, 1 + i] for i, a in enumerate(attrs)},
                   polygon=np.full(len(names), -1, dtype=np.int32), source=str(path))


def _parse_ints(cells: np.ndarray, what: str) -> np.ndarray:
    values = cells.astype(np.float64)
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise ValueError(f"{what} must be whole line numbers")
    return values.astype(np.int32)


def _is_complete(group: zarr.Group) -> bool:
    """Whether a save finished: the ``facies`` attribute, with ``"complete": true``, is written last."""
    meta = group.attrs.get("facies")
    return isinstance(meta, dict) and meta.get("complete") is True


def list_tables(survey: Survey) -> list[str]:
    """Names of the complete training tables stored in the survey, sorted."""
    if TRAINING_GROUP not in survey.group:
        return []
    return sorted(name for name, group in survey.group[TRAINING_GROUP].groups()
                  if not name.startswith("_") and _is_complete(group))


def _table_group(survey: Survey, name: str) -> zarr.Group:
    path = f"{TRAINING_GROUP}/{name}"
    if name not in list_tables(survey):
        if not name.startswith("_") and path in survey.group and not _is_complete(survey.group[path]):
            raise FaciesError(f"training table {name!r} in {survey.path} is incomplete (an interrupted save); "
                              "run 'facies training extract' or 'facies training import' again with --overwrite")
        have = ", ".join(list_tables(survey)) or "none"
        raise FaciesError(f"survey {survey.path} has no training table {name!r} (tables: {have}); "
                          "make one with 'facies training extract' or 'facies training import'")
    return survey.group[path]
