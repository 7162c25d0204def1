"""Training voxels from interpreter polygons: rasterise, resolve overlaps, read attributes slice by slice.

Steps (docs/training.md):

1. parse the polygon file and place every polygon on the survey grid (clear errors for bad input);
2. rasterise each polygon on its slice (centres inside or on the edge); a polygon with no voxel is an error;
3. a voxel claimed by two facies is an error naming both polygons; a voxel claimed again by the same
   facies is kept once, for the first polygon that claims it;
4. drop voxels on dead traces, then read the attributes on each polygon's slice, restricted to the
   bounding box of its voxels (only the chunks it touches), and drop voxels where any value is NaN or infinite;
5. rows are ordered by facies code, then polygon, then position; the table is saved as ``training/<name>``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from facies.engine.training.polygons import PlacedPolygon, axis_steps, axis_values, place_polygon, read_polygons
from facies.engine.training.rasterise import rasterise
from facies.engine.training.report import facies_warnings
from facies.engine.training.table import TrainingTable, check_table_name, list_tables

log = logging.getLogger(__name__)


def polygon_voxels(placed: PlacedPolygon, geometry: Geometry) -> np.ndarray:
    """Survey indices (n, 3) of the voxel centres a placed polygon covers, sorted."""
    ua, va = placed.uv_axes
    steps, values = axis_steps(geometry), axis_values(geometry)
    u_centres = (values[ua].astype(np.float64) - float(values[ua][0])) / steps[ua]
    v_centres = (values[va].astype(np.float64) - float(values[va][0])) / steps[va]
    iu, iv = rasterise(placed.vertices, u_centres, v_centres)
    idx = np.empty((iu.size, 3), dtype=np.int64)
    idx[:, placed.fixed_axis] = placed.fixed_index
    idx[:, ua], idx[:, va] = iu, iv
    return idx


def _resolve_overlaps(voxels: list[np.ndarray], codes: np.ndarray, describe, geometry: Geometry) -> np.ndarray:
    """Keep-mask per concatenated voxel: first claim of each voxel wins; different facies is an error."""
    shape = geometry.shape
    flat = np.concatenate([np.ravel_multi_index(v.T, shape) for v in voxels])
    owner = np.repeat(np.arange(len(voxels)), [len(v) for v in voxels])
    order = np.argsort(flat, kind="stable")  # stable: among equal voxels, the earlier polygon comes first
    flat_sorted, owner_sorted = flat[order], owner[order]
    repeat = np.zeros(flat.size, dtype=bool)
    repeat[1:] = flat_sorted[1:] == flat_sorted[:-1]
    clash = repeat.copy()
    clash[1:] &= codes[owner_sorted[1:]] != codes[owner_sorted[:-1]]
    if clash.any():
        k = int(np.argmax(clash))
        # The first claimant of that voxel (not merely the previous row) is the one to name.
        first = int(owner_sorted[np.searchsorted(flat_sorted, flat_sorted[k])])
        other = int(owner_sorted[k])
        if codes[first] == codes[other]:
            other = int(owner_sorted[k - 1])
        raise FaciesError(f"{describe(first)} and {describe(other)} both claim voxel "
                          f"{_voxel_name(geometry, np.unravel_index(flat_sorted[k], shape))} for different facies; "
                          "redraw one so they do not overlap")
    keep = np.ones(flat.size, dtype=bool)
    keep[order[repeat]] = False
    return keep


def _voxel_name(g: Geometry, index) -> str:
    i, j, k = (int(x) for x in index)
    return f"inline {g.inlines[i]}, crossline {g.crosslines[j]}, {g.sample_axis} {g.samples[k]:g}"


def _read_on_slice(survey: Survey, name: str, placed: PlacedPolygon, idx: np.ndarray) -> np.ndarray:
    """Values of one attribute at voxels of one slice, reading only the voxels' bounding box on it."""
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    region = [slice(int(a), int(b) + 1) for a, b in zip(lo, hi)]
    region[placed.fixed_axis] = placed.fixed_index
    block = survey.read(name, inline=region[0], crossline=region[1], sample=region[2])
    ua, va = placed.uv_axes
    return block[idx[:, ua] - lo[ua], idx[:, va] - lo[va]]


def extract_training(survey: Survey, polygons_path: str | Path, attributes=None, name: str = "picks", *,
                     overwrite: bool = False) -> TrainingTable:
    """Build the training table of a polygon file and store it as ``training/<name>``.

    Parameters
    ----------
    survey : Survey
        Open survey store (writable).
    polygons_path : path-like
        ``.json`` or ``.csv`` polygon file, in survey units (docs/training.md).
    attributes : list of str, optional
        Attribute volumes to read; None reads every complete attribute of the survey.
    name : str
        Table name in the store.
    overwrite : bool
        Replace an existing table of that name.

    Returns
    -------
    TrainingTable
        With ``report``: per polygon the voxels rasterised, repeated, on dead traces, with NaN and kept;
        per facies the voxels kept and needed by attribute selection; the warnings issued.

    Raises
    ------
    FaciesError
        For any bad input (see :func:`~facies.engine.training.polygons.place_polygon`), a polygon with no
        voxel, two facies claiming one voxel, or nothing left after skipping dead traces and NaN.
    """
    check_table_name(name)
    if not overwrite and name in list_tables(survey):
        raise FaciesError(f"training table {name!r} already exists in {survey.path}; "
                          "pass --overwrite or choose another --name")
    attributes = _choose_attributes(survey, attributes)
    pfile = read_polygons(polygons_path)
    geometry = survey.geometry
    placed = [place_polygon(p, k, geometry, pfile.facies) for k, p in enumerate(pfile.polygons)]
    poly_codes = np.array([pfile.facies.index(p.facies) + 1 for p in pfile.polygons], dtype=np.uint8)

    def describe(k: int) -> str:
        return pfile.polygons[k].describe(k)

    voxels = [polygon_voxels(p, geometry) for p in placed]
    for k, v in enumerate(voxels):
        if len(v) == 0:
            raise FaciesError(f"{describe(k)} contains no voxel centre of the survey; check its vertices' units "
                              "and that it lies inside the survey")
    keep = _resolve_overlaps(voxels, poly_codes, describe, geometry)

    rows, per_polygon, start = [], [], 0
    for k, (p, idx) in enumerate(zip(placed, voxels)):
        first_claim = keep[start:start + len(idx)]
        start += len(idx)
        idx = idx[first_claim]
        live = geometry.trace_mask[idx[:, 0], idx[:, 1]]
        idx = idx[live]
        values = (np.stack([_read_on_slice(survey, a, p, idx) for a in attributes], axis=1).astype(np.float32)
                  if len(idx) else np.zeros((0, len(attributes)), np.float32))
        finite = np.isfinite(values).all(axis=1)
        idx, values = idx[finite], values[finite]
        rows.append((k, idx, values))
        per_polygon.append({"index": k, "label": pfile.polygons[k].label, "facies": pfile.polygons[k].facies,
                            "slice": pfile.polygons[k].slice, "at": pfile.polygons[k].at,
                            "rasterised": int(first_claim.size), "repeated": int((~first_claim).sum()),
                            "dead": int((~live).sum()), "nan": int((~finite).sum()), "kept": int(len(idx))})
        if per_polygon[-1]["dead"] or per_polygon[-1]["nan"]:
            log.info("%s: skipped %d voxels on dead traces and %d with NaN", describe(k),
                     per_polygon[-1]["dead"], per_polygon[-1]["nan"])

    table = _assemble(rows, poly_codes, pfile.facies, attributes, geometry, pfile.name)
    if len(table) == 0:
        raise FaciesError(f"no training voxel left in {pfile.name} after skipping dead traces and NaN values; "
                          "draw the polygons over live data")
    warnings = facies_warnings(table.counts(), pfile.facies, len(attributes))
    for w in warnings:
        log.warning(w)
    table.report = {"polygons": per_polygon, "warnings": warnings,
                    "polygons_file": {"name": pfile.name, "sha256": pfile.sha256}}
    provenance = make_provenance("facies training extract",
                                 {"polygons": pfile.name, "sha256": pfile.sha256, "attributes": attributes},
                                 inputs=[str(polygons_path), *attributes])
    table.save(survey, name, overwrite=overwrite, provenance=provenance)
    return table


def _choose_attributes(survey: Survey, attributes) -> list[str]:
    available = survey.attributes()
    if attributes is None:
        if not available:
            raise FaciesError(f"survey {survey.path} has no complete attribute volume to extract; ingest some first")
        return available
    attributes = list(dict.fromkeys(attributes))
    if not attributes:
        raise FaciesError("no attribute chosen; pass --attributes A,B,... or --all")
    unknown = [a for a in attributes if a not in available]
    if unknown:
        raise FaciesError(f"unknown attribute {unknown[0]!r}; the survey's attributes are {', '.join(available) or 'none'}")
    return attributes


def _assemble(rows, poly_codes, facies, attributes, geometry: Geometry, source: str) -> TrainingTable:
    """Concatenate per-polygon rows, ordered by facies code, then polygon, then voxel position."""
    polygon = np.concatenate([np.full(len(idx), k, np.int32) for k, idx, _ in rows])
    idx = np.concatenate([idx for _, idx, _ in rows])
    values = np.concatenate([v for _, _, v in rows])
    codes = poly_codes[polygon]
    order = np.argsort(codes, kind="stable")  # rows are already by polygon, then position
    idx, values, polygon, codes = idx[order], values[order], polygon[order], codes[order]
    return TrainingTable(facies_names=list(facies), codes=codes, inline=geometry.inlines[idx[:, 0]],
                         crossline=geometry.crosslines[idx[:, 1]], sample=geometry.samples[idx[:, 2]],
                         sample_axis=geometry.sample_axis,
                         attributes={a: values[:, i] for i, a in enumerate(attributes)},
                         polygon=polygon, source=source)
