"""Resumable runs: per-task done flags stored in the survey, and a lock per output.

A long command (ingest, a filter, a prediction) splits its work into tasks on a grid
(chunk columns, bricks). The :class:`Ledger` keeps one flag per task in a uint8 Zarr array
under ``_runs/<key>`` with one chunk per flag, so every flag is a separate one-byte object
with exactly one writer and no read-modify-write race. A task is marked done only after all
its output chunks are written; ``--resume`` skips done tasks and refuses to continue with
different parameters. The run's parameters live in the ledger's attributes, with the names of
the arrays it writes (messages name those, not the key). Keys are bounded (:func:`ledger_key`),
so a run over many long output names still fits in a file name.

The ledger also holds an exclusive ``fcntl`` lock on one file per output array
(``_runs/<name>.run.lock``) while a run is alive, and a shared lock on each array the run reads
(:mod:`facies.engine.locks`): a second run writing any of the same arrays, or a command reading
one of them, gets a clear error, whatever other arrays either touches, and the kernel releases the
locks when the process dies, even by SIGKILL. Lock files are never deleted: a run that opened the
file before it was unlinked would lock the old inode while a later run locks a new file, and both
would think they held the lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.locks import acquire_locks, release_locks
from facies.engine.provenance import jsonable
from facies.engine.schema import LEDGER_KEY, LEDGER_NAMES, LEDGER_PARAMETERS, RUNS_GROUP

__all__ = ["RUNS_GROUP", "Ledger", "LedgerRecord", "acquire_locks", "find_ledger", "ledger_key", "parameter_diff",
           "release_locks"]

#: Longest ledger key kept as it is (UTF-8 bytes); longer ones are shortened by :func:`ledger_key`.
MAX_KEY_BYTES = 100


def ledger_key(key: str) -> str:
    """The folder name of ``key``'s ledger under ``_runs``: ``key`` itself when it is at most
    :data:`MAX_KEY_BYTES` long, else its first 60 bytes and a hash of the whole key.

    Keys come from array names (``ingest-<name>``, a run's outputs), which may be long; file
    systems refuse names over 255 bytes.

    Examples
    --------
    >>> ledger_key("ingest-amplitude")
    'ingest-amplitude'
    >>> len(ledger_key("x" * 300).encode())
    77
    """
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    return f"{truncate_utf8(key, 60)}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def truncate_utf8(text: str, limit: int) -> str:
    """The longest start of ``text`` whose UTF-8 encoding holds at most ``limit`` bytes (whole characters)."""
    return text.encode()[:limit].decode("utf-8", "ignore")


def describe_names(names: Sequence[str], limit: int = 2) -> str:
    """``'a'``, ``'a', 'b'`` or ``'a', 'b' and 12 more``: names for a one-line message."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True)
class LedgerRecord:
    """What the ledger of an interrupted run says, read without taking its locks (:func:`find_ledger`).

    Attributes
    ----------
    key : str
        The key the run was started with (before :func:`ledger_key`).
    parameters : dict
        The run's parameters.
    names : list of str
        The arrays the run writes.
    n_done : int
        Tasks recorded done.
    grid : tuple of int
        Shape of the task grid.
    """

    key: str
    parameters: dict
    names: list[str]
    n_done: int
    grid: tuple[int, ...]


def find_ledger(survey, key: str) -> LedgerRecord | None:
    """The ledger of ``key`` left by an earlier run, or None when there is none."""
    runs = survey.group.get(RUNS_GROUP)
    folder = ledger_key(key)
    if runs is None or folder not in runs:
        return None
    array = runs[folder]
    return LedgerRecord(key, dict(array.attrs.get(LEDGER_PARAMETERS) or {}),
                        list(array.attrs.get(LEDGER_NAMES) or [key]),
                        int(np.count_nonzero(array[...])), tuple(int(n) for n in array.shape))


class Ledger:
    """Done flags of one run's tasks, with the run's parameters and an exclusive lock.

    Use :meth:`start`; close with :meth:`close` (or as a context manager). ``key`` is the
    ledger's folder under ``_runs`` (:func:`ledger_key` of the key the run was started with).
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
              resume: bool, locks: Sequence[str] | None = None, reads: Sequence[str] = (),
              restart: str = "run again without --resume to start over") -> Ledger:
        """Open the ledger of ``key`` for a run, creating or resetting it as needed.

        Parameters
        ----------
        survey : Survey
            Store that holds the ledger.
        key : str
            Name of the run's output (one ledger per output array or array set); the ledger's
            folder is :func:`ledger_key` of it (bounded in length).
        grid : tuple of int
            Shape of the task grid.
        parameters : mapping
            Everything that determines the output; a resumed run must match it exactly.
        resume : bool
            Continue a previous run (skip its done tasks). Without it, earlier flags are cleared.
        locks : sequence of str, optional
            Names to lock, one lock file each: every array the run writes, so that two runs
            with different output sets still exclude each other on a shared array. Default: ``[key]``.
            They are kept in the ledger (``names``) and named by its messages.
        reads : sequence of str
            Arrays the run reads: held with shared locks, so nobody replaces them meanwhile.
        restart : str
            How to start over, for the message refusing ``resume`` with other parameters (ingest
            says ``--overwrite``: without ``--resume`` it would stop at "already exists").

        Raises
        ------
        FaciesError
            If another live run holds one of the locks, or ``resume`` is asked with other parameters.
        """
        runs = survey.group.require_group(RUNS_GROUP)
        names = [key] if locks is None else list(locks)
        lock_files = acquire_locks(survey, names)
        try:
            lock_files += acquire_locks(survey, reads, shared=True)
            params = jsonable(dict(parameters))
            grid = tuple(int(n) for n in grid)
            folder = ledger_key(key)
            existing = runs[folder] if folder in runs else None
            if existing is not None and resume:
                old = existing.attrs.get(LEDGER_PARAMETERS)
                if old != params or tuple(existing.shape) != grid:
                    raise FaciesError(
                        f"cannot resume {describe_names(names)}: it was started with other parameters "
                        f"({parameter_diff(old or {}, params)}); {restart}")
                array = existing
            else:
                array = runs.create_array(folder, shape=grid, chunks=(1,) * len(grid), dtype="uint8",
                                          fill_value=0, compressors=None, overwrite=True,
                                          attributes={LEDGER_PARAMETERS: params, LEDGER_KEY: key, LEDGER_NAMES: names})
            return cls(survey, folder, array, lock_files)
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




def parameter_diff(old: Mapping, new: Mapping, *, limit: int = 3, width: int = 40) -> str:
    """One short line naming the parameters that differ (for "cannot resume" messages).

    Nested dicts, and lists of dicts (operator chains), are compared item by item, so a change
    deep inside reads ``operators[0].radius: [2, 2, 2] -> [3, 3, 3]``; other values are shown as
    JSON cut to ``width`` characters. At most ``limit`` differences are listed, then "and N more".

    Examples
    --------
    >>> parameter_diff({"operators": [{"radius": 2, "halo": [2]}]}, {"operators": [{"radius": 3, "halo": [2]}]})
    'operators[0].radius: 2 -> 3'
    """
    parts = [f"{path}: {_short(a, width)} -> {_short(b, width)}" for path, a, b in _differences(old, new, "")]
    if not parts:
        return "task grid changed"
    more = len(parts) - limit
    return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")


_ABSENT = object()


def _differences(old, new, path: str) -> Iterator[tuple[str, Any, Any]]:
    """``(path, old, new)`` for every leaf that differs, depth first, keys sorted."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from _differences(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
    elif (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))
          and any(isinstance(v, Mapping) for v in (*old, *new))):
        for index in range(max(len(old), len(new))):
            yield from _differences(old[index] if index < len(old) else _ABSENT,
                                    new[index] if index < len(new) else _ABSENT, f"{path}[{index}]")
    elif old != new:
        yield path or "value", old, new


def _short(value, width: int) -> str:
    """JSON of ``value`` cut to ``width`` characters (``absent`` for a missing key)."""
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."
