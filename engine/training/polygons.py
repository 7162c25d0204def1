"""Interpreter polygon files: parse JSON or CSV, then place every polygon on the survey grid.

JSON (survey units, as an interpreter reads them on screen)::

    {"facies": ["salt", "mtd", "background"],
     "polygons": [
       {"facies": "salt", "slice": "inline", "at": 120, "vertices": [[crossline, time], ...]},
       {"facies": "mtd", "slice": "time", "at": 1220.0, "vertices": [[inline, crossline], ...]},
       {"facies": "background", "slice": "crossline", "at": 300, "vertices": [[inline, time], ...]}]}

The order of ``facies`` fixes the integer codes 1..M (0 means unlabelled). ``depth`` replaces
``time`` in depth surveys. CSV has one vertex per row, ``facies,slice,at,polygon,u,v``; rows of
one polygon id are its vertices in order, and facies codes follow the order of first appearance.
See docs/training.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry, exact
from facies.engine.paths import check_input_file
from facies.engine.training.rasterise import EDGE_TOLERANCE, crossing_edges

#: Slice kinds and the two survey axes (0 inline, 1 crossline, 2 sample) their vertices give, as (u, v).
SLICE_KINDS = ("inline", "crossline", "time", "depth")
_UV_AXES = {"inline": (1, 2), "crossline": (0, 2), "sample": (0, 1)}
_FIXED_AXIS = {"inline": 0, "crossline": 1, "sample": 2}
CSV_COLUMNS = ("facies", "slice", "at", "polygon", "u", "v")
#: Codes are stored as uint8 and 0 means unlabelled.
MAX_FACIES = 255
#: Farthest a vertex may lie from the survey's first line or sample, in grid units (line steps or sample
#: intervals). Vertices outside the survey are fine, but one this far off is a units mistake, and the
#: geometry (products of coordinates) stays well inside float64 for every vertex that passes.
MAX_GRID_DISTANCE = 1e9


@dataclass(frozen=True)
class Polygon:
    """One polygon as drawn, in survey units.

    Attributes
    ----------
    facies : str
        Facies name (one of the file's ``facies`` list).
    slice : {"inline", "crossline", "time", "depth"}
        Kind of slice it is drawn on.
    at : float
        Line number or time/depth value of that slice.
    vertices : ndarray of float64, shape (n, 2)
        (u, v) pairs: (crossline, sample) on inlines, (inline, sample) on crosslines, (inline, crossline) on
        time or depth slices.
    label : str
        How the file names it ("polygon 3" for JSON, the polygon id for CSV), used in messages.
    """

    facies: str
    slice: str
    at: float
    vertices: np.ndarray
    label: str

    def describe(self, index: int) -> str:
        """Short name for messages, e.g. ``polygon 3 (salt on inline 120)``."""
        name = f"polygon {index}" if self.label == f"polygon {index}" else f"polygon {index} [{self.label}]"
        return f"{name} ({self.facies} on {self.slice} {exact(self.at)})"


@dataclass(frozen=True)
class PolygonFile:
    """A parsed polygon file: facies names in code order, the polygons, and where they came from."""

    facies: list[str]
    polygons: list[Polygon]
    name: str
    sha256: str


@dataclass(frozen=True)
class PlacedPolygon:
    """A polygon located on the survey grid.

    Attributes
    ----------
    fixed_axis : int
        Survey axis normal to the slice (0 inline, 1 crossline, 2 sample).
    fixed_index : int
        Index of the slice along that axis.
    uv_axes : tuple of int
        Survey axes of the vertices' (u, v) columns.
    vertices : ndarray, shape (n, 2)
        Vertices in grid units, repeated consecutive vertices and the closing repeat removed.
    """

    fixed_axis: int
    fixed_index: int
    uv_axes: tuple[int, int]
    vertices: np.ndarray


# ---------------------------------------------------------------------------------------------- reading
def read_polygons(path: str | Path) -> PolygonFile:
    """Read a ``.json`` or ``.csv`` polygon file (chosen by its suffix)."""
    path = check_input_file(path, "polygon file")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FaciesError(f"polygon file {path} is not UTF-8 text ({exc.reason})") from exc
    suffix = path.suffix.lower()
    if suffix == ".json":
        facies, polygons = parse_polygon_json(text, source=str(path))
    elif suffix == ".csv":
        facies, polygons = parse_polygon_csv(text, source=str(path))
    else:
        raise FaciesError(f"polygon file {path} must end in .json or .csv, not {suffix or '(no suffix)'!r}")
    return PolygonFile(facies=facies, polygons=polygons, name=path.name, sha256=digest)


class _Written:
    """A JSON number as written, kept when it has no finite float64 value (``1e400``, ``NaN``, ``Infinity``)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _json_float(text: str):
    """``parse_float`` hook: the float, or the text itself when it overflows (messages then quote it as written)."""
    value = float(text)
    return value if np.isfinite(value) else _Written(text)


def _number(value, what: str) -> float:
    """A JSON number as a finite float64; FaciesError quoting the value as written otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaciesError(f"{what} must be a finite number, not {value!r}")
    try:
        number = float(value)  # a JSON integer is exact and unbounded: 10**400 has no float64
    except OverflowError:
        raise FaciesError(f"{what} {value} is beyond the range of a 64-bit float") from None
    if not np.isfinite(number):
        raise FaciesError(f"{what} must be a finite number, not {value!r}")
    return number


def _check_facies_names(names, source: str) -> list[str]:
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise FaciesError(f"{source}: 'facies' must be a non-empty list of facies names (strings)")
    names = [n.strip() for n in names]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FaciesError(f"{source}: facies {', '.join(dup)} listed more than once; each name must be unique")
    if len(names) > MAX_FACIES:
        raise FaciesError(f"{source}: {len(names)} facies; at most {MAX_FACIES} fit the uint8 class codes")
    return names


def parse_polygon_json(text: str, *, source: str = "polygon file") -> tuple[list[str], list[Polygon]]:
    """Parse the JSON polygon format; returns (facies names in code order, polygons)."""
    try:
        # numbers without a float64 value stay as written, to be refused with their polygon named
        doc = json.loads(text, parse_float=_json_float, parse_constant=_Written)
    except json.JSONDecodeError as exc:
        raise FaciesError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(doc, dict) or "facies" not in doc or "polygons" not in doc:
        raise FaciesError(f"{source}: expected an object with 'facies' (names) and 'polygons' (list); "
                          "see docs/training.md")
    facies = _check_facies_names(doc["facies"], source)
    if not isinstance(doc["polygons"], list) or not doc["polygons"]:
        raise FaciesError(f"{source}: 'polygons' must be a non-empty list")
    polygons = []
    for k, item in enumerate(doc["polygons"]):
        where = f"{source}: polygon {k}"
        if not isinstance(item, dict):
            raise FaciesError(f"{where} must be an object with facies, slice, at and vertices")
        missing = [key for key in ("facies", "slice", "at", "vertices") if key not in item]
        if missing:
            raise FaciesError(f"{where} lacks {', '.join(missing)}")
        vertices = item["vertices"]
        if not isinstance(vertices, list) or not all(isinstance(p, list) and len(p) == 2 for p in vertices):
            raise FaciesError(f"{where}: 'vertices' must be a list of [u, v] pairs")
        coords = np.array([[_number(c, f"{where} vertex coordinate") for c in p] for p in vertices],
                          dtype=np.float64).reshape(-1, 2)
        polygons.append(Polygon(facies=str(item["facies"]), slice=str(item["slice"]),
                                at=_number(item["at"], f"{where}: 'at'"), vertices=coords,
                                label=str(item.get("name", f"polygon {k}"))))
    return facies, polygons


def parse_polygon_csv(text: str, *, source: str = "polygon file") -> tuple[list[str], list[Polygon]]:
    """Parse the CSV polygon format (one vertex per row); returns (facies names, polygons)."""
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if not rows:
        raise FaciesError(f"{source} is empty; expected a header {','.join(CSV_COLUMNS)} and one row per vertex")
    header = [c.strip().lower() for c in rows[0]]
    if header != list(CSV_COLUMNS):
        raise FaciesError(f"{source}: header is {','.join(header)}; expected {','.join(CSV_COLUMNS)}")
    order: list[str] = []   # polygon ids in order of first appearance
    groups: dict[str, list] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(CSV_COLUMNS):
            raise FaciesError(f"{source} line {line}: {len(row)} fields, expected {len(CSV_COLUMNS)}")
        facies, kind, at, pid, u, v = (c.strip() for c in row)
        try:
            at_value, uv = float(at), (float(u), float(v))
        except ValueError as exc:
            raise FaciesError(f"{source} line {line}: at, u and v must be numbers ({exc})") from exc
        if not np.all(np.isfinite((at_value, *uv))):
            bad = next(f"{name} is {cell}" for name, cell, value in zip("at u v".split(), (at, u, v), (at_value, *uv))
                       if not np.isfinite(value))
            raise FaciesError(f"{source} line {line}: at, u and v must be finite numbers ({bad})")
        if pid not in groups:
            order.append(pid)
            groups[pid] = [facies, kind, at_value, []]
        elif (groups[pid][0], groups[pid][1], groups[pid][2]) != (facies, kind, at_value):
            raise FaciesError(f"{source} line {line}: polygon {pid!r} changes facies, slice or at between its rows; "
                              "give each polygon its own id")
        groups[pid][3].append(uv)
    if not order:
        raise FaciesError(f"{source} has a header but no vertex rows")
    facies_names = list(dict.fromkeys(groups[pid][0] for pid in order))
    facies_names = _check_facies_names(facies_names, source)
    polygons = [Polygon(facies=groups[pid][0], slice=groups[pid][1], at=groups[pid][2],
                        vertices=np.array(groups[pid][3], dtype=np.float64), label=pid) for pid in order]
    return facies_names, polygons


# ---------------------------------------------------------------------------------------------- placing
def axis_steps(geometry: Geometry) -> tuple[float, float, float]:
    """Grid unit of each survey axis: the line steps and the sample interval (1 for a single value)."""
    return (float(geometry.line_step(geometry.inlines)), float(geometry.line_step(geometry.crosslines)),
            geometry.sample_interval or 1.0)


def axis_values(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line numbers and sample values of the three survey axes."""
    return geometry.inlines, geometry.crosslines, geometry.samples


def grid_units(geometry: Geometry, axis: int, values: np.ndarray) -> np.ndarray:
    """Survey units along ``axis`` to grid units (first line or sample at 0, one step = 1)."""
    origin = float(axis_values(geometry)[axis][0])
    return (np.asarray(values, dtype=np.float64) - origin) / axis_steps(geometry)[axis]


def survey_units(geometry: Geometry, axis: int, grid: np.ndarray) -> np.ndarray:
    """Grid units along ``axis`` back to survey units (the inverse of :func:`grid_units`)."""
    origin = float(axis_values(geometry)[axis][0])
    return origin + np.asarray(grid, dtype=np.float64) * axis_steps(geometry)[axis]


def _dedupe_vertices(vertices: np.ndarray) -> np.ndarray:
    """Drop repeated consecutive vertices, including a last vertex that repeats the first."""
    if len(vertices) < 2:
        return vertices
    step = np.abs(vertices - np.roll(vertices, 1, axis=0)).max(axis=1)
    return vertices[step > EDGE_TOLERANCE] if (step > EDGE_TOLERANCE).any() else vertices[:1]


def place_polygon(polygon: Polygon, index: int, geometry: Geometry, facies: list[str]) -> PlacedPolygon:
    """Check one polygon against the survey and express it in grid units.

    Raises
    ------
    FaciesError
        Unknown facies, wrong slice kind, a slice outside the survey or between lines/samples,
        a vertex more than :data:`MAX_GRID_DISTANCE` lines or samples away, fewer than 3 distinct
        vertices, or crossing edges.
    """
    what = polygon.describe(index)
    if polygon.facies not in facies:
        raise FaciesError(f"{what}: facies {polygon.facies!r} is not in the file's facies list ({', '.join(facies)})")
    kind = polygon.slice
    if kind not in SLICE_KINDS:
        raise FaciesError(f"{what}: slice must be inline, crossline or {geometry.sample_axis}, not {kind!r}")
    if kind in ("time", "depth"):
        if kind != geometry.sample_axis:
            raise FaciesError(f"{what}: drawn on a {kind} slice but the survey's sample axis is "
                              f"{geometry.sample_axis}; use slice '{geometry.sample_axis}'")
        kind = "sample"
    fixed_axis = _FIXED_AXIS[kind]
    locate = (geometry.inline_index, geometry.crossline_index, geometry.sample_index)[fixed_axis]
    try:
        fixed_index = locate(polygon.at)
    except FaciesError as exc:
        raise FaciesError(f"{what}: {exc}") from exc
    uv_axes = _UV_AXES[kind]
    if polygon.vertices.ndim != 2 or polygon.vertices.shape[1] != 2:
        raise FaciesError(f"{what}: vertices must be (u, v) pairs")
    vertices = np.stack([grid_units(geometry, uv_axes[0], polygon.vertices[:, 0]),
                         grid_units(geometry, uv_axes[1], polygon.vertices[:, 1])], axis=1)
    far = ~(np.abs(vertices) <= MAX_GRID_DISTANCE).all(axis=1)
    if far.any():
        k = int(np.argmax(far))
        names = [("inline", "crossline", geometry.sample_axis)[a] for a in uv_axes]
        raise FaciesError(f"{what}: vertex {k} ({names[0]} {exact(polygon.vertices[k, 0])}, {names[1]} "
                          f"{exact(polygon.vertices[k, 1])}) lies more than {MAX_GRID_DISTANCE:g} lines or samples "
                          "from the survey; check that the vertices are in survey units")
    vertices = _dedupe_vertices(vertices)
    if len(vertices) < 3:
        raise FaciesError(f"{what} has {len(vertices)} distinct vertices; a polygon needs at least 3")
    crossing = crossing_edges(vertices)
    if crossing is not None:
        i, j = crossing
        raise FaciesError(f"{what} is self-intersecting (edges {i} and {j} meet; edge k joins vertex k to k+1); "
                          "redraw it without crossing edges")
    return PlacedPolygon(fixed_axis=fixed_axis, fixed_index=fixed_index, uv_axes=uv_axes, vertices=vertices)
