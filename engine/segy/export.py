"""Export any 3D array of a survey as a post-stack 3D SEG-Y (rev 1, big-endian).

Every live trace (``trace_mask``) is written in inline-major order with the headers facies
owns: inline/crossline (189/193), CDP X/Y (181/185) with their scalar (71), delay (109, with
its scalar at 215 when the source had one), sample count (115) and interval (117), plus the
sequence numbers (1, 5) and trace identification (29). When the store was ingested with other
header bytes (e.g. the Petrel preset), line numbers and coordinates are written there too.
The values come from the SEG-Y facts kept at ingest (group attribute ``segy``), so an IEEE
file ingested and exported again has the same samples and the same values in these fields.

Columns of chunks are read and written in parallel with ``os.pwrite`` at their computed file
offsets (the live traces of one inline within a column are contiguous in the file), into a
temporary file (``.<name of OUT>.<pid>.tmp``, same folder) renamed over the target only at the end, so a
failure (a full disk) leaves no partial file under the target's name and an existing target
intact. The target is checked before any work (and again just before the rename): not inside a
survey store (any store, not only the one exported), not a symbolic link or a folder, not under a
file, in an existing folder; an existing file is replaced only with ``overwrite`` and only when it
is a SEG-Y file that facies export wrote (:func:`is_facies_segy`: its text header says so).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facies.engine import __version__
from facies.engine.bricks.plan import BrickPlan
from facies.engine.errors import FaciesError
from facies.engine.paths import check_new_path, enclosing_store, exists, nearest_existing, written_then_moved
from facies.engine.progress import WorkProgress
from facies.engine.schema import FACIES_KEY, KIND_FIELD, SEGY_ATTRS
from facies.engine.segy.formats import IBM_FLOAT, IEEE_FLOAT, float_to_ibm
from facies.engine.segy.headers import apply_scalar
from facies.engine.segy.layout import (
    BIN_ENSEMBLE_TRACES, BIN_FIXED_LENGTH, BIN_FOLD, BIN_FORMAT, BIN_INTERVAL, BIN_MEASUREMENT, BIN_ORIGINAL_INTERVAL,
    BIN_ORIGINAL_SAMPLES, BIN_REVISION, BIN_SAMPLES, BIN_SORTING, BINARY_HEADER_SIZE, TEXT_HEADER_SIZE, TR_DELAY,
    TR_IDENTIFICATION, TR_INTERVAL, TR_SAMPLES, TR_SEQUENCE_FILE, TR_SEQUENCE_LINE, TR_TIME_SCALAR, TRACE_HEADER_SIZE)
from facies.engine.segy.scan import COORDINATE_SCALAR_BYTE, PRESETS
from facies.engine.store import Survey

EXPORT_FORMATS = {"ieee": IEEE_FLOAT, "ibm": IBM_FLOAT}
_STANDARD = PRESETS["standard"]
#: Trace header fields whose values an export owns: (start byte, size in bytes).
_OWNED = {"coordinate_scalar": (COORDINATE_SCALAR_BYTE, 2), "delay": (TR_DELAY, 2), "n_samples": (TR_SAMPLES, 2),
          "interval": (TR_INTERVAL, 2), "cdp_x": (_STANDARD["cdpx"], 4), "cdp_y": (_STANDARD["cdpy"], 4),
          "inline": (_STANDARD["iline"], 4), "crossline": (_STANDARD["xline"], 4),
          "time_scalar": (TR_TIME_SCALAR, 2)}
#: Binary header values that do not depend on the volume: one trace per ensemble and fold 1
#: (post-stack), sorting 4 (horizontally stacked), SEG-Y rev 1.0, fixed-length traces.
_BINARY_CONSTANTS = {BIN_ENSEMBLE_TRACES: 1, BIN_FOLD: 1, BIN_SORTING: 4, BIN_REVISION: 0x0100, BIN_FIXED_LENGTH: 1}


def export_segy(survey, name: str, out_path, *, format: str = "ieee", overwrite: bool = False,
                progress: bool | None = None, workers: int | None = None) -> Path:
    """Write array ``name`` of ``survey`` to ``out_path`` as a post-stack 3D SEG-Y.

    Parameters
    ----------
    survey : Survey or path-like
        The store (opened read-only when a path is given).
    name : str
        Any complete 3D array: float attributes, uint8 classes, probabilities.
    out_path : path-like
        Target file; written to a temporary file beside it and renamed at the end.
    format : {"ieee", "ibm"}
        Sample format: 4-byte IEEE float (code 5, exact) or IBM float (code 1).
    overwrite : bool
        Replace an existing ``out_path`` (at the end, once the new file is complete), only when it
        is a SEG-Y file that facies export wrote (:func:`is_facies_segy`).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    workers : int, optional
        Threads (default: up to 4).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    FaciesError
        An unknown array or format; a target inside a survey store (any store), a symbolic link, a
        folder, something other than a regular file, under a file or in a missing folder; an existing
        file that facies export did not write (even with ``overwrite``), or one it wrote without
        ``overwrite``; an array that a run is writing right now (the export holds a shared read lock
        on the array while it reads).
    OSError
        The system's error while writing (a full disk), with ``out_path`` named when it gives no
        file; the temporary file is removed first.
    """
    if not isinstance(survey, Survey):
        survey = Survey.open(survey, mode="r")
    if format not in EXPORT_FORMATS:
        raise FaciesError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
    array = survey.array(name)
    if array.ndim != 3:
        raise FaciesError(f"array {name!r} is not a 3D volume; only 3D arrays can be exported as SEG-Y")
    out_path = Path(out_path)
    _check_target(out_path, name, overwrite)
    # A shared lock while reading: a run replacing the array meanwhile (or already) is refused, so the
    # file never holds half of the old array and half of the new one.
    with survey.reading(name):
        return _export(survey, name, survey.array(name), out_path, format, overwrite, progress, workers)


def _export(survey: Survey, name: str, array, out_path: Path, format: str, overwrite: bool, progress,
            workers) -> Path:
    """The export itself, under the array's read lock (see :func:`export_segy`)."""
    g = survey.geometry
    facts = dict(survey.attrs(SEGY_ATTRS, {}))
    headers = _header_values(g, facts)
    live = g.trace_mask
    assert live is not None  # filled by Geometry.__post_init__
    if not live.any():
        raise FaciesError(f"survey {survey.path} has no live trace (trace_mask is all False); nothing to export")
    rank = np.cumsum(live.ravel()).reshape(live.shape) - 1  # position of each live trace in the file
    ns = g.shape[2]
    code = EXPORT_FORMATS[format]
    record = TRACE_HEADER_SIZE + 4 * ns
    data_offset = TEXT_HEADER_SIZE + BINARY_HEADER_SIZE
    # One task per chunk column: a lateral plan whose bricks are single chunks.
    columns = list(BrickPlan(g.shape[:2], array.chunks[:2], array.chunks[:2]))
    extra = _extra_positions(facts.get("header_bytes", {}))

    def write_file(tmp: Path) -> None:
        # O_EXCL: a new file, never through a link (written_then_moved removed whatever had the name).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.pwrite(fd, _text_header(survey, name, g, format), 0)
            os.pwrite(fd, _binary_header(headers, ns, code), TEXT_HEADER_SIZE)
            os.ftruncate(fd, data_offset + int(live.sum()) * record)

            def write_column(column):
                (i0, i1), (j0, j1) = column.region
                mask = live[i0:i1, j0:j1]
                if not mask.any():
                    return 0
                block = np.asarray(array[i0:i1, j0:j1, :])[mask]
                ii, jj = np.nonzero(mask)
                ii, jj = ii + i0, jj + j0
                buf = np.zeros((block.shape[0], record), dtype=np.uint8)
                _fill_headers(buf, headers, ii, jj, rank[ii, jj], ns, extra)
                samples = float_to_ibm(block).astype(">u4") if code == IBM_FLOAT else block.astype(">f4")
                buf[:, TRACE_HEADER_SIZE:] = samples.view(np.uint8).reshape(block.shape[0], -1)
                starts = np.flatnonzero(np.diff(ii, prepend=-1))  # one contiguous file segment per inline
                for a, b in zip(starts, np.append(starts[1:], ii.size)):
                    os.pwrite(fd, buf[a:b], data_offset + int(rank[ii[a], jj[a]]) * record)  # rows: contiguous
                return int(buf.nbytes)

            with WorkProgress(f"export {name}", len(columns), unit="B", enabled=progress) as bar, \
                    ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
                for written in pool.map(write_column, columns):
                    bar.advance(1, written)
            os.fsync(fd)
        finally:
            os.close(fd)
        # Checked again before the rename: something put at OUT's name during the export is not replaced
        # unless it may be (a previous facies export, with --overwrite).
        _check_target(out_path, name, overwrite)

    try:
        return written_then_moved(out_path, write_file)
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:
            # os.pwrite and os.fsync name no file: say which export failed (the CLI prints the path).
            raise OSError(exc.errno, exc.strerror or str(exc), str(out_path)) from exc
        raise


def _check_target(out_path: Path, name: str, overwrite: bool) -> None:
    """Refuse a target that cannot or should not be written, before any work (the file is written whole).

    In this order: a target in a survey store (walking up from the target's nearest existing folder,
    or from the target itself when it is a folder: any store, not only the exported one), a symbolic
    link, a folder, a target under a file or in a missing folder, then an existing file that is not a
    regular file, not a SEG-Y file facies export wrote (refused even with ``overwrite``), or one it
    wrote without ``overwrite``.
    """
    here = out_path if out_path.is_dir() and not out_path.is_symlink() else out_path.parent
    outer = enclosing_store(nearest_existing(here))
    if outer is not None:
        where = "is the survey store" if outer == out_path.resolve() else "is inside the survey store"
        raise FaciesError(f"{out_path} {where} {outer}; facies writes nothing into a store but its own arrays: "
                          "choose a SEG-Y file name outside it")
    if out_path.is_symlink():
        raise FaciesError(f"{out_path} is a symbolic link; facies export replaces only a SEG-Y file it wrote, not a "
                          "link or what it points to: remove the link or choose another name")
    if out_path.is_dir():
        raise FaciesError(f"{out_path} is a folder; give the SEG-Y file's name, e.g. {out_path / (name + '.sgy')}")
    check_new_path(out_path, "SEG-Y file")
    if not exists(out_path):
        return
    kind = _file_kind(out_path)
    if kind != "file":
        raise FaciesError(f"{out_path} is {kind}, not a file; facies export will not replace it: move it away or "
                          "choose another name")
    if not is_facies_segy(out_path):
        raise FaciesError(f"{out_path} already exists and is not a SEG-Y file facies export wrote (its text header "
                          "does not say so); facies will not replace it, even with --overwrite: move it away or "
                          "choose another name")
    if not overwrite:
        raise FaciesError(f"{out_path} already exists (a SEG-Y file facies export wrote); pass --overwrite to "
                          "replace it (replaced only once the new file is complete) or choose another name")


def _file_kind(path: Path) -> str:
    """What is at ``path`` (not following a link): "file", or "a named pipe", "a socket", "a device"..."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device"
    return "a special file"


def facies_segy_text(path) -> list[str] | None:
    """The 40 lines of the text header of a SEG-Y file that facies export wrote; None for any other path.

    facies export (whichever command asked: ``facies export``, ``facies synth --segy-dir``) writes
    an EBCDIC text header whose first line is ``C 1 facies <version> SEG-Y export, ...`` and whose
    last two are ``C39 SEG Y REV1`` and ``C40 END TEXTUAL HEADER``, followed by a binary header with
    sample format 1 (IBM) or 5 (IEEE). A path that is not a regular file (a link, a folder, a named
    pipe: never opened for reading), cannot be read, is shorter than the two headers or differs in
    any of these gives None.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.pread(fd, TEXT_HEADER_SIZE + BINARY_HEADER_SIZE, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(head) < TEXT_HEADER_SIZE + BINARY_HEADER_SIZE:
        return None
    text = head[:TEXT_HEADER_SIZE].decode("cp037", errors="replace")
    lines = [text[k:k + 80] for k in range(0, TEXT_HEADER_SIZE, 80)]
    code = int.from_bytes(head[BIN_FORMAT - 1:BIN_FORMAT + 1], "big")
    if (lines[0].startswith("C 1 facies ") and "SEG-Y export" in lines[0] and lines[38].rstrip() == "C39 SEG Y REV1"
            and lines[39].rstrip() == "C40 END TEXTUAL HEADER" and code in EXPORT_FORMATS.values()):
        return lines
    return None


def is_facies_segy(path) -> bool:
    """Whether ``path`` is a SEG-Y file that facies export wrote (its headers say so; see :func:`facies_segy_text`).

    Such a file, and only such a file, may be replaced by an export with ``overwrite``.
    """
    return facies_segy_text(path) is not None


def _header_values(g, facts: dict) -> dict:
    """Raw integer header values: the ingest's facts when they still describe the geometry, else chosen here."""
    scalar = facts.get("coordinate_scalar")
    live = g.trace_mask
    coords = np.concatenate([g.cdp_x[live], g.cdp_y[live]])
    coords = coords[np.isfinite(coords)]
    if scalar is None or not _fits(coords, scalar):
        scalar = _choose_scalar(coords)
    interval = facts.get("sample_interval")
    if interval is None or abs(interval / 1000.0 - g.sample_interval) > 1e-6 * max(g.sample_interval, 1):
        interval = int(round(g.sample_interval * 1000))
    time_scalar, delay = int(facts.get("time_scalar", 0)), facts.get("delay")
    if delay is None or abs(float(apply_scalar(delay, time_scalar)) - float(g.samples[0])) > 1e-3:
        time_scalar, delay = 0, int(round(float(g.samples[0])))
    if not (0 < interval < 65536 and g.shape[2] < 65536 and -32768 <= delay < 32768):
        raise FaciesError(f"the sample axis ({g.shape[2]} samples every {g.sample_interval:g} {g.sample_unit} from "
                          f"{g.samples[0]:g}) does not fit SEG-Y rev 1 headers")
    return {"coordinate_scalar": int(scalar), "interval": int(interval), "delay": int(delay),
            "time_scalar": time_scalar, "inlines": g.inlines, "crosslines": g.crosslines,
            "cdp_x": _unscale(g.cdp_x, scalar), "cdp_y": _unscale(g.cdp_y, scalar),
            "measurement_system": int(facts.get("measurement_system", 2 if g.sample_unit == "ft" else 1))}


def _unscaled(coords: np.ndarray, scalar: int) -> np.ndarray:
    """The inverse of :func:`~facies.engine.segy.headers.apply_scalar`: header values before rounding."""
    return coords * -scalar if scalar < 0 else coords / max(scalar, 1)


def _unscale(coords: np.ndarray, scalar: int) -> np.ndarray:
    """Integers to write so that applying ``scalar`` gives back ``coords`` (0 where no coordinate)."""
    raw = _unscaled(coords, scalar)
    return np.where(np.isfinite(raw), np.rint(raw), 0).astype(np.int64)


def _fits(coords: np.ndarray, scalar: int) -> bool:
    """Whether ``scalar`` represents every coordinate exactly (to 1e-6) within int32."""
    raw = _unscaled(coords, scalar)
    return bool(np.all(np.abs(raw) < 2**31 - 1) and np.allclose(raw, np.rint(raw), rtol=0, atol=1e-6))


def _choose_scalar(coords: np.ndarray) -> int:
    """The coarsest of 1, -10, -100, -1000 that keeps every coordinate (or the finest that fits int32)."""
    best = 1
    for scalar in (1, -10, -100, -1000):
        if np.all(np.abs(coords * max(-scalar, 1)) < 2**31 - 1):
            best = scalar
            if _fits(coords, scalar):
                return scalar
    return best


def _extra_positions(source_bytes: dict) -> dict:
    """Ingest header bytes other than the standard ones that do not overlap an owned field."""
    owned: set[int] = set()
    for start, size in _OWNED.values():
        owned.update(range(start, start + size))
    out = {}
    for key, field in (("iline", "inline"), ("xline", "crossline"), ("cdpx", "cdp_x"), ("cdpy", "cdp_y")):
        byte = source_bytes.get(key)
        if byte and byte != _STANDARD[key] and not owned & set(range(byte, byte + 4)):
            out[field] = byte
    return out


def _put(buf: np.ndarray, byte: int, size: int, values) -> None:
    values = np.broadcast_to(np.asarray(values, dtype=np.int64), (buf.shape[0],))
    buf[:, byte - 1:byte - 1 + size] = values.astype(f">i{size}").view(np.uint8).reshape(-1, size)


def _fill_headers(buf, h: dict, ii, jj, rank, ns: int, extra: dict) -> None:
    values = {"inline": h["inlines"][ii], "crossline": h["crosslines"][jj], "cdp_x": h["cdp_x"][ii, jj],
              "cdp_y": h["cdp_y"][ii, jj], "coordinate_scalar": h["coordinate_scalar"], "delay": h["delay"],
              "n_samples": ns, "interval": h["interval"], "time_scalar": h["time_scalar"]}
    _put(buf, TR_SEQUENCE_LINE, 4, rank + 1)
    _put(buf, TR_SEQUENCE_FILE, 4, rank + 1)
    _put(buf, TR_IDENTIFICATION, 2, 1)  # seismic data
    for field, byte in extra.items():
        _put(buf, byte, 4, values[field])
    for field, (byte, size) in _OWNED.items():
        _put(buf, byte, size, values[field])


def _binary_header(h: dict, ns: int, code: int) -> bytes:
    # Positions are absolute (1-based from the start of the file), so the buffer starts at byte 1.
    buf = np.zeros((1, BINARY_HEADER_SIZE + TEXT_HEADER_SIZE), dtype=np.uint8)
    fields = {BIN_INTERVAL: h["interval"], BIN_ORIGINAL_INTERVAL: h["interval"], BIN_SAMPLES: ns,
              BIN_ORIGINAL_SAMPLES: ns, BIN_FORMAT: code, BIN_MEASUREMENT: h["measurement_system"],
              **_BINARY_CONSTANTS}
    for byte, value in fields.items():  # every field is 2 bytes; values above 32767 wrap as unsigned
        _put(buf, byte, 2, value if value < 2 ** 15 else value - 2 ** 16)
    return buf[0, TEXT_HEADER_SIZE:].tobytes()


def _text_header(survey: Survey, name: str, g, format: str) -> bytes:
    """40 lines of 80 EBCDIC characters saying what the volume is."""
    prov = survey.provenance(name)
    meta = survey.array(name).attrs.get(FACIES_KEY, {})
    meta = meta if isinstance(meta, Mapping) else {}  # a complete 3D array's is a mapping (Survey.array)
    il, xl = g.inlines, g.crosslines
    lines = [
        f"facies {__version__} SEG-Y export, post-stack 3D, SEG-Y rev 1",
        f"volume: {name}   kind: {meta.get(KIND_FIELD, '?')}   stored dtype: {survey.array(name).dtype}",
        f"made by: {prov.get('command', '?')}   at {prov.get('time', '?')}",
        f"inputs: {', '.join(prov.get('inputs', [])) or '-'}",
        f"survey: {survey.path}",
        f"inline {il[0]}-{il[-1]} step {g.line_step(il)}   crossline {xl[0]}-{xl[-1]} step {g.line_step(xl)}",
        f"{g.sample_axis} {g.samples[0]:g}-{g.samples[-1]:g} {g.sample_unit} every {g.sample_interval:g} "
        f"{g.sample_unit}, {g.shape[2]} samples",
        f"live traces {int(g.trace_mask.sum())} of {g.trace_mask.size}; sample format "
        f"{'IEEE float (5)' if format == 'ieee' else 'IBM float (1)'}",
        f"byte locations: inline {_OWNED['inline'][0]} crossline {_OWNED['crossline'][0]} "
        f"cdp x {_OWNED['cdp_x'][0]} cdp y {_OWNED['cdp_y'][0]}",
        f"coordinate scalar {_OWNED['coordinate_scalar'][0]}, delay {_OWNED['delay'][0]}, "
        f"samples {_OWNED['n_samples'][0]}, interval {_OWNED['interval'][0]}",
    ]
    for key, value in sorted(prov.get("parameters", {}).items()):
        if len(lines) >= 38:
            break
        lines.append(f"param {key}: {value}")
    lines = lines[:38] + [""] * (38 - len(lines)) + ["SEG Y REV1", "END TEXTUAL HEADER"]
    text = "".join(f"C{k + 1:2d} {line}"[:80].ljust(80) for k, line in enumerate(lines))
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text).encode("cp037")
