"""Interpreter polygons for the synthetic survey, drawn strictly inside the facies bodies.

Format: docs/training.md (the file ``facies training extract`` reads); docs/polygons.md says where
the synthetic survey's polygons are drawn. For each facies, two inline, two crossline and two time slices are
chosen where the body is well developed (at the 35% and 65% quantiles of its voxels along that
axis). On each, the body's cross-section is eroded by a margin, and a star-shaped polygon is
drawn around the deepest interior point at 70% of the distance to the eroded outline. The
polygon is then checked against the true labels with the rasterisation rule of the extraction
(:mod:`facies.engine.training.rasterise`) widened to half a voxel from its edge, and shrunk until
every such voxel has the polygon's facies. Most of
every body stays outside the polygons, so accuracy can be measured away from them.

The file also carries its own record, ``made_by``: the command, the survey's shape and seed, and the
SHA-256 of its facies and polygons. ``facies synth --overwrite`` replaces a polygon file only when
that record is there and the digest still matches (:func:`is_synth_polygons`): a file somebody wrote
or edited is never overwritten. Readers of the polygon format ignore the extra key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy import ndimage

from facies.engine.errors import FaciesError
from facies.engine.paths import written_then_moved
from facies.engine.geometry import Geometry
from facies.engine.synth.model import FACIES_NAMES, EarthModel
from facies.engine.training.polygons import survey_units
from facies.engine.training.rasterise import EDGE_TOLERANCE, rasterise

#: Slice kinds by the axis they cut, and the survey axes of their (u, v) vertices.
SLICE_KINDS = ("inline", "crossline", "time")
#: The two axes of the plane of a slice across ``axis``, in order.
_PLANE_AXES = {0: (1, 2), 1: (0, 2), 2: (0, 1)}
QUANTILES = (0.35, 0.65)
MARGIN = 2          # voxels of erosion between a polygon and the body's edge
REACH = 0.7         # fraction of the distance to the eroded outline
N_VERTICES = 20
#: Voxel centres this close to the edge count as inside when checking: a margin for the vertices'
#: rounding in survey units, far above the extraction's own edge tolerance.
CHECK_TOLERANCE = 0.5
#: Key of the file's own record, and the command it names (what ``--overwrite`` may replace).
MADE_BY_KEY = "made_by"
MADE_BY_COMMAND = "facies synth"


def polygons_path(store_path) -> Path:
    """``demo/survey.zarr`` -> ``demo/survey.polygons.json`` (beside the store).

    Raises
    ------
    FaciesError
        For a path that names no folder (``.``, ``..``, ``/``): there is no name to put beside.
    """
    path = Path(os.fspath(store_path))
    if path.name in ("", ".", ".."):
        raise FaciesError(f"store path {str(path)!r} names no folder; give the new store's name, e.g. survey.zarr")
    return path.with_suffix(".polygons.json")


def slice_labels(model: EarthModel, axis: int, index: int) -> np.ndarray:
    """Facies codes on one slice, indexed (u, v) as the polygon's vertices are."""
    n_il, n_xl, n_s = model.shape
    if axis == 0:
        return model.labels(index, np.arange(n_xl)[:, None], np.arange(n_s)[None, :])
    if axis == 1:
        return model.labels(np.arange(n_il)[:, None], index, np.arange(n_s)[None, :])
    return model.labels(np.arange(n_il)[:, None], np.arange(n_xl)[None, :], index)


def claimed_centres(vertices: np.ndarray, shape: tuple[int, int],
                    tolerance: float = EDGE_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Indices (iu, iv) of the grid points of a slice that a polygon (index units) covers.

    The extraction's rule (:func:`~facies.engine.training.rasterise.rasterise`): inside, or within
    ``tolerance`` of an edge; only points in the polygon's bounding box are tested.
    """
    return rasterise(vertices, np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64),
                     tolerance=tolerance)


def star_polygon(mask: np.ndarray, *, margin: int = MARGIN, reach: float = REACH) -> np.ndarray | None:
    """Vertices (index units) of a polygon whose claimed voxels all lie in ``mask``; None if none fits."""
    interior = ndimage.binary_erosion(mask, iterations=margin, border_value=0) if margin else mask
    if not interior.any():
        return None
    depth = ndimage.distance_transform_edt(interior)
    centre = np.array(np.unravel_index(np.argmax(depth), mask.shape), dtype=np.float64)
    angles = 2 * np.pi * np.arange(N_VERTICES) / N_VERTICES
    directions = np.column_stack([np.cos(angles), np.sin(angles)])
    steps = np.arange(0.0, float(np.hypot(*mask.shape)), 0.25)
    points = np.rint(centre + steps[:, None, None] * directions[None]).astype(np.int64)  # (step, dir, 2)
    ok = ((points >= 0) & (points < np.array(mask.shape))).all(axis=-1)
    clipped = np.clip(points, 0, np.array(mask.shape) - 1)
    ok &= interior[clipped[..., 0], clipped[..., 1]]
    first_out = np.where(ok.all(axis=0), steps.size, np.argmin(ok, axis=0))
    distance = steps[np.maximum(first_out - 1, 0)]
    scale = reach
    for _ in range(12):
        vertices = centre + (scale * distance)[:, None] * directions
        extracted = claimed_centres(vertices, mask.shape)
        if extracted[0].size >= 4 and mask[claimed_centres(vertices, mask.shape, CHECK_TOLERANCE)].all():
            return vertices
        scale *= 0.8
    return None


def _to_survey_units(vertices: np.ndarray, geometry: Geometry, uv_axes: tuple[int, int]) -> list[list[float]]:
    """Index coordinates -> line numbers / ms, rounded to 1e-3 (grids are regular, so this is affine)."""
    return np.column_stack([np.round(survey_units(geometry, axis, vertices[:, c]), 3)
                            for c, axis in enumerate(uv_axes)]).tolist()


def make_polygons(model: EarthModel, geometry: Geometry, counts: list[np.ndarray]) -> dict:
    """The polygon file's content for a survey, from the voxel counts per slice of each facies.

    Parameters
    ----------
    model : EarthModel
    geometry : Geometry
    counts : list of 3 arrays, shape (codes, n_axis)
        Voxels of each facies code per inline, crossline and sample.
    """
    line_axes = (geometry.inlines, geometry.crosslines, geometry.samples)
    polygons = []
    for code, name in enumerate(FACIES_NAMES, start=1):
        for axis, kind in enumerate(SLICE_KINDS):
            profile = counts[axis][code].astype(np.float64)
            if profile.sum() == 0:
                continue
            cdf = np.cumsum(profile) / profile.sum()
            positions = sorted({int(np.searchsorted(cdf, q)) for q in QUANTILES})
            for index in positions:
                vertices = star_polygon(slice_labels(model, axis, index) == code)
                if vertices is None:
                    continue
                at = line_axes[axis][index]
                polygons.append({
                    "facies": name, "slice": kind, "at": float(at) if axis == 2 else int(at),
                    "vertices": _to_survey_units(vertices, geometry, _PLANE_AXES[axis]),
                })
    return {"facies": list(FACIES_NAMES), "polygons": polygons}


def polygons_digest(content: Mapping) -> str:
    """SHA-256 (hex) of a polygon file's ``facies`` and ``polygons``, in a canonical JSON form.

    JSON numbers read back as the same floats, so the digest of a file as read equals the one
    computed when it was written, unless somebody changed its facies or polygons.
    """
    canonical = json.dumps({"facies": content.get("facies"), "polygons": content.get("polygons")},
                           sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_synth_polygons(path) -> bool:
    """Whether ``path`` is a polygon file ``facies synth`` wrote and nobody edited since.

    True only for a regular file (not a link) holding JSON whose ``made_by`` record names
    ``facies synth`` and whose SHA-256 matches its facies and polygons.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    record = doc.get(MADE_BY_KEY) if isinstance(doc, dict) else None
    if not isinstance(record, dict) or record.get("command") != MADE_BY_COMMAND:
        return False
    try:
        return record.get("sha256") == polygons_digest(doc)
    except (TypeError, ValueError):
        return False


def write_polygons(path: Path, content: dict, *, made_by: Mapping | None = None) -> Path:
    """Write the polygon file whole: a temporary file beside it, renamed over ``path`` at the end.

    Parameters
    ----------
    path : path-like
        The polygon file (the caller has checked that it may be replaced).
    content : dict
        ``facies`` and ``polygons`` (:func:`make_polygons`).
    made_by : mapping, optional
        Facts for the file's ``made_by`` record (shape, seed); the command and the digest are added.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    record = {"command": MADE_BY_COMMAND, **dict(made_by or {}), "sha256": polygons_digest(content)}
    doc = {"facies": content["facies"], "polygons": content["polygons"], MADE_BY_KEY: record}
    return written_then_moved(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=1) + "\n"))
