"""The report's attribute-selection section: the store's record of the latest selection, and its folder's files.

The folder is ``--selection DIR`` when given, else the ``out`` the record names. Only files ``facies select``
wrote are read (:func:`~facies.engine.selection.results.written_by_select`): its ``summary.json`` gives the
table of the best combination per dimension, its ``scores.png`` the chart.
"""

from __future__ import annotations

import json
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.report.document import Figure, Section, Table, Text, number
from facies.engine.report.figures import PNG_SIGNATURE
from facies.engine.schema import SELECTION_KEY
from facies.engine.selection.results import output_paths, written_by_select

#: The largest scores.png embedded (facies select draws one of a few tens of kB).
MAX_CHART_BYTES = 4 << 20


def check_selection_folder(folder) -> Path:
    """``--selection DIR`` as a Path, after checking it is a folder holding a summary.json of facies select.

    Raises
    ------
    FaciesError
        It does not exist, is not a folder, or holds no summary.json facies select wrote.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FaciesError(f"--selection {folder} is not a folder; give a 'facies select --out' folder")
    if not written_by_select(output_paths(folder)["summary"], "summary"):
        raise FaciesError(f"--selection {folder} holds no summary.json written by facies select; give the --out "
                          "folder of a finished selection")
    return folder


def selection_section(survey, folder: Path | None) -> Section:
    """The recorded best combination, the best per dimension (summary.json) and the chart (scores.png)."""
    section = Section("selection", "Attribute selection")
    record = survey.attrs(SELECTION_KEY)
    record = record if isinstance(record, dict) and record.get("attributes") else None
    if folder is None and record is not None and isinstance(record.get("out"), str):
        folder = Path(record["out"])
    if record is None and folder is None:
        section.absent = (f"no attribute selection recorded in this store: run facies select {survey.path} "
                          "--training picks --out DIR")
        return section
    if record is not None:
        section.parts.append(Table(["", ""], [["best combination", ", ".join(map(str, record["attributes"]))],
                                              ["score", number(record.get("score"))],
                                              ["training table", str(record.get("training", ""))],
                                              ["chosen by", str(record.get("select_by", ""))],
                                              ["files", str(record.get("out", ""))]],
                                   caption="the store's record of the latest selection"))
    else:
        section.parts.append(Text("the store records no selection; shown: the files of --selection"))
    assert folder is not None
    paths = output_paths(folder)
    if not written_by_select(paths["summary"], "summary"):
        section.parts.append(Text(f"no summary.json of facies select in {folder}: the table and chart of the "
                                  "selection are not shown"))
        return section
    try:
        summary = json.loads(paths["summary"].read_text())
        rows = [[str(k), ", ".join(map(str, v.get("attributes", []))), number(v.get("score")),
                 number(v.get("validation_accuracy_polygons")), number(v.get("validation_accuracy_random"))]
                for k, v in sorted(summary["best_per_dimension"].items(), key=lambda kv: int(kv[0]))]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        section.parts.append(Text(f"{paths['summary']} could not be read ({exc})"))
        rows = []
    if rows:
        section.parts.append(Table(["attributes n", "best combination", "score", "held-out accuracy (polygons)",
                                    "held-out accuracy (random voxels)"], rows,
                                   caption=f"best combination per dimension ({paths['summary']})"))
    figure = paths["figure"]
    if written_by_select(figure, "figure") and figure.stat().st_size <= MAX_CHART_BYTES:
        png = figure.read_bytes()
        if png.startswith(PNG_SIGNATURE):
            section.parts.append(Figure(png, f"scores and held-out accuracy against dimension ({figure})"))
    else:
        section.parts.append(Text(f"no scores.png of facies select in {folder}"))
    return section
