"""Resumable runs: per-task done flags stored in the survey, and a lock per output.

A long command (ingest, a filter, a prediction) splits its work into tasks on a grid
(chunk columns, bricks). The :class:`Ledger` keeps one flag per task in a uint8 Zarr array
under ``_runs/<key>`` with one chunk per flag, so every flag is a separate one-byte object
with exactly one writer and no read-modify-write race. A task is marked done only after all
its output chunks are written; ``--resume`` skips done tasks and refuses to continue with
different parameters. The run's parameters live in the ledger's attributes.

The ledger also holds an exclusive ``fcntl`` lock on a file beside it while a run is alive:
a second run on the same output gets a clear error, and the kernel releases the lock when
the process dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.provenance import jsonable

RUNS_GROUP = "_runs"


class Ledger:
    """Done flags of one run's tasks, with the run's parameters and an exclusive lock.

    Use :meth:`start`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, survey, key: str, array, lock_file):
        self.survey = survey
        self.key = key
        self._array = array
        self._lock_file = lock_file
        self.grid = tuple(int(n) for n in array.shape)
        # Cache of flags known to be set; refreshed from disk at start.
        self._done = np.asarray(array[...], dtype=bool)

    @classmethod
    def start(cls, survey, key: str, grid: tuple[int, ...], parameters: Mapping[str, Any], *,
              resume: bool) -> Ledger:
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

        Raises
        ------
        FaciesError
            If another live run holds the lock, or ``resume`` is asked with other parameters.
        """
        runs = survey.group.require_group(RUNS_GROUP)
        lock_path = Path(survey.path) / RUNS_GROUP / f"{key}.lock"
        lock_file = open(lock_path, "a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise FaciesError(f"another facies run is writing {key!r} in {survey.path} right now; "
                              "wait for it to finish or stop it first") from None
        try:
            params = jsonable(dict(parameters))
            grid = tuple(int(n) for n in grid)
            existing = runs[key] if key in runs else None
            if existing is not None and resume:
                old = existing.attrs.get("parameters")
                if old != params or tuple(existing.shape) != grid:
                    raise FaciesError(
                        f"cannot resume {key!r}: it was started with other parameters "
                        f"({_diff(old or {}, params)}); run again without --resume to start over")
                array = existing
            else:
                array = runs.create_array(key, shape=grid, chunks=(1,) * len(grid), dtype="uint8",
                                          fill_value=0, compressors=None, overwrite=True,
                                          attributes={"parameters": params})
            return cls(survey, key, array, lock_file)
        except BaseException:
            lock_file.close()
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
        """Release the lock (the flags stay for a later ``--resume``)."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def finish(self) -> None:
        """Remove the ledger once the run's outputs are marked complete, and release the lock."""
        runs = self.survey.group[RUNS_GROUP]
        if self.key in runs:
            del runs[self.key]
        lock_path = Path(self.survey.path) / RUNS_GROUP / f"{self.key}.lock"
        self.close()
        try:
            os.remove(lock_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _diff(old: Mapping, new: Mapping) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts) or "task grid changed"
