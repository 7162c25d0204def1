"""Where a command may write a new file or folder, and how it writes one whole.

Every command that creates something (a store, a SEG-Y file, the selection's files, the polygon file)
checks its target with :func:`check_new_path` before any work, and writes files with
:func:`written_then_moved`, so that a file that exists is whole: a failure (a full disk, Ctrl-C)
leaves the previous file, or none, never half of one. :func:`enclosing_store` finds the survey store
a path lies in, for the commands that must write nothing into a store but its own arrays (SEG-Y files,
a new store).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.store import is_store


def exists(path: Path) -> bool:
    """Whether something (a dangling link too) is at ``path``; False for a name too long to exist."""
    try:
        os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            return False
        raise
    return True


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the current folder for a relative path)."""
    for candidate in (path, *path.parents):
        if exists(candidate):
            return candidate
    return Path.cwd()


def check_input_file(path, what: str) -> Path:
    """``path`` as a Path, after checking that it is a regular file a command can read.

    Raises
    ------
    FaciesError
        Saying whether it does not exist, is a folder, or is something else (a device, a pipe).
    """
    path = Path(path)
    if not path.exists():
        raise FaciesError(f"{what} {path} does not exist")
    if path.is_dir():
        raise FaciesError(f"{what} {path} is a folder; give the file's path")
    if not path.is_file():
        raise FaciesError(f"{what} {path} is not a regular file (a device or a pipe?); give a file's path")
    return path


def check_new_path(path, what: str, *, hint: str = "choose another path", parent_must_exist: bool = True) -> None:
    """Raise FaciesError unless ``path`` can be made: its nearest existing ancestor is a folder.

    Parameters
    ----------
    path : path-like
        The file or folder a command is about to make.
    what : str
        What it is, for the message ("store", "SEG-Y file"...).
    hint : str
        What the user can do instead (names the command's option).
    parent_must_exist : bool
        Also require the folder it goes in to exist (commands do not make folders above their target).
    """
    path = Path(path)
    base = nearest_existing(path.parent)
    if not base.is_dir():
        raise FaciesError(f"{base} is a file, not a folder, so the {what} {path} cannot be made under it; {hint}")
    if parent_must_exist and not path.parent.is_dir():
        raise FaciesError(f"the folder {path.parent} does not exist; create it first or {hint}")


def file_head(path, size: int = 4096) -> bytes | None:
    """The first ``size`` bytes of ``path`` if it is a plain file (not a link) that can be read, else None.

    The commands that replace only files they wrote recognise them by their first bytes (a mark, a header).
    """
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return None


def refuse_inside_store(out, what: str) -> None:
    """Raise FaciesError when ``out`` (a file or folder to be made) would land inside a survey store.

    Links and ``..`` are resolved from the nearest existing ancestor: where the files would really go.
    ``what`` names them in the message ("pictures", "the report").
    """
    store = enclosing_store(nearest_existing(Path(out)))
    if store is not None:
        raise FaciesError(f"--out {out} lies inside the survey store {store}; {what} go outside stores: "
                          "choose another --out")


def enclosing_store(folder) -> Path | None:
    """The facies survey store that ``folder`` is, or lies inside, if any (resolved: links followed).

    Walks up from ``folder`` (resolved, so a link into a store or ``..`` out of one counts where it
    leads) and returns the innermost folder whose root ``zarr.json`` has the facies attributes
    (:func:`~facies.engine.store.is_store`); None when no folder on the way is a store.
    """
    resolved = Path(folder).resolve()
    for candidate in (resolved, *resolved.parents):
        if is_store(candidate):
            return candidate
    return None


def written_then_moved(path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` to a temporary name beside ``path``, then rename it to ``path``: never a half-written file.

    The temporary name starts with '.' and ends with the process id, so it neither shows up as a
    result nor collides with another process writing the same target. Whatever has that name (a file
    left by a killed process of the same id, a link) is removed first, so ``write`` creates a new file
    and never writes through a link.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
