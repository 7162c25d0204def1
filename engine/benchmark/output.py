"""Writing a report to ``--out``: only a new file, or with ``--overwrite`` a facies bench report; whole or not
at all (docs/reliability.md, section 1)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from facies.engine.benchmark.compare import load_report
from facies.engine.errors import FaciesError
from facies.engine.provenance import jsonable


def check_out(path, *, overwrite: bool) -> Path:
    """Refuse an ``--out`` that cannot or may not be written, before anything is measured.

    Raises
    ------
    FaciesError
        The folder does not exist; the path is a folder or a link; an existing file without ``overwrite``;
        with ``overwrite``, an existing file that is not a facies bench report (it is someone else's).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FaciesError(f"--out {path}: the folder {path.parent} does not exist")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise FaciesError(f"--out {path} exists and is not a plain file; choose another path")
    if path.exists():
        if not overwrite:
            raise FaciesError(f"--out {path} exists; add --overwrite to replace it (only a facies bench report is "
                              "replaced)")
        try:
            load_report(path)
        except FaciesError:
            raise FaciesError(f"--out {path} exists and is not a facies bench report; facies bench replaces only "
                              "its own reports, choose another path") from None
    return path


def write_report(path, report: dict, *, overwrite: bool) -> Path:
    """Write ``report`` as indented JSON to a temporary name beside ``path``, then rename it into place,
    checking ``path`` again just before (it may have appeared during the run)."""
    path = check_out(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(jsonable(report), f, indent=2)
            f.write("\n")
        check_out(path, overwrite=overwrite)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
