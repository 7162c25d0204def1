"""One line for people from an operating-system error (a permission, a full disk, a long name...).

Commands let :class:`OSError` and :class:`MemoryError` rise to the CLI, which prints
:func:`describe_os_error` as ``error: ...`` and exits with status 2: the reason in the system's
words, the path involved, and what the user can do about it.
"""

from __future__ import annotations

import errno

#: What to do, by errno: the advice printed after the system's own words.
_ADVICE = {
    errno.EACCES: "check the permissions of that path, or choose another one",
    errno.EPERM: "check the permissions of that path, or choose another one",
    errno.EROFS: "that file system is read-only; choose a writable path",
    errno.ENOSPC: "the disk is full; free some space (or choose another disk) and run the command again "
                  "(with --resume where the command has it)",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run the command again",
    errno.ENAMETOOLONG: "a file name is longer than the file system allows (255 bytes); choose shorter names",
    errno.ENOTDIR: "a part of that path is a file, not a folder; choose another path",
    errno.EISDIR: "that path is a folder; give a file name",
    errno.ENOENT: "check that the path exists",
    errno.EEXIST: "that path exists already; choose another one",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
}


def describe_os_error(exc: OSError | MemoryError) -> str:
    """The one-line message for an :class:`OSError` or :class:`MemoryError` (no traceback needed).

    Examples
    --------
    >>> describe_os_error(PermissionError(13, "Permission denied", "/data/s.zarr"))
    "Permission denied: '/data/s.zarr'; check the permissions of that path, or choose another one"
    """
    if isinstance(exc, MemoryError):
        return ("not enough memory for this step; close other programs, use a smaller --brick or --memory-fraction "
                "where the command has them, or work on a larger machine")
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if p]
    where = ": " + " -> ".join(repr(str(p)) for p in paths) if paths else ""
    advice = _ADVICE.get(exc.errno or -1)
    return " ".join(f"{reason}{where}".split()) + (f"; {advice}" if advice else "")
