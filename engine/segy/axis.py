"""Is the sample axis time or depth? SEG-Y has no standard field that says so.

Rule, first match wins (each decision records its reason in the store under ``segy``):

1. the caller's choice (``sample_axis="time"|"depth"``, CLI ``--sample-axis``);
2. the textual header declares a domain: "DEPTH DOMAIN", "DOMAIN: DEPTH", "DEPTH MIGRATED",
   "PSDM" mean depth; "TIME DOMAIN", "DOMAIN: TIME", "TIME MIGRATED", "PSTM" mean time;
3. the file name has a word "depth" or "psdm" (``volve-migvel-depth.sgy``), or "time"/"pstm"/"twt";
4. otherwise time.

The binary header's measurement system (byte 3255) only gives the unit of a depth axis
(2 = feet, else metres): time files set it too, for their coordinates. Trace header byte 215
is the scalar of the time fields (bytes 95-114); it scales the delay, it does not name the axis.
The sample interval (byte 3217) is in microseconds for time; for depth the usual convention,
which segyio and Petrel follow, is 1/1000 of the depth unit, so both become ``interval / 1000``.
"""

from __future__ import annotations

import re
from pathlib import Path

from facies.engine.errors import FaciesError

_DEPTH_TEXT = re.compile(r"\bDEPTH[ _-]+(DOMAIN|MIGRATED|MIGRATION|CONVERTED)\b|\bDOMAIN\W{0,3}DEPTH\b|\bPSDM\b")
_TIME_TEXT = re.compile(r"\bTIME[ _-]+(DOMAIN|MIGRATED|MIGRATION)\b|\bDOMAIN\W{0,3}TIME\b|\bPSTM\b")
_WORDS = re.compile(r"[a-z]+")


def decide_sample_axis(text: str, path: Path, measurement_system: int,
                       choice: str | None = None) -> tuple[str, str, str]:
    """Return ``(axis, unit, reason)`` following the rule in the module docstring."""
    depth_unit = "ft" if measurement_system == 2 else "m"
    if choice is not None:
        if choice not in ("time", "depth"):
            raise FaciesError(f"sample axis must be 'time' or 'depth', not {choice!r}")
        return choice, ("ms" if choice == "time" else depth_unit), "option"
    upper = text.upper()
    depth, time = bool(_DEPTH_TEXT.search(upper)), bool(_TIME_TEXT.search(upper))
    if depth != time:
        return ("depth", depth_unit, "textual header") if depth else ("time", "ms", "textual header")
    words = set(_WORDS.findall(Path(path).stem.lower()))
    if words & {"depth", "psdm"}:
        return "depth", depth_unit, "file name"
    if words & {"time", "pstm", "twt"}:
        return "time", "ms", "file name"
    return "time", "ms", "default"
