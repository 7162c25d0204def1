"""Members saved whole: training tables (``training/<name>``) and models (``models/<name>``).

Both are saved, locked, listed and opened the same way, with these helpers:

- :func:`save_whole` writes the new member under ``<group>/_partial-<name>`` and moves it into place only
  once it is whole: one atomic exchange of the two folders where the system has it (Linux), else two
  renames (a kill between them leaves the old member as ``_replaced-<name>``, put back by the next
  save of the name). A failed save leaves the old member as it was; leftovers of killed saves are
  never listed, never read, and removed by the next save of the name.
- :func:`member_locked` holds ``_runs/<group>.<name>.run.lock``: exclusive while a save runs, shared
  while a reader reads, so two saves of one name, or a save and a read, never meet.
- :func:`member_names` lists members from the folder (staging folders left out), :func:`open_member`
  opens one with a one-line error for damaged metadata.

The group itself is reached through :meth:`~facies.engine.store.Survey.subgroup` and
:meth:`~facies.engine.store.Survey.node`; the folder names come from :mod:`facies.engine.schema`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.integrity import DamagedArrayError, damage_found
from facies.engine.locks import ArrayBusyError, acquire_locks, release_locks
from facies.engine.paths import exists
from facies.engine.schema import PARTIAL_PREFIX, REPLACED_PREFIX

__all__ = ["member_lock", "member_locked", "member_names", "open_member", "save_whole", "writable_group"]


def member_lock(group: str, name: str) -> str:
    """Lock name of ``<group>/<name>``: ``training.picks``, ``models.rf``.

    '.' never appears in an array, table or model name, so these never share a lock file with an array.
    """
    return f"{group}.{name}"


@contextmanager
def member_locked(survey, group: str, name: str, what: str, *, shared: bool) -> Iterator[None]:
    """Hold the lock of table or model ``name``: shared while it is read, exclusive while it is saved.

    Parameters
    ----------
    survey : Survey
    group : str
        ``"training"`` or ``"models"``.
    name : str
        Table or model name (already checked).
    what : str
        ``"training table"`` or ``"model"``, for the message.
    shared : bool
        A reader's lock (readers share it) rather than a writer's.

    Raises
    ------
    ArrayBusyError
        When another command holds the lock in a mode that excludes this one (or replaces the store).
    """
    lock = member_lock(group, name)
    try:
        held = acquire_locks(survey, [lock], shared=shared)
    except ArrayBusyError as exc:
        if repr(lock) not in str(exc):
            raise  # the store's own lock: its message says what is going on
        doing = "being saved" if shared else "being saved or read"
        raise ArrayBusyError(f"{what} {name!r} in {survey.path} is {doing} by another facies command right now; "
                             "wait for it to finish, then run this command again") from None
    try:
        yield
    finally:
        release_locks(held)


def member_names(survey, group: str) -> list[str]:
    """Names of the members of ``group`` (tables or models), sorted, from the folder.

    Every sub-folder holding a ``zarr.json`` whose name a table or model may have: the folders of
    saves in progress or killed (``_partial-<name>``, ``_replaced-<name>``) are left out. Neither Zarr's
    listing (which fails whole on one damaged member, and warns about a folder without metadata) nor
    the group's own ``zarr.json`` is read.
    """
    try:
        children = list((Path(survey.path) / group).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(child.name for child in children
                  if child.name[:1] not in ("_", ".", "-") and (child / "zarr.json").is_file())


def open_member(survey, group: str, name: str, what: str, remedy: str):
    """The Zarr node of ``<group>/<name>``, None when there is no such folder.

    Raises
    ------
    DamagedArrayError
        When the folder's ``zarr.json`` is missing or cannot be read (one line naming it, with ``remedy``).
    """
    folder = Path(survey.path) / group / name
    if not folder.is_dir():
        return None
    if not (folder / "zarr.json").is_file():
        raise DamagedArrayError(f"{what} {name!r} in {survey.path} is damaged (its zarr.json is missing); {remedy}")
    try:
        return survey.node(f"{group}/{name}")
    except Exception:  # noqa: BLE001 - zarr raises several types for a broken zarr.json
        raise DamagedArrayError(f"{what} {name!r} in {survey.path} is damaged (its zarr.json cannot be read); "
                                f"{remedy}") from None


class DamagedDocument(Exception):
    """What is wrong with a stored document (a model): its bytes or any field of it. The model readers raise it
    for every damage they find and add the model's name and the remedy."""


def document_bytes(survey, group: str, name: str, array) -> bytes:
    """The bytes of the uint8 document array ``group/name`` (a model), read whole.

    Its ``zarr.json`` may have been edited to claim any length, and reading it whole would first allocate that
    length: the chunk files under ``c/`` are counted before (zarr's own ``nchunks_initialized`` asks the store
    about every claimed chunk, which takes minutes for a huge claim). A chunk missing, altered or that its codec
    cannot decode is damage like any other.

    Raises
    ------
    DamagedDocument
        Chunks missing, a checksum that does not match, bytes that do not decode.
    OSError, MemoryError
        The disk's or the machine's, not the document's: the CLI reports them.
    """
    folder = Path(survey.path) / group / name / "c"
    stored = sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".partial")) \
        if folder.is_dir() else 0
    if int(array.nchunks) > stored:
        raise DamagedDocument(f"{int(array.nchunks) - stored} of its {array.nchunks} chunks are missing")
    try:
        return np.asarray(array[...], dtype=np.uint8).tobytes()
    except (OSError, MemoryError):
        raise
    except DamagedArrayError as exc:  # the store's chunk checks: keep what it found ("chunk 0 is missing")
        raise DamagedDocument(damage_found(exc)) from None
    except Exception as exc:  # noqa: BLE001 - zarr and its codecs raise RuntimeError, ValueError... on garbled chunks
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DamagedDocument(f"its bytes cannot be decoded: {first}") from None


def writable_group(survey, group: str) -> zarr.Group:
    """The store's group ``group`` to save a member into, made when it has no ``zarr.json``.

    Raises
    ------
    DamagedArrayError
        When its ``zarr.json`` cannot be read (or is an array's). It holds nothing but the group
        marker, so the message says to delete it (the next save writes it again); facies does not
        replace it unasked.
    """
    meta = Path(survey.path) / group / "zarr.json"
    if not meta.is_file():
        return survey.subgroup(group, create=True)
    try:
        return survey.subgroup(group)
    except Exception:  # noqa: BLE001 - zarr raises several types for a broken zarr.json; an array there is a FaciesError
        raise DamagedArrayError(f"the {group!r} group of {survey.path} is damaged (its zarr.json cannot be read); "
                                f"it holds no data: delete {meta} and run the command again") from None


def save_whole(survey, group: str, name: str, what: str, write: Callable[[zarr.Group, str], None], *,
               overwrite: bool, is_junk: Callable[[], bool] = lambda: False) -> None:
    """Save table or model ``name`` whole: written under ``<group>/_partial-<name>``, then moved into place.

    Under an exclusive lock on the member (:func:`member_locked`), so that two saves of one name, or
    a save and a read, never meet. The new member is written whole first; only then does it take the
    old one's place, with one atomic exchange of the two folders where the system has it (Linux),
    else two renames (a kill between them leaves the old member as ``_replaced-<name>``, which the
    next save of the name puts back before anything else). A failure while writing (a full disk,
    Ctrl-C) removes the partial folder and leaves the old member as it was. Leftovers of killed
    saves are never listed and are removed by the next save of the name.

    Parameters
    ----------
    survey : Survey
        Writable store.
    group : str
        ``"training"`` or ``"models"``.
    name : str
        Member name (already checked with :func:`~facies.engine.schema.check_name`).
    what : str
        ``"training table"`` or ``"model"``, for messages.
    write : callable
        ``write(parent, key)`` writes the whole member as ``parent[key]`` (``parent`` is the group).
    overwrite : bool
        Replace an existing member; otherwise one is an error.
    is_junk : callable, optional
        Whether an existing member may be replaced without ``overwrite`` (an incomplete table);
        called under the lock.

    Raises
    ------
    FaciesError
        An existing member without ``overwrite``; a damaged group (:func:`writable_group`).
    ArrayBusyError
        When another command saves or reads the member right now.
    """
    with member_locked(survey, group, name, what, shared=False):
        parent = writable_group(survey, group)
        folder = Path(survey.path) / group
        partial = folder / f"{PARTIAL_PREFIX}{name}"
        replaced, final = folder / f"{REPLACED_PREFIX}{name}", folder / name
        if exists(replaced) and not exists(final):  # a save killed between its two renames: the old one back
            os.rename(replaced, final)
        if exists(final) and not overwrite and not is_junk():
            raise FaciesError(f"{what} {name!r} already exists in {survey.path}; "
                              "pass --overwrite or choose another --name")
        for leftover in (partial, replaced):  # from a save killed before it finished
            _remove_leftover(leftover)
        try:
            write(parent, partial.name)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if not exists(final):
            os.rename(partial, final)
        elif _exchange(partial, final):
            shutil.rmtree(partial, ignore_errors=True)  # the old member, now under the partial name
        else:  # a folder cannot be renamed over a non-empty one: the old one aside, then the new one in
            os.rename(final, replaced)
            os.rename(partial, final)
            shutil.rmtree(replaced, ignore_errors=True)


def _remove_leftover(path: Path) -> None:
    """Remove a reserved staging name: a folder a killed save left, or a link or file put there.

    A link is unlinked, never followed: writing the new member through a planted link would put it
    in whatever folder the link points to.
    """
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


#: ``renameat2`` flag swapping two paths atomically (Linux 3.15+, most local file systems).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one atomic step; False where the system cannot (then nothing moved)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # not Linux, or a C library without it
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):  # the file system cannot swap
        return False
    raise OSError(code, os.strerror(code), str(b))
