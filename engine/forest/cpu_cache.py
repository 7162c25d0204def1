"""The user's cache of compiled libraries: where it is, what may be loaded from it, how a build is put there.

A compiled library is native code: loading one is like loading a pickle, so only libraries this user's own
facies compiled are loaded, and never one from a survey store. The rules:

- **Where**: ``$FACIES_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/facies``, else ``~/.cache/facies``; the
  libraries in its ``compiled/`` folder. The folder is created private (mode 0700) and is used only while it
  belongs to this user and nobody else may write to it (as ssh treats its keys); otherwise nothing is cached
  (each process compiles its own copy in a private temporary folder).
- **What**: a library is found by a key (the hash of its source, flags and compiler) through a record beside
  it, ``<key>.json``, naming the library file and the sha256 of its bytes. A library is loaded only when its
  bytes have that sha256: a truncated, corrupted or swapped file is ignored and built again.
- **How it is loaded**: the verified bytes themselves are copied to a new private file, which is loaded and
  removed, so the file that is loaded is the one that was checked (nothing can change it in between).
- **How it is written**: compiled to a temporary file in the folder, moved to a name holding its own hash, then
  the record written to a temporary file and moved over ``<key>.json``; both moves are atomic, so two processes
  compiling at once each leave a complete library and a record that matches one of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path

#: Overrides the cache folder (its ``compiled/`` subfolder holds the libraries).
CACHE_ENV = "FACIES_CACHE_DIR"
#: Temporary files (of a compile, a record, a load) older than this many seconds were left by a killed process.
STALE_SECONDS = 24 * 3600


def cache_root() -> Path:
    """The user's facies cache folder (see the module docstring); not created here."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "facies"


def private_folder(path: Path) -> Path | None:
    """``path`` created if needed (mode 0700), or None when it cannot be made or another user could write in it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return None
    return path


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified_bytes(folder: Path, key: str) -> bytes | None:
    """The bytes of the library recorded under ``key``, when its record is sound and they have its sha256."""
    try:
        record = json.loads((folder / f"{key}.json").read_text())
        name, digest = record["library"], record["sha256"]
        if not isinstance(name, str) or not isinstance(digest, str) or Path(name).name != name or record["key"] != key:
            return None
        data = (folder / name).read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if file_sha256(data) == digest else None


def publish(folder: Path, key: str, built: Path, details: dict) -> bytes:
    """Put the library compiled at ``built`` (a file in ``folder``) into the cache under ``key``; its bytes.

    ``details`` (compiler, flags...) are written into the record for whoever reads it.
    """
    data = built.read_bytes()
    digest = file_sha256(data)
    final = folder / f"{key[:32]}-{digest[:16]}.so"
    os.replace(built, final)
    record = {"key": key, "library": final.name, "sha256": digest, **details}
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".record-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(record, stream, indent=1)
        os.replace(temporary, folder / f"{key}.json")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return data


#: Prefixes of the temporary files facies writes in the cache folder (a build, a record, a private copy to load).
TEMPORARY_PREFIXES = (".build-", ".record-", ".load-")


def remove_stale(folder: Path) -> None:
    """Remove the temporary files a killed process left in ``folder``: facies's own (:data:`TEMPORARY_PREFIXES`),
    a day old. Nothing else is touched, even when ``FACIES_CACHE_DIR`` points at a folder that holds other files."""
    now = time.time()
    for path in (p for prefix in TEMPORARY_PREFIXES for p in folder.glob(f"{prefix}*")):
        with contextlib.suppress(OSError):
            if path.is_file() and now - path.lstat().st_mtime > STALE_SECONDS:
                path.unlink()


@contextlib.contextmanager
def private_copy(data: bytes, folder: Path | None):
    """A new private file (mode 0600) holding ``data``, in ``folder`` (else a temporary folder), removed after.

    Loading this copy rather than the cached file means the library loaded is the one whose bytes were
    checked. The copy is made in the cache folder when there is one, since a temporary folder may be mounted
    without the right to execute.
    """
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facies-")))
        handle, name = tempfile.mkstemp(dir=folder, prefix=".load-", suffix=".so")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            yield Path(name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
