"""Shared locks for the commands that read arrays, against runs that replace them.

A run that writes an array holds an exclusive ``fcntl`` lock on ``_runs/<name>.run.lock`` for its
whole life (:class:`facies.engine.ledger.Ledger`). A command that reads an array end to end (export,
a filter's inputs, statistics, extraction, verification) holds a *shared* lock on the same file
while it reads: readers never exclude each other, but a writer that starts while someone reads (or a
reader that starts while someone writes) is refused at once with one line, instead of the reader
getting half old and half new data. The kernel drops the locks when the process dies.

A reader that cannot create the lock file (a store on a read-only file system, or one it may only
read) reads without the lock: nobody can start a run through that path either.
"""

from __future__ import annotations

import errno
import fcntl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from facies.engine.errors import FaciesError

#: Folder of the lock files and run ledgers (a Zarr group of the store).
RUNS_GROUP = "_runs"
#: Lock file of an array (or ledger key) ``name`` is ``_runs/<name><LOCK_SUFFIX>``.
LOCK_SUFFIX = ".run.lock"
_UNLOCKABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def lock_path(store_path, name: str) -> Path:
    """The lock file of array ``name`` in the store at ``store_path``."""
    return Path(store_path) / RUNS_GROUP / f"{name}{LOCK_SUFFIX}"


@contextmanager
def read_locks(store_path, names: Iterable[str]) -> Iterator[None]:
    """Hold shared locks on the arrays ``names`` while the ``with`` block reads them.

    Raises
    ------
    FaciesError
        When a run is writing one of them right now (no lock stays taken).
    """
    held = []
    try:
        for name in sorted(set(names)):
            path = lock_path(store_path, name)
            try:
                path.parent.mkdir(exist_ok=True)
                handle = open(path, "a+")
            except OSError as exc:
                if exc.errno in _UNLOCKABLE:
                    continue
                raise
            held.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FaciesError(f"array {name!r} in {store_path} is being written by another facies run right now; "
                                  "wait for that run to finish, then run this command again") from None
        yield
    finally:
        for handle in held:
            handle.close()  # closing releases the lock
