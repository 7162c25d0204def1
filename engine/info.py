"""What ``facies info`` reports about a survey store."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facies.engine.locks import ArrayBusyError
from facies.engine.gtm.model_io import list_gtms
from facies.engine.schema import FACIES_KEY, FORMAT_VERSION_FIELD, GTM_MODELS_GROUP
from facies.engine.store import Survey
from facies.engine.virtual import virtual_arrays


def disk_bytes(path: Path) -> int:
    """Bytes on disk under ``path`` (sum of file sizes)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def volume_stats(array, step: int | None = None) -> dict:
    """Min, max and mean of a 3D array over finite values, streamed in inline slabs.

    Sums accumulate in float64 so the mean of a large float32 volume keeps its precision.
    """
    step = step or int(array.chunks[0])
    lo, hi, total, count = np.inf, -np.inf, 0.0, 0
    for start in range(0, array.shape[0], step):
        block = np.asarray(array[start:start + step])
        if block.dtype.kind == "f":
            block = block[np.isfinite(block)]
        if block.size:
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
            total += float(block.sum(dtype=np.float64))
            count += block.size
    if count == 0:
        return {"min": None, "max": None, "mean": None}
    return {"min": lo, "max": hi, "mean": total / count}


def describe(survey: Survey, *, stats: bool = True) -> dict:
    """Geometry, sample axis and every array of ``survey`` as a JSON-serialisable dict."""
    g = survey.geometry
    live = g.trace_mask
    assert live is not None  # filled by Geometry.__post_init__
    meta = survey.meta
    out = {
        "path": str(survey.path),
        "format_version": meta[FORMAT_VERSION_FIELD],
        "shape": list(g.shape),
        "dims": list(g.dims),
        "inline": {"first": int(g.inlines[0]), "last": int(g.inlines[-1]), "step": g.line_step(g.inlines),
                   "count": int(g.inlines.size)},
        "crossline": {"first": int(g.crosslines[0]), "last": int(g.crosslines[-1]),
                      "step": g.line_step(g.crosslines), "count": int(g.crosslines.size)},
        "sample": {"axis": g.sample_axis, "unit": g.sample_unit, "first": float(g.samples[0]),
                   "last": float(g.samples[-1]), "interval": g.sample_interval, "count": int(g.samples.size)},
        "live_traces": int(live.sum()),
        "total_traces": int(live.size),
        "disk_bytes": disk_bytes(survey.path),
        "arrays": [],
        # Members whose metadata cannot be read: listed so the damage is seen, never read (facies verify).
        "unreadable": survey.unreadable(),
        # GTM models by name (read from their metadata; facies verify checks them whole).
        "gtm_models": _gtm_models(survey),
        # Virtual arrays: recipes computed where they are read, no data (facies.engine.virtual).
        "virtual": [{"name": v.name, "source": v.source, "operator": v.operator, "parameters": v.parameters,
                     "description": f"virtual ({v.describe()})"} for v in virtual_arrays(survey).values()],
    }
    for name in survey.volumes(include_incomplete=True):
        out["arrays"].append(_describe_array(survey, name, stats=stats))
    return out


def _gtm_models(survey: Survey) -> list[dict]:
    """Name, attributes, grid and facies of every GTM model whose metadata reads (damaged ones: facies verify)."""
    models = []
    for name in list_gtms(survey):
        meta = survey.node(f"{GTM_MODELS_GROUP}/{name}").attrs.get(FACIES_KEY)
        meta = meta if isinstance(meta, dict) else {}
        settings = meta.get("settings")
        settings = settings if isinstance(settings, dict) else {}
        models.append({"name": name, "attributes": meta.get("attributes"), "grid": settings.get("grid"),
                       "facies": meta.get("facies_names"), "training": meta.get("training"),
                       "sample_size": meta.get("sample_size")})
    return models


def _describe_array(survey: Survey, name: str, *, stats: bool) -> dict:
    """One array's entry of :func:`describe`."""
    arr = survey.array(name, require_complete=False)
    codecs = [type(c).__name__ for c in (arr.compressors or ())]
    compressors = [c for c in codecs if c != "Crc32cCodec"]
    entry = {
        "name": name, "kind": survey.kind(name), "complete": survey.is_complete(name),
        "shape": list(arr.shape), "dtype": str(arr.dtype), "chunks": list(arr.chunks),
        "compression": ",".join(compressors) or "none",
        "checksum": "crc32c" if "Crc32cCodec" in codecs else "none",
        "disk_bytes": disk_bytes(survey.path / name),
        "provenance": survey.provenance(name).get("command"),
    }
    if stats and entry["complete"]:
        try:
            with survey.reading(name):  # statistics of one state of the array, not half of two
                if survey.is_complete(name):  # still, now that nobody can replace it
                    entry.update(volume_stats(survey.array(name)))
        except ArrayBusyError:  # a run is replacing it right now: list it without statistics
            entry["being_written"] = True
    return entry
