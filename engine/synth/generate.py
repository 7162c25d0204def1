"""``make_synthetic``: write the synthetic survey brick by brick.

A brick is one chunk-aligned lateral tile of whole traces. It is computed with a lateral halo
of :data:`~facies.engine.synth.attributes.HALO` traces (clipped at the survey edge), and only
its interior is written, so every output chunk has exactly one writer and the result does not
depend on the chunk shape. Memory is bounded by a few bricks (plus the lateral arrays), whatever
the survey size; :func:`~facies.engine.synth.preflight.memory_plan` checks it against the
available memory before anything is created.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facies.engine.bricks.plan import Brick, BrickPlan, clip, grow, region_slices
from facies.engine.errors import FaciesError
from facies.engine.locks import held_locks
from facies.engine.memory import host_memory
from facies.engine.progress import WorkProgress
from facies.engine.provenance import make_provenance
from facies.engine.segy import export_segy
from facies.engine.store import DEFAULT_CHUNKS, Survey, clip_chunks
from facies.engine.synth.attributes import ATTRIBUTE_NAMES, ATTRIBUTES, HALO, compute_attributes
from facies.engine.synth.layout import SAMPLE_INTERVAL_MS, make_geometry, resolve_shape
from facies.engine.synth.model import FACIES_NAMES, EarthModel
from facies.engine.synth.polygons import is_synth_polygons, make_polygons, polygons_path, write_polygons
from facies.engine.synth.preflight import (check_chunk_count, check_polygons_target, check_store_target, memory_plan,
                                           segy_targets)
from facies.engine.synth.seismic import region_labels_and_amplitude

log = logging.getLogger(__name__)

#: Version of the model: bump when the values change, so provenance tells surveys apart.
MODEL_VERSION = 2
_COMMAND = "facies synth"
#: The survey's 3D arrays, in the order they are made.
VOLUMES = ("truth", "amplitude", *ATTRIBUTE_NAMES)
#: Largest seed: seeds are hashed as 64-bit integers, so larger ones would repeat smaller ones' noise.
MAX_SEED = 2**63 - 1


def _check_seed(seed) -> int:
    if isinstance(seed, bool):
        raise FaciesError(f"seed {seed!r} must be an integer from 0 to {MAX_SEED}")
    try:
        value = int(seed)
    except (TypeError, ValueError, OverflowError):
        raise FaciesError(f"seed {seed!r} must be a non-negative integer") from None
    if value < 0 or value != seed:
        raise FaciesError(f"seed {seed!r} must be a non-negative integer")
    if value > MAX_SEED:
        raise FaciesError(f"seed {value} is too large; use an integer from 0 to {MAX_SEED} (2**63 - 1)")
    return value


def _check_segy_volumes(segy_volumes, segy_dir) -> list[str] | None:
    """The volumes to export, in order, without repeats; None means all of them."""
    if segy_volumes is None:
        return None
    if segy_dir is None:
        raise FaciesError("--segy-volumes chooses what --segy-dir writes; give --segy-dir DIR too")
    names = list(dict.fromkeys(segy_volumes))
    if not names:
        raise FaciesError("--segy-volumes names no volume; name at least one, or leave it out to write all")
    unknown = [name for name in names if name not in VOLUMES]
    if unknown:
        raise FaciesError(f"--segy-volumes names {unknown[0]!r}, which the synthetic survey does not make; "
                          f"choose among {', '.join(VOLUMES)}")
    return names


class _BrickWriter:
    """Computes one brick (labels, amplitude, attributes) and writes its interior."""

    def __init__(self, model: EarthModel, arrays: dict, dt_ms: float):
        self.model, self.arrays, self.dt_ms = model, arrays, dt_ms

    def __call__(self, brick: Brick) -> list[np.ndarray]:
        shape = self.model.shape
        outer = clip(grow(brick.region, (HALO, HALO)), shape[:2])
        il, xl = region_slices(brick.region)
        big_il, big_xl = region_slices(outer)
        labels, amplitude = region_labels_and_amplitude(self.model, big_il, big_xl, self.dt_ms)
        inner = region_slices(brick.region, origin=(big_il.start, big_xl.start))
        live = labels[inner][..., :1] != 0  # (ni, nj, 1): dead traces are 0 on every sample
        volumes = {"truth": labels[inner], "amplitude": amplitude[inner]}
        attrs = compute_attributes(amplitude, self.model.trace_mask[big_il, big_xl], region=outer,
                                   out_region=brick.region, survey_shape=shape, seed=self.model.seed,
                                   dt_ms=self.dt_ms)
        del amplitude
        for name in list(attrs):  # popped: each attribute's array goes once its masked copy is made
            volumes[name] = np.where(live, attrs.pop(name), np.float32(0))
        for name, values in volumes.items():
            self.arrays[name][il, xl, :] = values
        return _slice_counts(labels[inner], il, xl, shape)


def _slice_counts(labels: np.ndarray, il: slice, xl: slice, shape) -> list[np.ndarray]:
    """Voxels of each facies code per inline, per crossline and per sample (to place polygons)."""
    codes = len(FACIES_NAMES) + 1
    counts = [np.zeros((codes, n), dtype=np.int64) for n in shape]
    for code in range(codes):
        hit = labels == code
        counts[0][code, il] = hit.sum(axis=(1, 2))
        counts[1][code, xl] = hit.sum(axis=(0, 2))
        counts[2][code] = hit.sum(axis=(0, 1))
    return counts


def make_synthetic(store_path, *, shape: Sequence[int] | None = None, size: str | None = None, seed: int = 0,
                   chunks: Sequence[int] | None = None, segy_dir=None, segy_volumes: Sequence[str] | None = None,
                   overwrite: bool = False, progress: bool | None = None, workers: int | None = None,
                   on_volume: Callable[[str], None] | None = None,
                   on_polygons: Callable[[Path, int], None] | None = None) -> Survey:
    """Create the built-in synthetic survey: facies bodies, ``truth``, ``amplitude``, 10 attributes, polygons.

    Every argument and every output path is checked before anything is removed or created
    (:mod:`facies.engine.synth.preflight`), so a refused run leaves the disk as it was. The
    polygon file is written before the arrays are marked complete, so a store whose arrays are
    all complete has its polygons beside it.

    Parameters
    ----------
    store_path : path-like
        The new survey store (``.zarr`` folder), in an existing folder. The interpreter polygons
        go beside it, in ``<store>.polygons.json`` (see :func:`~facies.engine.synth.polygons.polygons_path`).
    shape : (n_il, n_xl, n_s), optional
        Explicit shape; exclusive with ``size``.
    size : {"tiny", "small", "medium", "large"}, optional
        Named shape (:data:`~facies.engine.synth.layout.SIZES`); default "small" when no shape.
    seed : int
        From 0 to 2**63 - 1. Fixes every value; the same seed and shape give bit-identical arrays for any chunks.
    chunks : (int, int, int), optional
        Storage chunks (default 128 cubed, clipped to the shape); bricks are lateral chunk tiles.
    segy_dir : path-like, optional
        Also export every volume as ``<segy_dir>/<name>.sgy`` (IEEE floats); the folder is made if needed.
    segy_volumes : sequence of str, optional
        Export only these volumes to ``segy_dir`` (default: all of them); needs ``segy_dir``.
    overwrite : bool
        Replace existing outputs, but only ones facies synth made: a facies survey store (never a
        link, the current folder or one above it), a polygon file it wrote and nobody edited, and
        SEG-Y files whose text header says facies synth wrote them.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    workers : int, optional
        Threads computing bricks (default: up to 4, at most the CPU count; fewer when memory is short).
    on_volume : callable, optional
        Called with each SEG-Y path written (the CLI prints them).
    on_polygons : callable, optional
        Called once with the polygon file's path and the number of polygons in it (the CLI prints them).

    Returns
    -------
    Survey
        The finished store, opened for reading and writing.

    Raises
    ------
    FaciesError
        A bad argument, an output that may not be replaced, or a shape that needs more memory
        than is available; nothing was removed or created then.
    """
    shape = resolve_shape(shape, size)
    seed = _check_seed(seed)
    chunks_text = ",".join(str(c) for c in chunks) if chunks is not None else None
    chunks = clip_chunks(tuple(chunks or DEFAULT_CHUNKS), shape)
    export_names = _check_segy_volumes(segy_volumes, segy_dir)
    store_path = Path(os.fspath(store_path))
    # Every output checked before anything is touched: store, polygons, SEG-Y files, names, memory.
    check_store_target(store_path, overwrite)
    polygon_file = polygons_path(store_path)
    check_polygons_target(polygon_file, overwrite)
    if segy_dir is not None:
        segy_dir = Path(os.fspath(segy_dir))
        segy_targets(segy_dir, export_names or VOLUMES, store_path, overwrite)
    n_bricks = math.prod(-(-n // c) for n, c in zip(shape[:2], chunks[:2]))
    wanted = max(1, min(workers or min(4, os.cpu_count() or 1), n_bricks))
    plan = memory_plan(shape, chunks, wanted, host_memory()[1])
    check_chunk_count(shape, chunks, chunks_text or ",".join(map(str, chunks)))
    if plan.workers < wanted:
        log.info("synth: %d brick threads instead of %d, to fit in the available memory", plan.workers, wanted)

    geometry = make_geometry(shape, seed)
    parameters = {"shape": list(shape), "size": size, "seed": seed, "model_version": MODEL_VERSION}
    survey = Survey.create(store_path, geometry, chunks=chunks, overwrite=overwrite,
                           provenance=make_provenance(_COMMAND, parameters))
    # Held while the arrays are written: a concurrent --overwrite of this store, or a reader, is refused.
    with held_locks(survey, VOLUMES):
        # The old store is gone, so its polygons must not outlive it; checked again here, as the
        # preflight did: only a polygon file facies synth wrote, unedited, is ever removed.
        if is_synth_polygons(polygon_file):
            polygon_file.unlink()
        model = EarthModel.build(shape, seed, geometry.trace_mask)
        arrays = _create_volumes(survey, parameters)
        counts = _write_bricks(model, arrays, survey.chunks, plan.workers, progress)
        polygons = make_polygons(model, geometry, counts)
        written = write_polygons(polygon_file, polygons, made_by={"shape": list(shape), "seed": seed})
        for name in arrays:
            survey.mark_complete(name)
    if on_polygons is not None:
        on_polygons(written, len(polygons["polygons"]))
    if segy_dir is not None:
        _export_segy(survey, segy_dir, on_volume, export_names, overwrite)
    return survey


def _write_bricks(model: EarthModel, arrays: dict, chunks, workers: int, progress) -> list[np.ndarray]:
    """Compute and write every brick (lateral tiles of one chunk, all samples); the facies counts per slice."""
    shape = model.shape
    bricks = list(BrickPlan(shape[:2], chunks[:2], chunks[:2]))
    counts = [np.zeros((len(FACIES_NAMES) + 1, n), dtype=np.int64) for n in shape]
    writer = _BrickWriter(model, arrays, SAMPLE_INTERVAL_MS)
    with WorkProgress("synth", len(bricks), unit="vox", enabled=progress) as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for brick, brick_counts in zip(bricks, pool.map(writer, bricks)):
            for total, part in zip(counts, brick_counts):
                total += part
            bar.advance(1, brick.size * shape[2])
    return counts


def _create_volumes(survey: Survey, parameters: dict) -> dict:
    """The incomplete arrays the bricks fill: truth, amplitude, then the attributes."""
    made_by = make_provenance(_COMMAND, parameters)
    from_amplitude = make_provenance(_COMMAND, parameters, inputs=["amplitude"])
    codes = {"0": "no data", **{str(c): n for c, n in enumerate(FACIES_NAMES, start=1)}}
    arrays = {
        "truth": survey.create_volume("truth", dtype="uint8", kind="label", provenance=made_by, attributes={
            "long_name": "true facies code", "facies_names": list(FACIES_NAMES), "facies_codes": codes}),
        "amplitude": survey.create_volume("amplitude", provenance=made_by, attributes={
            "long_name": "synthetic post-stack amplitude", "units": "amplitude"}),
    }
    for spec in ATTRIBUTES:
        arrays[spec.name] = survey.create_volume(spec.name, provenance=from_amplitude, attributes={
            "long_name": spec.long_name, "units": spec.units, "synthetic_role": spec.role})
    return arrays


def _export_segy(survey: Survey, folder: Path, on_volume, names: Sequence[str] | None = None,
                 overwrite: bool = False) -> None:
    """Volumes (all by default) as IEEE SEG-Y through the SEG-Y exporter (targets checked by the caller)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in survey.volumes() if names is None else names:
        out = folder / f"{name}.sgy"
        export_segy(survey, name, out, format="ieee", overwrite=overwrite)
        if on_volume is not None:
            on_volume(str(out))
