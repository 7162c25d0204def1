"""Shared locks for the commands that read arrays, against runs that replace them.

A run that writes an array holds an exclusive ``fcntl`` lock on ``_runs/<name>.run.lock`` for its
whole life (:class:`facies.engine.ledger.Ledger`). A command that reads an array end to end (export,
a filter's inputs, statistics, extraction, verification) holds a *shared* lock on the same file
while it reads: readers never exclude each other, but a writer that starts while someone reads (or a
reader that starts while someone writes) is refused at once with one line, instead of the reader
getting half old and half new data. The kernel drops the locks when the process dies.

A reader opens an existing lock file read-only (a user who may only read the store still takes the
lock); one that cannot create a missing lock file (a store on a read-only file system, or one made
by a user who never read it since) reads without the lock.
"""

from __future__ import annotations

import errno
import fcntl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.schema import LOCK_SUFFIX, RUNS_GROUP, STORE_LOCK

_UNLOCKABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class ArrayBusyError(FaciesError):
    """Another facies command holds a lock that this one needs."""


def lock_path(store_path, name: str) -> Path:
    """The lock file of array ``name`` in the store at ``store_path``."""
    return Path(store_path) / RUNS_GROUP / f"{name}{LOCK_SUFFIX}"


def acquire_locks(survey, names: Iterable[str], *, shared: bool = False, whole_store: bool = False) -> list:
    """Non-blocking ``fcntl`` locks on ``_runs/<name>.run.lock`` for every name, in sorted order.

    Exclusive for a run's outputs, shared (``shared=True``) for what a command reads. Every call
    also takes the store's own lock (``_runs/_store.run.lock``: no array name starts with '_'),
    shared, so that replacing the whole store (``whole_store=True``, exclusive) waits for nobody and
    is refused while any command holds a lock in it. Sorted order means two commands never each hold
    a lock the other waits for; non-blocking means a busy name is an immediate
    :class:`ArrayBusyError` naming it (and no lock stays taken). The ``.run.lock`` suffix keeps these
    apart from the store's other lock file in ``_runs`` (``group.lock``, held while group attributes
    change): an output named ``group`` must not share it.

    Parameters
    ----------
    survey : Survey or path-like
        The store (or its path).
    names : iterable of str
        Arrays to lock.
    shared : bool
        Take shared (reader) locks instead of exclusive (writer) ones. A reader opens an existing lock
        file read-only, and one that may not create a lock file (a read-only store) goes on without it.
    whole_store : bool
        Take the store's lock exclusively (before the store is removed).

    Returns
    -------
    list
        The open lock files; give them to :func:`release_locks`.
    """
    store_path = Path(getattr(survey, "path", survey))
    held = []
    try:
        wanted = [(STORE_LOCK, shared or not whole_store)] + [(name, shared) for name in sorted(set(names))]
        for name, as_reader in wanted:
            handle = _open_lock(lock_path(store_path, name), as_reader)
            if handle is None:
                continue
            held.append(handle)
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if as_reader else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArrayBusyError(_busy_message(store_path, name, as_reader)) from None
    except BaseException:
        release_locks(held)
        raise
    return held


def _open_lock(path: Path, as_reader: bool):
    """The lock file at ``path``, opened (and created) for locking; None for a reader that may not create it."""
    try:
        if as_reader and path.exists():
            return open(path)  # read-only is enough for a shared lock, and all a reader may have
        path.parent.mkdir(exist_ok=True)
        return open(path, "a+")
    except OSError as exc:
        if as_reader and exc.errno in _UNLOCKABLE:
            return None
        raise


def _busy_message(store_path, name: str, shared: bool) -> str:
    if name == STORE_LOCK:
        return (f"{store_path} is being replaced by another facies command right now" if shared else
                f"{store_path} is in use by another facies command; wait for it to finish before replacing the store")
    if shared:
        return (f"array {name!r} in {store_path} is being written by another facies run right now; "
                "wait for that run to finish, then run this command again")
    return (f"another facies command is writing or reading {name!r} in {store_path} right now; "
            "wait for it to finish (or stop it), then run this command again")


def release_locks(lock_files) -> None:
    """Unlock and close the files of :func:`acquire_locks` (closing alone would release them too)."""
    for lock_file in lock_files:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
        finally:
            lock_file.close()


@contextmanager
def held_locks(survey, names: Iterable[str], *, shared: bool = False, whole_store: bool = False) -> Iterator[None]:
    """Hold the locks of :func:`acquire_locks` (same arguments) while the ``with`` block runs."""
    held = acquire_locks(survey, names, shared=shared, whole_store=whole_store)
    try:
        yield
    finally:
        release_locks(held)


def read_locks(survey, names: Iterable[str]):
    """Shared locks on the arrays ``names`` while a ``with`` block reads them.

    Raises
    ------
    ArrayBusyError
        When a run is writing one of them right now (no lock stays taken).
    """
    return held_locks(survey, names, shared=True)
