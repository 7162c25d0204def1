"""``facies report`` as one engine call: check the target, collect the sections, write the page whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.paths import written_then_moved
from facies.engine.report.accuracy_section import accuracy_section
from facies.engine.report.document import Section, Text
from facies.engine.report.model_sections import facies_section, forest_section, gtm_section, stored_models
from facies.engine.report.page import render_page
from facies.engine.report.selection_section import check_selection_folder, selection_section
from facies.engine.report.slices import choose_positions, load_overlay
from facies.engine.report.survey_sections import amplitude_section, survey_section
from facies.engine.report.target import check_out_file
from facies.engine.training import TrainingTable
from facies.engine.training.table import list_tables


@dataclass
class ReportResult:
    """The page written, its size, and its sections (each present or saying why it is absent)."""

    path: Path
    size: int
    sections: list[Section] = field(default_factory=list)


def write_report(survey, out, *, overwrite: bool = False, selection=None, inline: float | None = None,
                 crossline: float | None = None, sample: float | None = None, labels: str = "truth",
                 training: str = "picks") -> ReportResult:
    """Write one self-contained HTML page of ``survey``'s results to ``out``.

    Parameters
    ----------
    survey : Survey
        The store (opened read-only is enough).
    out : path-like
        The HTML file; refused inside a survey store, and when it exists unless facies report wrote it and
        ``overwrite`` is given (:func:`~facies.engine.report.target.check_out_file`).
    overwrite : bool
        Replace a page an earlier ``facies report`` wrote.
    selection : path-like, optional
        A ``facies select --out`` folder (default: the one the store's selection record names).
    inline, crossline, sample : float, optional
        The slices to show (line numbers, time or depth); default: where most training polygons lie, else
        the middle of the survey.
    labels : str
        The label volume of known facies to score against (``truth`` on the synthetic survey).
    training : str
        The training table (its voxels are left out of the accuracy, and drawn when there is no polygon file).

    Raises
    ------
    FaciesError
        A refused ``out``, a slice off the survey's grid, a ``selection`` that is no selection folder.
    """
    out = check_out_file(out, overwrite=overwrite)
    folder = check_selection_folder(selection) if selection is not None else None
    table, table_note = None, None
    if training in list_tables(survey):
        try:
            table = TrainingTable.load(survey, training)
        except FaciesError as exc:
            table_note = f"training table {training!r} could not be read: {exc}"
    overlay, overlay_note = load_overlay(survey, table, training=training)
    positions = choose_positions(survey.geometry, overlay, {"inline": inline, "crossline": crossline,
                                                            "sample": sample})
    models = stored_models(survey)
    sections = [survey_section(survey), amplitude_section(survey, positions, overlay),
                facies_section(survey, models, positions, overlay), forest_section(survey, models),
                gtm_section(survey, models, positions["sample"]), selection_section(survey, folder),
                accuracy_section(survey, models, labels=labels, training=training)]
    for note in (table_note, overlay_note):
        if note is not None:
            sections[1].parts.insert(0, Text(note))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = render_page(f"facies report: {Path(survey.path).name}", f"{survey.path}, written {now}", sections,
                       f"written by facies report at {now}; training data drawn: {overlay.source}")
    data = page.encode("utf-8")
    out = check_out_file(out, overwrite=overwrite)  # again: something may have appeared there while drawing
    written_then_moved(out, lambda tmp: tmp.write_bytes(data))
    return ReportResult(out, len(data), sections)

