"""SEG-Y ingest: headers -> geometry, then chunk-aligned columns written in parallel.

The first file defines the survey (or must match an existing store); every later file is
another attribute on the same grid. Each column (chunk_il x chunk_xl x all samples) is one
task of a :class:`~facies.engine.ledger.Ledger`: it is read, decoded, written, and only then
marked done, so ``resume=True`` continues an interrupted ingest and produces the same store.
Memory stays bounded: at most ``workers + 1`` columns are in flight.

Missing traces and dead (all-zero) traces of the file that defines the survey are False in
``trace_mask``, and zeros in the data; later files are zeroed where the mask is False.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import numpy as np

from facies.engine.bricks.plan import BrickPlan
from facies.engine.bricks.run import RunInterrupted
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger
from facies.engine.progress import WorkProgress
from facies.engine.provenance import make_provenance
from facies.engine.segy.formats import decode_samples, format_name
from facies.engine.segy.layout import TRACE_HEADER_SIZE
from facies.engine.segy.reader import read_records
from facies.engine.segy.scan import ScannedSegy, header_bytes, scan_segy
from facies.engine.store import DEFAULT_CHUNKS, Survey

log = logging.getLogger("facies.segy")

#: Group attribute key holding the SEG-Y facts needed for a faithful export.
SEGY_ATTRS = "segy"
# Serialises trace_mask writes: the mask's chunks need not match the volume's columns.
_mask_lock = threading.Lock()
#: Test hook: called in the main thread with the number of columns done so far in this run.
_after_column_hook: Callable[[int], None] | None = None


def ingest_segy(paths, survey_path, *, names: Sequence[str] | None = None, preset: str = "standard",
                iline_byte: int | None = None, xline_byte: int | None = None, cdpx_byte: int | None = None,
                cdpy_byte: int | None = None, chunks: Sequence[int] | None = None, resume: bool = False,
                progress: bool | None = None, sample_axis: str | None = None, compression: str = "zstd",
                workers: int | None = None) -> Survey:
    """Ingest SEG-Y files into a survey store.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        SEG-Y files; the first defines the geometry (or must match the existing store).
    survey_path : path-like
        Store to create, or to add to when it exists.
    names : sequence of str, optional
        Array names, one per file. Default: ``"amplitude"`` for the first file when the store
        has no complete volume yet, else the file stem made into a valid name.
    preset : {"standard", "petrel"}
        Trace header byte positions (see :mod:`facies.engine.segy.scan`).
    iline_byte, xline_byte, cdpx_byte, cdpy_byte : int, optional
        Explicit byte positions; override the preset.
    chunks : sequence of 3 int, optional
        Storage chunks (inline, crossline, sample). Default: the store's, or 128^3 for a new one.
    resume : bool
        Continue an interrupted ingest with the same parameters (done columns are skipped).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    sample_axis : {"time", "depth"}, optional
        Override the time/depth decision (:mod:`facies.engine.segy.axis`).
    compression : {"zstd", "none"}
        Codec of a new store.
    workers : int, optional
        Threads writing columns (default: up to 4).

    Returns
    -------
    Survey
        The store, reopened so its geometry includes the final trace mask.

    Raises
    ------
    FaciesError
        Bad files, a geometry that does not match, an existing array name.
    RunInterrupted
        On Ctrl-C, after the columns in flight are written; done columns stay recorded for ``resume``.
    """
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise FaciesError("no SEG-Y file given; pass at least one FILE.sgy")
    if names is not None and len(names) != len(paths):
        raise FaciesError(f"{len(names)} names for {len(paths)} files; give one --name per file or none")
    bytes_ = header_bytes(preset, iline_byte=iline_byte, xline_byte=xline_byte, cdpx_byte=cdpx_byte,
                          cdpy_byte=cdpy_byte)
    survey_path = Path(survey_path)
    workers = workers or min(4, os.cpu_count() or 1)
    survey = Survey.open(survey_path) if survey_path.exists() else None
    for k, path in enumerate(paths):
        scanned = scan_segy(path, bytes_, sample_axis)
        if survey is None:
            survey = Survey.create(survey_path, scanned.geometry, chunks=tuple(chunks or DEFAULT_CHUNKS),
                                   compression=compression,
                                   provenance=make_provenance("facies ingest", {"file": str(path)}, [str(path)]))
        else:
            scanned = _match_survey(survey, scanned, path)
        name = names[k] if names is not None else _default_name(survey, path, first=(k == 0))
        _ingest_file(survey, scanned, name, chunks=chunks, resume=resume, progress=progress, workers=workers)
        # Reopen: the first file's columns rewrote trace_mask (dead traces), and the next file must be
        # checked and zeroed against that mask, not the one cached before, to equal a separate ingest.
        survey = Survey.open(survey_path)
    return survey


def _default_name(survey: Survey, path: Path, *, first: bool) -> str:
    if first and not survey.volumes():
        return "amplitude"
    name = re.sub(r"\W+", "_", path.stem).strip("_") or "volume"
    return name if name[0].isalpha() else f"v_{name}"


def _match_survey(survey: Survey, scanned: ScannedSegy, path: Path) -> ScannedSegy:
    """Check a file against an existing store; adopt the store's axis when the file gives no evidence."""
    mine, theirs = survey.geometry, scanned.geometry
    if scanned.axis_reason == "default" and mine.sample_axis != theirs.sample_axis:
        theirs = replace(theirs, sample_axis=mine.sample_axis, sample_unit=mine.sample_unit)
    # The store's mask also drops dead traces, so compare axes here and live traces below.
    same_grid = mine.shape[:2] == theirs.shape[:2]
    diffs = mine.differences(replace(theirs, trace_mask=mine.trace_mask) if same_grid else theirs)
    if diffs:
        raise FaciesError(f"{path.name} does not match the geometry of {survey.path} ({'; '.join(diffs)}); "
                          "ingest it into its own store or check the header bytes")
    missing = mine.trace_mask & ~scanned.grid.present
    if missing.any():
        i, j = (int(v[0]) for v in np.nonzero(missing))
        raise FaciesError(f"{path.name} lacks {int(missing.sum())} live traces of {survey.path} (first: inline "
                          f"{mine.inlines[i]} crossline {mine.crosslines[j]}); every live bin needs a trace")
    return replace(scanned, geometry=theirs)


def _ingest_file(survey: Survey, scanned: ScannedSegy, name: str, *, chunks, resume: bool, progress,
                 workers: int) -> None:
    layout = scanned.layout
    segy = dict(survey.group.attrs.get(SEGY_ATTRS, {}))
    if survey.has(name):
        if not resume:
            raise FaciesError(f"array {name!r} already exists in {survey.path}; choose another --name "
                              "(or --resume to finish an interrupted ingest of it)")
        if survey.is_complete(name):
            log.warning("%s is already ingested as %r; nothing to resume", layout.path.name, name)
            return
    defines_mask = segy.get("geometry_from", name) == name and not any(v != name for v in survey.volumes())
    parameters = {"file": str(layout.path.resolve()), "file_bytes": layout.file_bytes, "name": name,
                  "header_bytes": scanned.header_bytes, "sample_axis": scanned.geometry.sample_axis,
                  "chunks": list(chunks) if chunks else None, "defines_mask": defines_mask}
    if not survey.has(name):
        survey.create_volume(name, dtype="float32", kind="attribute", chunks=tuple(chunks) if chunks else None,
                             provenance=make_provenance("facies ingest", parameters, [str(layout.path)]),
                             attributes={"long_name": name, "units": ""})
    array = survey.array(name, require_complete=False)

    def record_facts(segy: dict) -> dict:
        if defines_mask:
            segy.update(_survey_facts(scanned, name))
        segy.setdefault("volumes", {})[name] = _volume_facts(scanned)
        return segy

    survey.update_attrs(SEGY_ATTRS, record_facts)
    # One task per chunk column: a lateral plan whose bricks are single chunks.
    plan = BrickPlan(survey.shape[:2], array.chunks[:2], array.chunks[:2])
    ledger = Ledger.start(survey, f"ingest-{name}", plan.grid, parameters, resume=resume, locks=[name])
    # The file that defines the mask writes it; every later file is zeroed where it is False.
    mask = survey.group["trace_mask"] if defines_mask else survey.geometry.trace_mask
    try:
        fd = os.open(layout.path, os.O_RDONLY)
        try:
            def column(index):
                return _write_column(fd, array, scanned, plan.brick_at(index).region, mask, defines_mask)

            try:
                _run_columns(ledger, column, workers, progress, f"ingest {name}")
            except KeyboardInterrupt:
                raise RunInterrupted(
                    f"interrupted: {ledger.n_done} of {ledger.n_tasks} columns of {name!r} are written and "
                    f"recorded in {survey.path}; run the same command again with --resume to continue") from None
        finally:
            os.close(fd)
        survey.mark_complete(name)
        ledger.finish()
    finally:
        ledger.close()


def _run_columns(ledger: Ledger, column, workers: int, progress, description: str) -> None:
    """Run pending columns on a thread pool, at most ``workers + 1`` in flight; mark each done in order of completion."""
    pending = list(ledger.pending())
    done_here = 0
    with WorkProgress(description, ledger.n_tasks, unit="B", enabled=progress) as bar, \
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facies-ingest") as pool:
        bar.skip(ledger.n_done)
        running = {}
        try:
            while pending or running:
                while pending and len(running) <= workers:
                    index = pending.pop(0)
                    running[pool.submit(column, index)] = index
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = running.pop(future)
                    work = future.result()
                    ledger.mark_done(index)
                    bar.advance(1, work)
                    done_here += 1
                    if _after_column_hook is not None:
                        _after_column_hook(done_here)
        except BaseException:
            for future in running:
                future.cancel()
            raise


def _write_column(fd: int, array, scanned: ScannedSegy, region, mask, defines_mask: bool) -> int:
    """Read, decode and write one chunk column; returns the bytes of SEG-Y read.

    ``region`` is the column's ((i0, i1), (j0, j1)). ``mask`` is the store's ``trace_mask`` array,
    written here when this file defines the mask, else the live-trace mask (NumPy) to zero by.
    """
    layout = scanned.layout
    (i0, i1), (j0, j1) = region
    traces = scanned.grid.trace_of_bin[i0:i1, j0:j1].ravel()
    cells = np.flatnonzero(traces >= 0)
    order = np.argsort(traces[cells], kind="stable")
    cells = cells[order]
    raw = read_records(fd, layout, traces[cells])
    block = np.zeros((traces.size, layout.n_samples), dtype=np.float32)
    block[cells] = decode_samples(raw[:, TRACE_HEADER_SIZE:], layout.format_code, layout.endian)
    n_read = int(raw.nbytes)
    del raw  # keep at most one copy of the column alive while zarr encodes it
    block = block.reshape(i1 - i0, j1 - j0, layout.n_samples)
    if defines_mask:
        with _mask_lock:
            mask[i0:i1, j0:j1] = np.any(block != 0, axis=2)
    else:
        block[~mask[i0:i1, j0:j1]] = 0
    array[i0:i1, j0:j1, :] = block
    return n_read


def _survey_facts(scanned: ScannedSegy, name: str) -> dict:
    """SEG-Y header facts of the survey, for a faithful export."""
    layout = scanned.layout
    return {"geometry_from": name, "header_bytes": scanned.header_bytes,
            "coordinate_scalar": scanned.coordinate_scalar, "sample_interval": layout.interval,
            "delay": scanned.delay, "time_scalar": scanned.time_scalar,
            "measurement_system": layout.measurement_system, "sample_axis_reason": scanned.axis_reason}


def _volume_facts(scanned: ScannedSegy) -> dict:
    layout = scanned.layout
    return {"source": str(layout.path), "format_code": layout.format_code, "format": format_name(layout.format_code),
            "endian": "big" if layout.endian == ">" else "little", "n_traces": layout.n_traces,
            "file_bytes": layout.file_bytes, "revision": layout.revision, "header_bytes": scanned.header_bytes}
