"""Training voxels from interpreter polygons: rasterise, resolve overlaps, read attributes slice by slice.

Steps (docs/training.md):

1. parse the polygon file and place every polygon on the survey grid (clear errors for bad input);
2. rasterise each polygon on its slice (centres inside or on the edge); a polygon with no voxel is an error;
3. a voxel claimed by two facies is an error naming both polygons; a voxel claimed again by the same
   facies is kept once, for the first polygon that claims it;
4. drop voxels on dead traces, then read each attribute once per slice that holds polygons, restricted
   to the bounding box of their voxels (only the chunks they touch), and drop voxels where any value is
   NaN or infinite; a virtual attribute (:mod:`facies.engine.virtual`) is computed at exactly those
   voxels, from their neighbourhoods, as writing it would have stored it;
5. rows are ordered by facies code, then polygon, then position; the table is saved as ``training/<name>``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.provenance import make_provenance
from facies.engine.schema import check_name
from facies.engine.store import Survey
from facies.engine.training.polygons import PlacedPolygon, axis_values, grid_units, place_polygon, read_polygons
from facies.engine.training.rasterise import rasterise
from facies.engine.training.report import facies_warnings
from facies.engine.training.table import TrainingTable, table_exists
from facies.engine.virtual import values_at, virtual_arrays

log = logging.getLogger(__name__)


def polygon_voxels(placed: PlacedPolygon, geometry: Geometry) -> np.ndarray:
    """Survey indices (n, 3) of the voxel centres a placed polygon covers, sorted."""
    ua, va = placed.uv_axes
    values = axis_values(geometry)
    iu, iv = rasterise(placed.vertices, grid_units(geometry, ua, values[ua]), grid_units(geometry, va, values[va]))
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


def _read_attributes(survey: Survey, attributes: list[str], placed: list[PlacedPolygon],
                     voxels: list[np.ndarray], *, device: str = "auto") -> list[np.ndarray]:
    """Values (n_k, n_attributes) float32 of every attribute at each polygon's voxels.

    Polygons on the same slice share one read per attribute: the bounding box of all their
    voxels on that slice (so only the chunks they touch are decoded, and only once); a virtual
    attribute is computed there (:func:`~facies.engine.virtual.values_at`, on ``device``).
    """
    out = [np.zeros((len(idx), len(attributes)), np.float32) for idx in voxels]
    slices = defaultdict(list)
    for k, p in enumerate(placed):
        if len(voxels[k]):
            slices[(p.fixed_axis, p.fixed_index)].append(k)
    virtual = virtual_arrays(survey)
    sources = [virtual[a].source for a in attributes if a in virtual]
    # One state of each attribute (and of each virtual one's source), not a run's half-written one.
    with survey.reading(*attributes, *sources):
        # Opened (and checked complete) under the locks, once each: every open reads the array's metadata.
        arrays = {a: survey.array(a) for a in attributes if a not in virtual}
        for (fixed_axis, fixed_index), members in slices.items():
            idx = np.concatenate([voxels[k] for k in members])
            lo, hi = idx.min(axis=0), idx.max(axis=0)
            region: list[slice | int] = [slice(int(a), int(b) + 1) for a, b in zip(lo, hi)]
            region[fixed_axis] = fixed_index
            ua, va = placed[members[0]].uv_axes
            cuts = np.cumsum([len(voxels[k]) for k in members])[:-1]
            for column, name in enumerate(attributes):
                if name in virtual:
                    values = values_at(survey, name, idx[:, 0], idx[:, 1], idx[:, 2], device=device, progress=False)
                    for k, part in zip(members, np.split(values, cuts)):
                        out[k][:, column] = part
                    continue
                block = np.asarray(arrays[name][tuple(region)])
                for k in members:
                    out[k][:, column] = block[voxels[k][:, ua] - lo[ua], voxels[k][:, va] - lo[va]]
    return out


def extract_training(survey: Survey, polygons_path: str | Path, attributes=None, name: str = "picks", *,
                     overwrite: bool = False, device: str = "auto") -> TrainingTable:
    """Build the training table of a polygon file and store it as ``training/<name>``.

    Parameters
    ----------
    survey : Survey
        Open survey store (writable).
    polygons_path : path-like
        ``.json`` or ``.csv`` polygon file, in survey units (docs/training.md).
    attributes : list of str, optional
        Attribute volumes to read, stored or virtual; None reads every complete attribute of the survey,
        virtual ones included.
    name : str
        Table name in the store.
    overwrite : bool
        Replace an existing table of that name.
    device : {"auto", "cpu", "gpu"}
        Where virtual attributes are computed (as ``facies filter --device``).

    Returns
    -------
    TrainingTable
        With ``report``: per polygon the voxels rasterised, repeated, on dead traces, with NaN and kept;
        per facies the voxels kept and needed by attribute selection; the warnings issued.

    Raises
    ------
    FaciesError
        For any bad input (see :func:`~facies.engine.training.polygons.place_polygon`), a polygon with no
        voxel, two facies claiming one voxel, nothing left after skipping dead traces and NaN, or an
        existing table (whole or damaged) without ``overwrite``.
    ArrayBusyError
        When another command saves or reads the table when this one saves it (see
        :meth:`~facies.engine.training.table.TrainingTable.save`).
    """
    check_name(name, "training table")
    if not overwrite and table_exists(survey, name):  # early, before the work; the save checks again under its lock
        raise FaciesError(f"training table {name!r} already exists in {survey.path}; "
                          "pass --overwrite or choose another --name")
    attributes = survey.resolve_attributes(attributes, include_virtual=True)
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

    first_claims = np.split(keep, np.cumsum([len(v) for v in voxels])[:-1])
    claimed = [idx[first_claim] for idx, first_claim in zip(voxels, first_claims)]
    trace_mask = geometry.trace_mask
    assert trace_mask is not None  # filled by Geometry.__post_init__
    lives = [trace_mask[idx[:, 0], idx[:, 1]] for idx in claimed]
    live_voxels = [idx[live] for idx, live in zip(claimed, lives)]
    all_values = _read_attributes(survey, attributes, placed, live_voxels, device=device)

    rows, per_polygon = [], []
    for k, (first_claim, live, idx, values) in enumerate(zip(first_claims, lives, live_voxels, all_values)):
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
