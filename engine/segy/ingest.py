"""SEG-Y ingest: headers -> geometry, then chunk-aligned columns written in parallel.

The first file defines the survey (or must match an existing store); every later file is
another attribute on the same grid. Each column (chunk_il x chunk_xl x all samples) is one
task of a :class:`~facies.engine.ledger.Ledger`: it is read, decoded, written, and only then
marked done, so ``resume=True`` continues an interrupted ingest and produces the same store.
Memory stays bounded: at most ``workers + 1`` columns are in flight.

Missing traces and dead (all-zero) traces of the file that defines the survey are False in
``trace_mask``, and zeros in the data; later files are zeroed where the mask is False. A file
with no live trace at all is an error, and its array is removed.

Nothing is created before every file's headers, every name and every option are checked. A
store this call creates is removed again when the call fails before anything worth keeping is
in it (no complete array, no recorded column to resume); a store that existed is never removed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facies.engine.bricks.plan import BrickPlan
from facies.engine.bricks.result import RunInterrupted
from facies.engine.errors import FaciesError
from facies.engine.paths import check_new_path
from facies.engine.ledger import Ledger, parameter_diff, truncate_utf8
from facies.engine.progress import WorkProgress
from facies.engine.provenance import jsonable, make_provenance
from facies.engine.schema import LONG_NAME_ATTR, MAX_NAME_BYTES, SEGY_ATTRS, TRACE_MASK, UNITS_ATTR, check_array_name
from facies.engine.segy.formats import decode_samples, format_name
from facies.engine.segy.layout import TRACE_HEADER_SIZE, read_layout
from facies.engine.segy.reader import read_records
from facies.engine.segy.scan import ScannedSegy, header_bytes, sample_interval_of, scan_segy
from facies.engine.store import COMPRESSIONS, DEFAULT_CHUNKS, Survey, clip_chunks, remove_store

log = logging.getLogger("facies.segy")

# Serialises trace_mask writes: the mask's chunks need not match the volume's columns.
_mask_lock = threading.Lock()
#: Test hook: called in the main thread with the number of columns done so far in this run.
_after_column_hook: Callable[[int], None] | None = None
#: What ingest records as the provenance command of its arrays (``--overwrite`` replaces only those).
INGEST_COMMAND = "facies ingest"
#: Ingest parameters that determine an array's values: equal ones mean "already ingested".
_CONTENT_PARAMETERS = ("file", "file_bytes", "header_bytes", "sample_axis", "sample_interval")


@dataclass
class _Progress:
    """What this call has made that is worth keeping (decides whether a store it created is removed)."""

    complete: int = 0  # files ingested (or found already ingested)
    recorded: int = 0  # columns of the current file recorded done, for --resume


def ingest_segy(paths, survey_path, *, names: Sequence[str] | None = None, preset: str = "standard",
                iline_byte: int | None = None, xline_byte: int | None = None, cdpx_byte: int | None = None,
                cdpy_byte: int | None = None, chunks: Sequence[int] | None = None, resume: bool = False,
                overwrite: bool = False, progress: bool | None = None, sample_axis: str | None = None,
                sample_interval: float | None = None, compression: str = "zstd",
                workers: int | None = None) -> Survey:
    """Ingest SEG-Y files into a survey store.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        SEG-Y files; the first defines the geometry (or must match the existing store).
    survey_path : path-like
        Store to create, or to add to when it exists.
    names : sequence of str, optional
        Array names, one per file (letters, digits, '_' and '-', at most 200 bytes in UTF-8).
        Default: ``"amplitude"`` for the first file when the store has no complete volume yet (or,
        with ``resume``, when ingest made ``amplitude`` from that file), else the file stem made
        into a valid name (cut to 200 bytes).
    preset : {"standard", "petrel"}
        Trace header byte positions (see :mod:`facies.engine.segy.scan`).
    iline_byte, xline_byte, cdpx_byte, cdpy_byte : int, optional
        Explicit byte positions; override the preset.
    chunks : sequence of 3 int, optional
        Storage chunks (inline, crossline, sample). Default: the store's, or 128^3 for a new one.
    resume : bool
        Continue an interrupted ingest with the same parameters (done columns are skipped).
    overwrite : bool
        Replace an existing array of the same name that ingest made (it is removed when the new
        ingest starts writing). Excludes ``resume``.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    sample_axis : {"time", "depth"}, optional
        Override the time/depth decision (:mod:`facies.engine.segy.axis`).
    sample_interval : float, optional
        Sample interval in ms (time) or m/ft (depth), instead of the headers'; required for a
        file whose headers give 0.
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
        Bad files (also one with no live trace), names or options, a geometry that does not match,
        an existing array name without ``resume`` or ``overwrite``, a store that another command
        created meanwhile.
    RunInterrupted
        On Ctrl-C, after the columns in flight are written; done columns stay recorded for ``resume``.
    """
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise FaciesError("no SEG-Y file given; pass at least one FILE.sgy")
    if names is not None and len(names) != len(paths):
        raise FaciesError(f"{len(names)} names for {len(paths)} files; give one --name per file or none")
    if resume and overwrite:
        raise FaciesError("--resume continues an interrupted ingest and --overwrite starts it over; pass one of them")
    bytes_ = header_bytes(preset, iline_byte=iline_byte, xline_byte=xline_byte, cdpx_byte=cdpx_byte,
                          cdpy_byte=cdpy_byte)
    chunks = _check_chunks(chunks)
    if compression not in COMPRESSIONS:
        raise FaciesError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise FaciesError(f"workers must be a positive integer, not {workers!r}")
    workers = workers or min(4, os.cpu_count() or 1)
    survey_path = Path(survey_path)
    # A dangling link is not a new store's path: Survey.open says what it is.
    survey = Survey.open(survey_path) if survey_path.exists() or survey_path.is_symlink() else None
    # Everything that can be checked without reading traces is checked before anything is created:
    # a bad second file or name must not leave a store (or a first array) behind.
    if survey is None:
        _check_new_store_path(survey_path)
    for path in paths:
        sample_interval_of(read_layout(path), sample_interval)
    names = _target_names(survey, paths, names, resume=resume)
    if survey is not None:
        for name in names:
            _check_existing(survey, name, resume=resume, overwrite=overwrite)
    done = _Progress()
    created = False
    try:
        for k, path in enumerate(paths):
            scanned = scan_segy(path, bytes_, sample_axis, sample_interval)
            if survey is None:
                survey = _create_store(survey_path, scanned, path, chunks=chunks, compression=compression)
                created = True
            else:
                scanned = _match_survey(survey, scanned, path)
            _ingest_file(survey, scanned, names[k], chunks=chunks, resume=resume, overwrite=overwrite,
                         progress=progress, workers=workers, done=done)
            done.complete += 1
            done.recorded = 0
            # Reopen: the first file's columns rewrote trace_mask (dead traces), and the next file must be
            # checked and zeroed against that mask, not the one cached before, to equal a separate ingest.
            survey = Survey.open(survey_path)
    except RunInterrupted:
        raise  # its message points at the store and --resume: keep the store
    except BaseException:
        if created and not done.complete and not done.recorded:
            _remove_created_store(survey_path)
        raise
    assert survey is not None  # paths is not empty, and the loop opened the store
    return survey


def _create_store(survey_path: Path, scanned: ScannedSegy, path: Path, *, chunks, compression: str) -> Survey:
    """Create the store from the first file; another command creating it first is a clear error.

    The store did not exist when this call started. ``Survey.create`` refuses an existing path (and
    creates the folder atomically), so when two ingests create the same store, the second gets
    here; it must neither write into nor remove the first one's store.
    """
    try:
        return Survey.create(survey_path, scanned.geometry, chunks=chunks or DEFAULT_CHUNKS, compression=compression,
                             provenance=make_provenance(INGEST_COMMAND, {"file": str(path)}, [str(path)]))
    except FaciesError:
        if not survey_path.exists():  # another reason (e.g. its folder vanished): Survey.create's own words
            raise
    raise FaciesError(f"{survey_path} was created by another command while this ingest was reading {path.name}; "
                      "run this command again to add to that store, or choose another --survey")


def _check_new_store_path(path: Path) -> None:
    """A new store's folder can be made only in an existing folder (checked before the files are scanned)."""
    check_new_path(path, "store", hint="choose another --survey")


def _check_chunks(chunks) -> tuple[int, int, int] | None:
    """``chunks`` as three positive integers (None stays None), checked before a store is created."""
    if chunks is None:
        return None
    values = tuple(chunks)
    if len(values) != 3 or not all(isinstance(c, (int, np.integer)) and c >= 1 for c in values):
        raise FaciesError(f"chunks must be 3 positive integers (inline, crossline, sample), not {values}")
    ci, cx, cs = values
    return int(ci), int(cx), int(cs)


def _target_names(survey: Survey | None, paths: Sequence[Path], names: Sequence[str] | None, *,
                  resume: bool = False) -> list[str]:
    """The array name of every file, checked: valid, short enough, each used once."""
    # "amplitude" once the store has a complete array only when resuming the command that made it from this
    # file: "run the same command again with --resume" must not ingest a completed first file again as <stem>.
    first_default = (survey is None or not survey.volumes()
                     or (resume and _ingested_from(survey, "amplitude", paths[0])))
    out = list(names) if names is not None else [_default_name(p, first=(k == 0 and first_default))
                                                  for k, p in enumerate(paths)]
    for name in out:
        check_array_name(name)  # the store's rule, length included
    for k, name in enumerate(out):
        if name in out[:k]:
            raise FaciesError(f"{paths[out.index(name)].name} and {paths[k].name} would both be ingested as "
                              f"{name!r}; give one --name per file")
    return out


def _default_name(path: Path, *, first: bool) -> str:
    if first:
        return "amplitude"
    name = re.sub(r"\W+", "_", path.stem).strip("_") or "volume"
    name = name if name[0].isalpha() else f"v_{name}"
    # A long file name gives a long stem; cut it (on a character boundary) rather than refuse a name not chosen.
    return truncate_utf8(name, MAX_NAME_BYTES)


def _ingested_from(survey: Survey, name: str, path: Path) -> bool:
    """Whether ``name`` exists and ingest made it from ``path``."""
    if not survey.has(name) or _made_by(survey, name) != INGEST_COMMAND:
        return False
    return survey.provenance(name).get("parameters", {}).get("file") == str(path.resolve())


def _made_by(survey: Survey, name: str) -> str:
    return str(survey.provenance(name).get("command", "an unknown command"))


def _check_existing(survey: Survey, name: str, *, resume: bool, overwrite: bool) -> None:
    """Refuse an existing ``name`` unless the user asked to continue or replace an array ingest made."""
    if not survey.has(name):
        return
    made_by = _made_by(survey, name)
    if made_by != INGEST_COMMAND and (resume or overwrite):
        raise FaciesError(f"array {name!r} in {survey.path} was made by {made_by!r}, not by ingest; ingest "
                          f"{'--overwrite replaces' if overwrite else '--resume continues'} only arrays ingest "
                          "made: choose another --name")
    if not (resume or overwrite):
        hint = "" if survey.is_complete(name) else " (or --resume to finish its interrupted ingest)"
        raise FaciesError(f"array {name!r} already exists in {survey.path}; choose another --name or pass "
                          f"--overwrite to replace it{hint}")


def _remove_created_store(path: Path) -> None:
    """Remove a store this call created and failed to put anything into; never hide the call's own error."""
    try:
        survey = Survey.open(path)
        if survey.volumes():  # another command completed an array in it meanwhile: that is not ours to remove
            return
        remove_store(path)
    except (FaciesError, OSError) as exc:
        log.warning("could not remove %s, which this ingest created: %s", path, exc)


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


def _check_same_input(survey: Survey, name: str, parameters: dict) -> None:
    """Refuse to call complete ``name`` "already ingested" unless ingest made it from the same file the same way."""
    made = survey.provenance(name).get("parameters") or {}
    wanted = jsonable(parameters)
    keys = [k for k in _CONTENT_PARAMETERS if k in made or k in wanted]
    old, new = {k: made.get(k) for k in keys}, {k: wanted.get(k) for k in keys}
    if old != new:
        old_file, new_file = old.get("file"), new.get("file")
        if isinstance(old_file, str) and isinstance(new_file, str) and Path(old_file).name != Path(new_file).name:
            old["file"], new["file"] = Path(old_file).name, Path(new_file).name  # short enough to read
        diff = parameter_diff(old, new)
        raise FaciesError(f"array {name!r} in {survey.path} is complete but was ingested from other input ({diff}), "
                          "so --resume has nothing to continue; pass --overwrite to replace it or choose another "
                          "--name")


def _ingest_file(survey: Survey, scanned: ScannedSegy, name: str, *, chunks, resume: bool, overwrite: bool,
                 progress, workers: int, done: _Progress) -> None:
    layout = scanned.layout
    segy = dict(survey.attrs(SEGY_ATTRS, {}))
    exists = survey.has(name)
    _check_existing(survey, name, resume=resume, overwrite=overwrite)  # again: an earlier file may have made it
    defines_mask = segy.get("geometry_from", name) == name and not any(v != name for v in survey.volumes())
    parameters = {"file": str(layout.path.resolve()), "file_bytes": layout.file_bytes, "name": name,
                  "header_bytes": scanned.header_bytes, "sample_axis": scanned.geometry.sample_axis,
                  "sample_interval": scanned.interval, "chunks": list(chunks) if chunks else None,
                  "defines_mask": defines_mask}
    if exists and resume and survey.is_complete(name):
        _check_same_input(survey, name, parameters)
        log.warning("%s is already ingested as %r; nothing to resume", layout.path.name, name)
        return
    resume = resume and exists  # without the array there is nothing to continue: start afresh
    # One task per chunk column: a lateral plan whose bricks are single chunks.
    # The array is created under the run's lock, below; its chunks are the ones create_volume chooses.
    array_chunks = clip_chunks(tuple(chunks or survey.chunks), survey.shape)
    plan = BrickPlan(survey.shape[:2], array_chunks[:2], array_chunks[:2])
    key = f"ingest-{name}"
    ledger = Ledger.start(survey, key, plan.grid, parameters, resume=resume, locks=[name],
                          restart="run the same command with --overwrite instead of --resume to start over")
    removed = False
    try:
        # Under the run's lock from here: no other ingest writes this name while it is replaced or created.
        # Check again what is there now: another command may have made or replaced the array since.
        _check_existing(survey, name, resume=resume, overwrite=overwrite)
        if survey.has(name) != exists:
            raise FaciesError(f"array {name!r} in {survey.path} was made or removed by another command while this "
                              "ingest started; check it, then run the command again")
        if exists and overwrite:
            _delete_volume(survey, name)
        if not survey.has(name):
            survey.create_volume(name, dtype="float32", kind="attribute", chunks=tuple(chunks) if chunks else None,
                                 provenance=make_provenance(INGEST_COMMAND, parameters, [str(layout.path)]),
                                 attributes={LONG_NAME_ATTR: name, UNITS_ATTR: ""})
        array = survey.array(name, require_complete=False)

        def record_facts(segy: dict) -> dict:
            if defines_mask:
                segy.update(_survey_facts(scanned, name))
            segy.setdefault("volumes", {})[name] = _volume_facts(scanned)
            return segy

        survey.update_attrs(SEGY_ATTRS, record_facts)
        done_before = [index for index in np.ndindex(*plan.grid) if ledger.is_done(index)]
        # The file that defines the mask writes it; every later file is zeroed where it is False.
        mask = survey.array(TRACE_MASK) if defines_mask else survey.geometry.trace_mask
        signal = []  # appended to (thread-safe) by a column that holds a live trace
        fd = os.open(layout.path, os.O_RDONLY)
        try:
            def column(index):
                n_read, live = _write_column(fd, array, scanned, plan.brick_at(index).region, mask, defines_mask)
                if live:
                    signal.append(index)
                return n_read

            try:
                _run_columns(ledger, column, workers, progress, f"ingest {name}")
            except KeyboardInterrupt:
                raise RunInterrupted(
                    f"interrupted: {ledger.n_done} of {ledger.n_tasks} columns of {name!r} are written and "
                    f"recorded in {survey.path}; run the same command again with --resume to continue") from None
        finally:
            os.close(fd)
        if not (signal or _any_signal(survey, array, plan, done_before, defines_mask)):
            _drop_dead_volume(survey, scanned, name, defines_mask, mask)
            ledger.finish()
            removed = True
            live = survey.geometry.trace_mask
            assert live is not None  # filled by Geometry.__post_init__
            where = "" if defines_mask else f" on the {int(live.sum())} live traces of the survey"
            raise FaciesError(f"{layout.path.name} has no live trace: every sample of its {layout.n_traces} traces is "
                              f"0{where} (all dead); check that it is the right file and that it holds data")
        survey.mark_complete(name)
        ledger.finish()
    finally:
        done.recorded = 0 if removed else ledger.n_done
        ledger.close()


def _any_signal(survey: Survey, array, plan: BrickPlan, columns, defines_mask: bool) -> bool:
    """Whether the columns written before this run (an interrupted ingest) hold a live trace."""
    if defines_mask:
        return bool(np.asarray(survey.array(TRACE_MASK)[...]).any())
    for index in columns:  # stops at the first column with data: usually the first
        (i0, i1), (j0, j1) = plan.brick_at(index).region
        if np.any(array[i0:i1, j0:j1, :]):
            return True
    return False


def _delete_volume(survey: Survey, name: str) -> None:
    """Remove array ``name`` and its SEG-Y facts (the next file then defines the mask if this one did)."""
    survey.delete(name)

    def forget(segy: dict) -> dict:
        segy.get("volumes", {}).pop(name, None)
        if segy.get("geometry_from") == name:
            segy.pop("geometry_from")
        return segy

    survey.update_attrs(SEGY_ATTRS, forget)


def _drop_dead_volume(survey: Survey, scanned: ScannedSegy, name: str, defines_mask: bool, mask) -> None:
    """Undo an all-dead file's ingest: its array, its facts, and the all-False mask it wrote."""
    if defines_mask:
        # Back to the mask the store was created with (traces present), so a later file can define it.
        mask[...] = scanned.grid.present
    _delete_volume(survey, name)


def _run_columns(ledger: Ledger, column, workers: int, progress, description: str) -> None:
    """Run pending columns on a thread pool, at most ``workers + 1`` in flight; mark each done in order of
    completion."""
    pending = list(ledger.pending())
    done_here = 0
    with WorkProgress(description, ledger.n_tasks, unit="B", enabled=progress) as bar, \
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facies-ingest") as pool:
        bar.skip(ledger.n_done)
        running: dict[Future, tuple[int, ...]] = {}
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


def _write_column(fd: int, array, scanned: ScannedSegy, region, mask, defines_mask: bool) -> tuple[int, bool]:
    """Read, decode and write one chunk column; returns the bytes of SEG-Y read and whether a live trace was in it.

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
    block: np.ndarray = np.zeros((traces.size, layout.n_samples), dtype=np.float32)
    block[cells] = decode_samples(raw[:, TRACE_HEADER_SIZE:], layout.format_code, layout.endian)
    n_read = int(raw.nbytes)
    del raw  # keep at most one copy of the column alive while zarr encodes it
    block = block.reshape(i1 - i0, j1 - j0, layout.n_samples)
    if defines_mask:
        live = np.any(block != 0, axis=2)
        with _mask_lock:
            mask[i0:i1, j0:j1] = live
    else:
        block[~mask[i0:i1, j0:j1]] = 0
        live = block
    array[i0:i1, j0:j1, :] = block
    return n_read, bool(live.any())


def _survey_facts(scanned: ScannedSegy, name: str) -> dict:
    """SEG-Y header facts of the survey, for a faithful export."""
    layout = scanned.layout
    return {"geometry_from": name, "header_bytes": scanned.header_bytes,
            "coordinate_scalar": scanned.coordinate_scalar,
            "sample_interval": int(round(scanned.interval * 1000)),  # as a header holds it: us, or mm (1/1000 ft)
            "delay": scanned.delay, "time_scalar": scanned.time_scalar,
            "measurement_system": layout.measurement_system, "sample_axis_reason": scanned.axis_reason}


def _volume_facts(scanned: ScannedSegy) -> dict:
    layout = scanned.layout
    return {"source": str(layout.path), "format_code": layout.format_code, "format": format_name(layout.format_code),
            "endian": "big" if layout.endian == ">" else "little", "n_traces": layout.n_traces,
            "file_bytes": layout.file_bytes, "revision": layout.revision, "header_bytes": scanned.header_bytes}
