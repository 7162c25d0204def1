"""Reading ``facies bench`` reports back (``--compare``, ``--out --overwrite``) and comparing two."""

from __future__ import annotations

import json
from pathlib import Path

from facies.engine.errors import FaciesError

#: The key that marks a file as a facies bench report, and its format's version.
REPORT_KEY = "facies_bench"
REPORT_VERSION = 1


def load_report(path) -> dict:
    """Read a report written by ``facies bench --out`` (or ``--json``).

    Raises
    ------
    FaciesError
        The file is missing or unreadable, is not JSON, or is not a facies bench report (one line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaciesError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise FaciesError(f"{path} is a folder, not a facies bench report") from None
    except UnicodeDecodeError:
        raise FaciesError(f"{path} is not a facies bench report (not text)") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaciesError(f"{path} is not a facies bench report (not JSON: line {exc.lineno}: {exc.msg})") from None
    if not isinstance(report, dict) or report.get(REPORT_KEY) != REPORT_VERSION:
        raise FaciesError(f"{path} is not a facies bench report (no '{REPORT_KEY}: {REPORT_VERSION}' key); "
                          "make one with 'facies bench --out FILE'")
    stages = report.get("stages")
    if not isinstance(stages, list) or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("rate"), (int, float))
            and s["rate"] > 0 for s in stages):
        raise FaciesError(f"{path} is a damaged facies bench report (its 'stages' are not a list of named rates)")
    return report


def compare_reports(a: dict, b: dict) -> list[dict]:
    """Per stage of either report: both rates and ``ratio`` = B / A (None where a stage is missing from one).

    Returns
    -------
    list of dict
        ``{"name", "unit", "device_a", "device_b", "rate_a", "rate_b", "ratio"}``, in A's order, then B's extra
        stages.
    """
    rows_a = {s["name"]: s for s in a["stages"]}
    rows_b = {s["name"]: s for s in b["stages"]}
    rows = []
    for name in list(rows_a) + [n for n in rows_b if n not in rows_a]:
        sa, sb = rows_a.get(name), rows_b.get(name)
        ra, rb = (sa or {}).get("rate"), (sb or {}).get("rate")
        rows.append({"name": name, "unit": (sa or sb or {}).get("unit", ""), "device_a": (sa or {}).get("device"),
                     "device_b": (sb or {}).get("device"), "rate_a": ra, "rate_b": rb,
                     "ratio": rb / ra if ra and rb else None})
    return rows
