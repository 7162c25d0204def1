"""Resumable runs: per-task done flags stored in the survey, and a lock per output.

A long command (ingest, a filter, a prediction) splits its work into tasks on a grid
(chunk columns, bricks). The :class:`Ledger` keeps one flag per task in a uint8 Zarr array
under ``_runs/<key>`` with one chunk per flag, so every flag is a separate one-byte object
with exactly one writer and no read-modify-write race. A task is marked done only after all
its output chunks are written; ``--resume`` skips done tasks and refuses to continue with
different parameters. The run's parameters live in the ledger's attributes.

The ledger also holds an exclusive ``fcntl`` lock on one file per output array
(``_runs/<name>.run.lock``) while a run is alive: a second run writing any of the same arrays gets
a clear error, whatever other arrays either run writes, and the kernel releases the locks when
the process dies, even by SIGKILL. Lock files are never deleted: a run that opened the file
before it was unlinked would lock the old inode while a later run locks a new file, and both
would think they held the lock.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.provenance import jsonable

RUNS_GROUP = "_runs"
#: Lock file of a run name (an output array, or a ledger key) is ``_runs/<name><LOCK_SUFFIX>``.
LOCK_SUFFIX = ".run.lock"


class Ledger:
    """Done flags of one run's tasks, with the run's parameters and an exclusive lock.

    Use :meth:`start`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, survey, key: str, array, lock_files):
        self.survey = survey
        self.key = key
        self._array = array
        self._lock_files = list(lock_files)
        self.grid = tuple(int(n) for n in array.shape)
        # Cache of flags known to be set; refreshed from disk at start.
        self._done = np.asarray(array[...], dtype=bool)

    @classmethod
    def start(cls, survey, key: str, grid: tuple[int, ...], parameters: Mapping[str, Any], *,
              resume: bool, locks: Sequence[str] | None = None) -> Ledger:
        """Open the ledger of ``key`` for a run, creating or resetting it as needed.

        Parameters
        ----------
        survey : Survey
            Store that holds the ledger.
        key : str
            Name of the run's output (one ledger per output array or array set).
        grid : tuple of int
            Shape of the task grid.
        parameters : mapping
            Everything that determines the output; a resumed run must match it exactly.
        resume : bool
            Continue a previous run (skip its done tasks). Without it, earlier flags are cleared.
        locks : sequence of str, optional
            Names to lock, one lock file each: every array the run writes, so that two runs
            with different output sets still exclude each other on a shared array. Default: ``[key]``.

        Raises
        ------
        FaciesError
            If another live run holds one of the locks, or ``resume`` is asked with other parameters.
        """
        runs = survey.group.require_group(RUNS_GROUP)
        lock_files = acquire_locks(survey, [key] if locks is None else locks)
        try:
            params = jsonable(dict(parameters))
            grid = tuple(int(n) for n in grid)
            existing = runs[key] if key in runs else None
            if existing is not None and resume:
                old = existing.attrs.get("parameters")
                if old != params or tuple(existing.shape) != grid:
                    raise FaciesError(
                        f"cannot resume {key!r}: it was started with other parameters "
                        f"({parameter_diff(old or {}, params)}); run again without --resume to start over")
                array = existing
            else:
                array = runs.create_array(key, shape=grid, chunks=(1,) * len(grid), dtype="uint8",
                                          fill_value=0, compressors=None, overwrite=True,
                                          attributes={"parameters": params})
            return cls(survey, key, array, lock_files)
        except BaseException:
            release_locks(lock_files)
            raise

    # ------------------------------------------------------------------ flags
    def is_done(self, index: tuple[int, ...]) -> bool:
        """Whether task ``index`` was recorded done."""
        return bool(self._done[tuple(index)])

    def mark_done(self, index: tuple[int, ...]) -> None:
        """Record task ``index`` done: call only after all its output chunks are written."""
        index = tuple(int(i) for i in index)
        self._array[index] = 1
        self._done[index] = True

    def pending(self) -> Iterator[tuple[int, ...]]:
        """Indices of tasks not yet done, in C order."""
        for index in zip(*np.nonzero(~self._done)):
            yield tuple(int(i) for i in index)

    @property
    def n_done(self) -> int:
        """How many tasks are done."""
        return int(self._done.sum())

    @property
    def n_tasks(self) -> int:
        """How many tasks the run has."""
        return int(self._done.size)

    def all_done(self) -> bool:
        """Whether every task is done."""
        return bool(self._done.all())

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the locks (the flags stay for a later ``--resume``)."""
        release_locks(self._lock_files)
        self._lock_files = []

    def finish(self) -> None:
        """Remove the ledger once the run's outputs are marked complete, and release the locks.

        The lock files stay (a few bytes each): unlinking one would let two runs lock two
        different inodes of the same name at once.
        """
        runs = self.survey.group[RUNS_GROUP]
        if self.key in runs:
            del runs[self.key]
        self.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def acquire_locks(survey, names: Sequence[str]) -> list:
    """Exclusive, non-blocking ``fcntl`` locks on ``_runs/<name>.run.lock`` for every name, in sorted order.

    The ``.run.lock`` suffix keeps these apart from the store's own lock files in ``_runs``
    (``group.lock``, held while group attributes change): an output named ``group`` must not
    share it, or marking the output complete would wait forever on the run's own lock.

    Sorted order means two runs never each hold a lock the other waits for; non-blocking means
    a busy name is an immediate :class:`FaciesError` naming it (and no lock stays taken).
    """
    folder = Path(survey.path) / RUNS_GROUP
    folder.mkdir(parents=True, exist_ok=True)
    held = []
    try:
        for name in sorted(set(names)):
            lock_file = open(folder / f"{name}{LOCK_SUFFIX}", "a+")
            held.append(lock_file)
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FaciesError(f"another facies run is writing {name!r} in {survey.path} right now; "
                                  "wait for it to finish or stop it first") from None
    except BaseException:
        release_locks(held)
        raise
    return held


def release_locks(lock_files) -> None:
    """Unlock and close the files of :func:`acquire_locks` (closing alone would release them too)."""
    for lock_file in lock_files:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
        finally:
            lock_file.close()


def parameter_diff(old: Mapping, new: Mapping) -> str:
    """``key: old -> new`` for every parameter that differs (for "cannot resume" messages)."""
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts) or "task grid changed"
