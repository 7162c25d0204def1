"""``facies verify``: check every array of a store, chunk by chunk, and say how to recover what is damaged.

For each array (3D volumes, coordinates, the columns of training tables, models and GTMs) it checks that the
metadata reads, that every chunk a complete array must have is there (stores that record all chunks:
:mod:`facies.engine.integrity`), and that every chunk's bytes match their crc32c checksum. Arrays
without checksums (stores made before facies wrote them) are decoded instead, which finds codec
errors but not every altered byte. Metadata that is gone is damage too: an array of the store's
provenance index without its ``zarr.json``, and any folder holding chunk files (``c/``) but no
``zarr.json``. Every training table and model is then read through its own validated reader
(:meth:`~facies.engine.training.table.TrainingTable.load`,
:func:`~facies.engine.forest.model_io.load_model`, :func:`~facies.engine.gtm.model_io.load_gtm`): a table
missing a column, or a model that fails
its checks, is damaged, with the reader's reason. Incomplete arrays, the ledgers of interrupted runs
and the leftovers of killed table or model saves are reported, not judged: ``--resume`` or a new
run (or save) finishes or removes them.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.integrity import CheckedStore, chunk_label, checksum_ok
from facies.engine.locks import ArrayBusyError
from facies.engine.progress import WorkProgress
from facies.engine.schema import (COORDINATES, FACIES_KEY, GTM_MODELS_GROUP, MODELS_GROUP, PROVENANCE_FIELD,
                                  RUNS_GROUP, SPARSE_GROUPS, STAGED_PREFIXES, TRAINING_GROUP, check_name)
from facies.engine.store import Survey, is_store

#: Groups of the store whose members are read through their own validated readers.
TRAINING, MODELS, GTM_MODELS = TRAINING_GROUP, MODELS_GROUP, GTM_MODELS_GROUP
#: Every group of members saved whole (tables, forests, GTMs).
MEMBERS = (TRAINING, MODELS, GTM_MODELS)

#: Damaged chunks named in a report line; the count says how many more there are.
SHOWN_CHUNKS = 5


@dataclass
class ArrayCheck:
    """The verdict on one array.

    Attributes
    ----------
    path : str
        Path of the array inside the store (``amplitude``, ``training/picks/facies``...), or of the
        training table (``training/picks``) whose validated read this is.
    status : str
        ``ok``, ``incomplete`` (an interrupted run: resume it), ``unchecked`` (no checksums: decoded
        only), ``being written`` (a run holds it: not checked now) or ``damaged``.
    missing, corrupt : list of tuple of int
        Chunks absent, and chunks whose bytes do not match their checksum (or do not decode).
    problem : str
        What is wrong beyond chunks (metadata missing or unreadable, a table or model its reader refuses).
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
    """The verdict on a whole store.

    Attributes
    ----------
    path : str
    arrays : list of ArrayCheck
        One per array and per training table, sorted by path.
    interrupted_runs : list of str
        Ledgers of runs that did not finish (``--resume`` continues them).
    records_all_chunks : bool
        Whether the store records every chunk (a missing one is damage).
    leftovers : int
        ``*.partial`` chunk files of killed writers (never read).
    interrupted_saves : list of str
        Folders of table or model saves in progress or killed (``training/_partial-picks``); never
        read, and removed by the next save of that name.
    """

    path: str
    arrays: list[ArrayCheck]
    interrupted_runs: list[str]
    records_all_chunks: bool
    leftovers: int
    interrupted_saves: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> list[ArrayCheck]:
        return [a for a in self.arrays if a.status == "damaged"]

    def as_dict(self) -> dict:
        return {"path": self.path, "ok": not self.damaged, "records_all_chunks": self.records_all_chunks,
                "arrays": [a.as_dict() for a in self.arrays], "interrupted_runs": self.interrupted_runs,
                "partial_files": self.leftovers, "interrupted_saves": self.interrupted_saves}


def verify_store(path, *, progress: bool | None = None) -> StoreCheck:
    """Check every array, training table and model of the store at ``path``.

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
    lost = sorted((set(_indexed_without_metadata(survey)) | set(_folders_without_metadata(path))) - set(arrays))
    members = [(group, name) for group in MEMBERS for name in _member_folders(path, group)]
    checks = {}
    with WorkProgress(f"verify {path.name}", len(arrays) + len(lost) + len(members), unit="chunks",
                      enabled=progress) as bar:
        for array in arrays + lost:
            try:  # a top-level array is checked in one state: not while a run replaces it
                with survey.reading(*([] if "/" in array else [array])):
                    check = _check_array(survey, store, array)
            except ArrayBusyError:
                check = ArrayCheck(array, status="being written")
            checks[array] = check
            bar.advance(1, check.chunks)
        for group, name in members:
            _check_member(survey, checks, group, name)
            bar.advance(1, 0)
    runs = path / RUNS_GROUP
    interrupted = sorted(p.name for p in runs.iterdir() if (p / "zarr.json").is_file()) if runs.is_dir() else []
    leftovers = sum(1 for _ in path.rglob("*.partial"))
    saves = [f"{group}/{p.name}" for group in MEMBERS if (path / group).is_dir()
             for p in sorted((path / group).iterdir()) if p.name.startswith(STAGED_PREFIXES)]
    return StoreCheck(str(path), [checks[key] for key in sorted(checks)], interrupted, store.records_all_chunks(),
                      leftovers, saves)



def _array_paths(root: Path) -> list[str]:
    """Paths of every array in the store (folders whose zarr.json is an array's or unreadable).

    Ledgers are left out, and so is everything under a folder whose name starts with '_' (no array,
    table or model name does: the folders of table and model saves in progress or killed).
    """
    found = []
    for meta in sorted(root.rglob("zarr.json")):
        relative = meta.parent.relative_to(root).as_posix()
        if relative == "." or relative.split("/")[0] in SPARSE_GROUPS or \
                any(part.startswith("_") for part in relative.split("/")):
            continue
        if _node_type(meta) != "group":  # unreadable: checked (and reported) as an array
            found.append(relative)
    return found


def _node_type(meta: Path) -> str | None:
    """The ``node_type`` of a ``zarr.json``; None when it cannot be read."""
    try:
        node_type = json.loads(meta.read_bytes()).get("node_type")
    except (OSError, ValueError, AttributeError):
        return None
    return node_type if isinstance(node_type, str) else None


def _indexed_without_metadata(survey: Survey) -> list[str]:
    """Arrays of the store's provenance index (group attribute ``facies.provenance``) without a ``zarr.json``.

    facies removes an array's entry when it removes the array, so an entry without metadata is an
    array whose ``zarr.json`` (or whole folder) was lost.
    """
    try:
        index = survey.meta.get(PROVENANCE_FIELD, {})
    except Exception:  # noqa: BLE001 - an unreadable root was refused by verify_store already
        return []
    names = []
    for name in index if isinstance(index, dict) else ():
        # a name no facies command writes has nothing to look for
        if _valid_name(name) and not (survey.path / name / "zarr.json").is_file():
            names.append(name)
    return names


def _folders_without_metadata(root: Path) -> list[str]:
    """Folders of the store (outside ``_runs``) holding chunk files (``c``) but no ``zarr.json``.

    Chunk folders are not walked into: nothing below them is a node of the store. Folders of saves
    in progress or killed (names starting with '_') are skipped.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        relative = here.relative_to(root).as_posix()
        # "c" holds chunks unless it is a node itself (an array or table named "c", with its zarr.json)
        chunk_folder = "c" in dirs and not (here / "c" / "zarr.json").is_file()
        if relative != "." and "zarr.json" not in files and (chunk_folder or "c" in files):
            found.append(relative)
        if chunk_folder:
            dirs.remove("c")  # nothing below a chunk folder is a node of the store
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]  # _runs, saves in progress or killed
    return found


def _member_folders(root: Path, group: str) -> list[str]:
    """Every folder under ``<group>/`` whose name a table or model may have, with or without metadata."""
    folder = root / group
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and _valid_name(p.name))


def _valid_name(name: str) -> bool:
    """Whether ``name`` is one facies gives an array, table or model (others are not facies' to judge)."""
    try:
        check_name(name)
    except FaciesError:
        return False
    return True


def _check_member(survey: Survey, checks: dict, group: str, name: str) -> None:
    """Read training table or model ``name`` through its validated reader; record a refusal as damage.

    A model is an array already checked chunk by chunk: its reader's verdict is added to that check
    (when the chunks are whole). A table is a group: its check is a new entry.
    """
    from facies.engine.forest.model_io import load_model  # noqa: PLC0415 - loaded only to verify
    from facies.engine.gtm.model_io import load_gtm  # noqa: PLC0415
    from facies.engine.training.table import TrainingTable  # noqa: PLC0415

    path = f"{group}/{name}"
    check = checks.get(path)
    if check is not None and check.status not in ("ok", "unchecked"):
        return  # damaged (or being written) already: its chunks or metadata said so
    if check is None:
        check = checks[path] = ArrayCheck(path, recover=_recovery(survey, path))
    try:
        if group == TRAINING:
            TrainingTable.load(survey, name)
        elif group == GTM_MODELS:
            load_gtm(survey, name)
        else:
            load_model(survey, name)
    except ArrayBusyError:
        check.status = "being written"
    except FaciesError as exc:
        check.status, check.problem = "damaged", _reason(str(exc))
        if "upgrade facies" in str(exc):  # a model of a newer format: not damage this facies can repair
            check.recover = "upgrade facies"


def _reason(message: str) -> str:
    """The reason in a reader's one-line message, without the remedy (verify shows its own)."""
    first = message.split("; ")[0]
    _, found, reason = first.partition(" is damaged (")
    return reason[:-1] if found and reason.endswith(")") else first


def _check_array(survey: Survey, store: CheckedStore, array: str) -> ArrayCheck:
    check = ArrayCheck(array, recover=_recovery(survey, array))
    chunks_left = (Path(store.root) / array / "c").exists()
    if not (Path(store.root) / array / "zarr.json").is_file():
        check.status = "damaged"
        check.problem = "its zarr.json is missing" + (" (its chunk files are left)" if chunks_left else
                                                      " (and so is its data)")
        return check
    try:
        node = survey.node(array)
        facts = store.facts(array)
        if not isinstance(node, zarr.Array):
            raise TypeError("it is a group, not an array")
        shape, chunks = node.shape, node.chunks
    except Exception as exc:  # noqa: BLE001 - zarr raises several types for a broken zarr.json
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
    except Exception:  # noqa: BLE001 - codecs raise several types on a garbled chunk
        return False
    return True


def _recovery(survey: Survey, array: str) -> str:
    """What to run to make ``array`` (or a training table, a model) whole again.

    Never a command that replaces the whole store (with its tables, models and results): an array
    made by ``facies synth`` can only be made again with the whole synthetic survey, into a new path.
    An array ingested from SEG-Y is ingested again into this store (``--overwrite`` replaces that
    array only); any other array is made again by the command of its provenance, with ``--overwrite``.
    """
    parts = array.split("/")
    top = parts[0]
    if top in COORDINATES:
        return "the store's geometry is damaged: make the store again (facies ingest or facies synth into a new path)"
    if top in MEMBERS and len(parts) == 1:
        return (f"its zarr.json holds no data: delete {survey.path / top / 'zarr.json'} "
                "(the next table or model saved writes it again)")
    if top == TRAINING:
        from facies.engine.training.table import remake_command  # noqa: PLC0415

        return f"make training table {parts[1]!r} again: {remake_command(survey, parts[1])}"
    if top == MODELS:
        from facies.engine.forest.model_io import retrain_hint  # noqa: PLC0415

        return retrain_hint(survey, parts[1])
    if top == GTM_MODELS:
        from facies.engine.gtm.model_io import refit_hint  # noqa: PLC0415

        return refit_hint(survey, parts[1])
    # Any: JSON of unknown shape; attributes that are not mappings raise AttributeError, caught below or not.
    provenance: Any
    try:
        facies_meta: Any = survey.node(array).attrs.get(FACIES_KEY, {})
        provenance = facies_meta.get(PROVENANCE_FIELD, {})
    except Exception:  # noqa: BLE001 - unreadable zarr.json: fall back to the store's index
        provenance = survey.meta.get(PROVENANCE_FIELD, {}).get(array, {})
    command = provenance.get("command") if isinstance(provenance, dict) else None
    if not command:
        return "re-make it with the command that made it (its provenance is unreadable)"
    parameters, inputs = provenance.get("parameters"), provenance.get("inputs")
    parameters = parameters if isinstance(parameters, dict) else {}
    inputs = [str(i) for i in inputs] if isinstance(inputs, list) else []
    if command == "facies synth":
        size, seed, shape = parameters.get("size"), parameters.get("seed", 0), parameters.get("shape")
        made = f"--size {size}" if size else "--shape " + " ".join(map(str, shape or ["IL", "XL", "NS"]))
        return (f"made by facies synth: make the synthetic survey again into a new path with the same seed "
                f"(facies synth NEW.zarr {made} --seed {seed}) and take the array from there (--overwrite on this "
                "store would delete its training tables, models and results)")
    if command == "facies ingest":
        source = parameters.get("file") or (inputs[0] if inputs else "FILE.sgy")
        return (f"ingest it again: facies ingest {shlex.quote(str(source))} --survey {shlex.quote(str(survey.path))} "
                f"--name {array} --overwrite")
    return f"re-run {command!r} (inputs: {', '.join(inputs) or 'none recorded'}) with --overwrite"
