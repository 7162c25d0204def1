"""What a stage's fingerprint is made of, and the identities of files and store members.

A stage's fingerprint is the SHA-256 of its canonical arguments (every key of its commands but the
execution options, with defaults filled in and paths relative to the run file's folder), the contents
of the files it reads (polygons, SEG-Y, a selection folder) and the fingerprints of the stages it reads
from. Two kinds of identity are kept:

- a file it *reads* is identified by its content (size and SHA-256), or, above :data:`HASHED_BYTES`
  (a SEG-Y file), by its size and modification time: touching a polygon file reruns nothing, editing it
  reruns the stages that read it;
- something a stage *made* (a store member, a file) is identified by its size and modification time
  (of a member's ``zarr.json``, which every write of an array, table or model replaces), to tell
  whether it is still there and still the one the stage made.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from facies.engine.pipeline.runfile import Invocation, RunFile
from facies.engine.pipeline.stages import EXECUTION_KEYS

#: Files up to this size are identified by their content; larger ones by size and modification time.
HASHED_BYTES = 64 << 20
#: Most files looked at under one folder (a folder named by mistake, "/", must not take all day).
MAX_FILES = 10_000
#: Prefix of a store member's key in a stage's outputs (``store:models/rf``); files are ``file:<path>``.
STORE_PREFIX, FILE_PREFIX = "store:", "file:"


def shown_path(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies inside it (as written in a state file), else absolute."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix() if _inside(path, folder) else str(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _inside(path: Path, folder: Path) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def canonical_arguments(run: RunFile, invocations: tuple[Invocation, ...]) -> list[dict[str, Any]]:
    """A stage's arguments as they enter its fingerprint: one mapping per command, in order."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return shown_path(value, run.folder)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    arguments = []
    for invocation in invocations:
        values = {key.name: plain(invocation.value(key)) for key in invocation.command.keys
                  if key.name not in EXECUTION_KEYS}
        arguments.append({"command": invocation.command.step.command, "table": invocation.place,
                          "store": shown_path(run.store, run.folder), "values": values})
    return arguments


def input_identities(run: RunFile, invocations: tuple[Invocation, ...]) -> dict[str, str]:
    """The content identity of every file the stage's commands read (their ``inputs`` keys)."""
    identities: dict[str, str] = {}
    for invocation in invocations:
        for name in invocation.command.step.inputs:
            key = invocation.command.key(name)
            value = invocation.value(key) if key is not None else None
            for path in ([] if value is None else value if isinstance(value, list) else [value]):
                identities[shown_path(path, run.folder)] = content_identity(path)
    return identities


def content_identity(path: Path) -> str:
    """``sha256:<hex>`` of a file's content (``stat:<size>:<mtime_ns>`` above :data:`HASHED_BYTES`), a digest
    of the same for every file of a folder, or ``absent``."""
    if path.is_dir():
        digest = hashlib.sha256()
        for file in _files(path):
            digest.update(f"{file.relative_to(path).as_posix()}\0{content_identity(file)}\n".encode())
        return f"folder:{digest.hexdigest()}"
    try:
        stat = path.stat()
    except OSError:
        return "absent"
    if stat.st_size > HASHED_BYTES:
        return f"stat:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "unreadable"
    return f"sha256:{digest.hexdigest()}"


def _files(folder: Path) -> Iterator[Path]:
    """The files under ``folder`` (sorted, links not followed, survey stores not entered), at most MAX_FILES."""
    count = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not (Path(root, d) / "zarr.json").is_file())
        for name in sorted(files):
            if count >= MAX_FILES:
                return
            count += 1
            yield Path(root, name)


def fingerprint(arguments: list, inputs: Mapping[str, str], upstream: Mapping[str, str]) -> str:
    """The SHA-256 (hex) of a stage's canonical arguments, input identities and upstream fingerprints."""
    text = json.dumps({"arguments": arguments, "inputs": dict(inputs), "upstream": dict(upstream)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def stat_identity(path: Path) -> str | None:
    """``<size>:<mtime_ns>`` of a file (links not followed), or None when there is none."""
    try:
        stat = path.lstat()
    except OSError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def store_members(store: Path) -> dict[str, str]:
    """Every array, table and model of a survey store, ``store:<name>`` or ``store:<group>/<name>`` -> the
    stat identity of its ``zarr.json``.

    Read from the folder, without opening Zarr (a store a stage is about to create has no group yet):
    a member is a folder holding a ``zarr.json``; a group's members are listed instead of the group, and
    the engine's own folders (``_runs``, names starting with ``_`` or ``.``) are left out.
    """
    members: dict[str, str] = {}
    for child in _subfolders(store):
        if not _is_group(child):
            identity = stat_identity(child / "zarr.json")
            if identity is not None:
                members[f"{STORE_PREFIX}{child.name}"] = identity
            continue
        for grandchild in _subfolders(child):
            identity = stat_identity(grandchild / "zarr.json")
            if identity is not None:
                members[f"{STORE_PREFIX}{child.name}/{grandchild.name}"] = identity
    return members


def _subfolders(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return []
    return [c for c in children if c.name[:1] not in ("_", ".") and not c.is_symlink() and (c / "zarr.json").is_file()]


def _is_group(folder: Path) -> bool:
    try:
        return json.loads((folder / "zarr.json").read_bytes()).get("node_type") == "group"
    except (OSError, ValueError, AttributeError):
        return False


def file_outputs(paths: list[Path], folder: Path) -> dict[str, str]:
    """``file:<path>`` -> stat identity of each file at or under ``paths`` (folders walked, stores skipped)."""
    found: dict[str, str] = {}
    for path in paths:
        if (path / "zarr.json").is_file():
            continue  # a store: its members are store_members'
        candidates = _files(path) if path.is_dir() and not path.is_symlink() else [path]
        for file in candidates:
            identity = stat_identity(file)
            if identity is not None:
                found[f"{FILE_PREFIX}{shown_path(file, folder)}"] = identity
    return found


def output_path(key: str, run: RunFile) -> Path | None:
    """Where an output key (``store:...`` or ``file:...``) lies on disk, to check that it is still there."""
    if key.startswith(STORE_PREFIX):
        return run.store / key[len(STORE_PREFIX):] / "zarr.json"
    if key.startswith(FILE_PREFIX):
        return run.folder / key[len(FILE_PREFIX):]
    return None
