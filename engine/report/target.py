"""Where ``facies report`` may write its page, and how it knows a page it wrote.

The page is one file. It is refused inside a survey store (links and ``..`` resolved, as SEG-Y exports
are); an existing file is replaced only when ``facies report`` wrote it (its ``<meta name="generator">``
tag, :data:`MARK_TAG`, near the top) and only with ``overwrite``; a folder, a link or anyone else's file
is never replaced. The page is written under a temporary name and moved into place
(:func:`~facies.engine.paths.written_then_moved`).
"""

from __future__ import annotations

import os
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.paths import check_new_path, exists, file_head, refuse_inside_store

#: The tag that marks a page facies report wrote; it is in the page's first few hundred bytes.
MARK_TAG = '<meta name="generator" content="facies report">'


def written_by_report(path) -> bool:
    """Whether ``path`` is a plain file ``facies report`` wrote (an HTML page with :data:`MARK_TAG` at its top)."""
    head = file_head(path)
    if head is None:
        return False
    return head.lstrip().lower().startswith(b"<!doctype html>") and MARK_TAG.encode() in head


def check_out_file(out, *, overwrite: bool) -> Path:
    """Check, before anything is drawn, that the page may be written at ``out``; return it as a Path.

    Raises
    ------
    FaciesError
        ``out`` is a folder, lies in a missing folder, under a file or inside a survey store, is a file
        facies report did not write, or one it wrote while ``overwrite`` is not given, or its folder is
        not writable.
    """
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise FaciesError(f"--out {str(out)!r} names no file; give the page's name, e.g. --out report.html")
    if out.is_dir() and not out.is_symlink():
        raise FaciesError(f"--out {out} is a folder; give the path of the HTML file, e.g. --out {out / 'report.html'}")
    check_new_path(out, "report", hint="choose another --out")
    refuse_inside_store(out, "reports")
    if exists(out):
        if not written_by_report(out):
            raise FaciesError(f"{out} exists and facies report did not write it; facies replaces only its own "
                              "files: move it away or choose another --out")
        if not overwrite:
            raise FaciesError(f"{out} holds a report from an earlier facies report; pass --overwrite to replace "
                              "it, or choose another --out")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise FaciesError(f"cannot write into the folder {out.parent}; check its permissions or choose another --out")
    return out
