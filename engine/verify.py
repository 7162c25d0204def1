"""``facies verify``: check every array of a store, chunk by chunk, and say how to recover what is damaged.

For each array (3D volumes, coordinates, training tables, models) it checks that the metadata
reads, that every chunk a complete array must have is there (stores that record all chunks:
:mod:`facies.engine.integrity`), and that every chunk's bytes match their crc32c checksum. Arrays
without checksums (stores made before facies wrote them) are decoded instead, which finds codec
errors but not every altered byte. Incomplete arrays and the ledgers of interrupted runs are
reported, not judged: ``--resume`` or a new run finishes them.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.integrity import SPARSE_GROUPS, CheckedStore, chunk_label, checksum_ok
from facies.engine.locks import RUNS_GROUP, ArrayBusyError
from facies.engine.progress import WorkProgress
from facies.engine.store import Survey, is_store

#: Damaged chunks named in a report line; the count says how many more there are.
SHOWN_CHUNKS = 5


@dataclass
class ArrayCheck:
    """The verdict on one array.

    Attributes
    ----------
    path : str
        Path of the array inside the store (``amplitude``, ``training/picks/codes``...).
    status : str
        ``ok``, ``incomplete`` (an interrupted run: resume it), ``unchecked`` (no checksums: decoded
        only), ``being written`` (a run holds it: not checked now) or ``damaged``.
    missing, corrupt : list of tuple of int
        Chunks absent, and chunks whose bytes do not match their checksum (or do not decode).
    problem : str
        What is wrong beyond chunks (unreadable metadata).
    recover : str
        What to run to get a whole array back.
    chunks : int
        Chunks checked.
    """

    path: str
    status: str = "ok"
    missing: list = field(default_factory=list)
    corrupt: list = field(default_factory=list)
    problem: str = ""
    recover: str = ""
    chunks: int = 0

    def describe(self) -> str:
        """One line for people: what is wrong with the array."""
        parts = [self.problem] if self.problem else []
        for label, chunks in (("missing", self.missing), ("not matching their checksum", self.corrupt)):
            if chunks:
                shown = ", ".join(chunk_label(c) for c in chunks[:SHOWN_CHUNKS])
                more = f" and {len(chunks) - SHOWN_CHUNKS} more" if len(chunks) > SHOWN_CHUNKS else ""
                parts.append(f"{len(chunks)} chunk(s) {label}: {shown}{more}")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "chunks": self.chunks,
                "missing": [chunk_label(c) for c in self.missing], "corrupt": [chunk_label(c) for c in self.corrupt],
                "problem": self.problem, "recover": self.recover}


@dataclass
class StoreCheck:
    """The verdict on a whole store: one :class:`ArrayCheck` per array, and the interrupted runs."""

    path: str
    arrays: list[ArrayCheck]
    interrupted_runs: list[str]
    records_all_chunks: bool
    leftovers: int

    @property
    def damaged(self) -> list[ArrayCheck]:
        return [a for a in self.arrays if a.status == "damaged"]

    def as_dict(self) -> dict:
        return {"path": self.path, "ok": not self.damaged, "records_all_chunks": self.records_all_chunks,
                "arrays": [a.as_dict() for a in self.arrays], "interrupted_runs": self.interrupted_runs,
                "partial_files": self.leftovers}


def verify_store(path, *, progress: bool | None = None) -> StoreCheck:
    """Check every array of the store at ``path``.

    Parameters
    ----------
    path : path-like
        The survey store.
    progress : bool, optional
        Show a progress bar over the chunks (default: when stderr is a terminal).

    Returns
    -------
    StoreCheck

    Raises
    ------
    FaciesError
        When ``path`` is not a facies store at all (its root metadata is unreadable).
    """
    path = Path(path)
    if not is_store(path):
        Survey.open(path, mode="r")  # its error says what is wrong with the root
        raise FaciesError(f"{path} is not a facies survey store")
    store = CheckedStore(path, read_only=True)
    survey = Survey.open(path, mode="r")
    arrays = _array_paths(path)
    checks = []
    with WorkProgress(f"verify {path.name}", len(arrays), unit="chunks", enabled=progress) as bar:
        for array in arrays:
            try:  # a top-level array is checked in one state: not while a run replaces it
                with survey.reading(*([] if "/" in array else [array])):
                    check = _check_array(survey, store, array)
            except ArrayBusyError:
                check = ArrayCheck(array, status="being written")
            checks.append(check)
            bar.advance(1, check.chunks)
    runs = path / RUNS_GROUP
    interrupted = sorted(p.name for p in runs.iterdir() if (p / "zarr.json").is_file()) if runs.is_dir() else []
    leftovers = sum(1 for _ in path.rglob("*.partial"))
    return StoreCheck(str(path), checks, interrupted, store.records_all_chunks(), leftovers)


def _array_paths(root: Path) -> list[str]:
    """Paths of every array in the store (folders whose zarr.json is an array's or unreadable), ledgers left out."""
    found = []
    for meta in sorted(root.rglob("zarr.json")):
        relative = meta.parent.relative_to(root).as_posix()
        if relative == "." or relative.split("/")[0] in SPARSE_GROUPS:
            continue
        try:
            node_type = json.loads(meta.read_bytes()).get("node_type")
        except (OSError, ValueError, AttributeError):
            node_type = None  # unreadable: checked (and reported) as an array
        if node_type != "group":
            found.append(relative)
    return found


def _check_array(survey: Survey, store: CheckedStore, array: str) -> ArrayCheck:
    check = ArrayCheck(array, recover=_recovery(survey, array))
    try:
        node = survey.group[array]
        facts = store.facts(array)
        shape, chunks = node.shape, node.chunks
    except Exception as exc:
        check.status, check.problem = "damaged", f"its zarr.json cannot be read ({' '.join(str(exc).split())[:120]})"
        return check
    must_be_whole = store.records_all_chunks() and not facts.may_miss_chunks
    grid = [range(math.ceil(n / c)) if n else range(0) for n, c in zip(shape, chunks)]
    for index in itertools.product(*grid):
        check.chunks += 1
        chunk_file = Path(store.root) / array / "c" / "/".join(map(str, index)) if index else \
            Path(store.root) / array / "c"
        try:
            data = chunk_file.read_bytes()
        except FileNotFoundError:
            if must_be_whole:
                check.missing.append(index)
            continue
        if facts.checksummed:
            if not checksum_ok(np.frombuffer(data, np.uint8)):
                check.corrupt.append(index)
        elif not _decodes(node, index, chunks):
            check.corrupt.append(index)
    if check.missing or check.corrupt:
        check.status = "damaged"
    elif facts.may_miss_chunks:
        check.status = "incomplete"
    elif not facts.checksummed:
        check.status = "unchecked"
    return check


def _decodes(node, index, chunks) -> bool:
    """Whether a chunk without a checksum decodes (all a legacy array allows checking)."""
    region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks))
    try:
        node[region]
    except Exception:
        return False
    return True


def _recovery(survey: Survey, array: str) -> str:
    """What to run to make ``array`` whole again."""
    top = array.split("/")[0]
    if top in ("inline", "crossline", "time", "depth", "cdp_x", "cdp_y", "trace_mask"):
        return "the store's geometry is damaged: make the store again (facies ingest or facies synth into a new path)"
    if top == "training":
        return "make the training table again (facies training extract/import with --overwrite)"
    if top == "models":
        return "train the model again (facies rf train with --overwrite)"
    try:
        provenance = survey.group[array].attrs.get("facies", {}).get("provenance", {})
    except Exception:
        provenance = survey.meta.get("provenance", {}).get(array, {})
    command = provenance.get("command") if isinstance(provenance, dict) else None
    if not command:
        return "re-make it with the command that made it (its provenance is unreadable)"
    inputs = ", ".join(provenance.get("inputs") or []) or "none recorded"
    return f"re-run {command!r} (inputs: {inputs}) with --overwrite"
