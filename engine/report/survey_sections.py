"""The report's first two sections: the survey (geometry, arrays and their provenance), and its amplitude."""

from __future__ import annotations

from datetime import datetime

from facies.engine.errors import FaciesError
from facies.engine.info import describe
from facies.engine.progress import human_rate
from facies.engine.report.document import Figure, Section, Table, Text, number
from facies.engine.report.slices import Overlay, SlicePosition, amplitude_figure

#: The volume shown as the survey's seismic, in this order of preference.
AMPLITUDE_NAMES = ("amplitude", "seismic")


def survey_section(survey) -> Section:
    """Geometry, sample axis, and every array with its kind, dtype, size and the command and time that made it."""
    rep = describe(survey, stats=False)  # statistics read every array: too slow for a page of pictures
    il, xl, s = rep["inline"], rep["crossline"], rep["sample"]
    section = Section("survey", "Survey")
    section.parts.append(Table(["", ""], [
        ["store", rep["path"]],
        ["shape", " x ".join(map(str, rep["shape"])) + f" ({', '.join(rep['dims'])})"],
        ["inline", f"{il['first']}..{il['last']} step {il['step']} ({il['count']})"],
        ["crossline", f"{xl['first']}..{xl['last']} step {xl['step']} ({xl['count']})"],
        [s["axis"], f"{s['first']:g}..{s['last']:g} {s['unit']} every {s['interval']:g} {s['unit']} ({s['count']})"],
        ["live traces", f"{rep['live_traces']} of {rep['total_traces']}"],
        ["on disk", human_rate(rep["disk_bytes"], "B")],
    ], caption="geometry"))
    rows = []
    for a in rep["arrays"]:
        made = survey.provenance(a["name"])
        rows.append([a["name"] + ("" if a["complete"] else " (incomplete)"), a["kind"], a["dtype"],
                     "x".join(map(str, a["chunks"])), human_rate(a["disk_bytes"], "B"), a["provenance"] or "",
                     _when(made.get("time"))])
    section.parts.append(Table(["array", "kind", "dtype", "chunks", "on disk", "made by", "when"], rows,
                               caption=f"{len(rows)} arrays"))
    for name, reason in rep["unreadable"].items():
        section.parts.append(Text(f"{name}: metadata unreadable ({reason}); run facies verify {rep['path']}"))
    for m in rep["gtm_models"]:
        section.parts.append(Text(f"GTM model {m['name']}: {m['grid']} x {m['grid']} nodes on "
                                  f"{', '.join(m['attributes'] or [])}; facies {', '.join(m['facies'] or [])}"))
    return section


def _when(value) -> str:
    """A provenance time as ``2024-05-01 12:30:00 UTC`` (kept as written when it is not ISO 8601)."""
    if not isinstance(value, str):
        return number(value) if isinstance(value, (int, float)) else ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return value


def amplitude_name(survey) -> str | None:
    """The volume to show as the seismic: ``amplitude`` (or ``seismic``), else the first attribute, else None."""
    volumes = survey.volumes()
    for name in AMPLITUDE_NAMES:
        if name in volumes:
            return name
    attributes = survey.volumes(kind="attribute")
    return attributes[0] if attributes else None


def amplitude_section(survey, positions: dict[str, SlicePosition], overlay: Overlay) -> Section:
    """Inline, crossline and time slices of the amplitude, the training polygons (or voxels) in yellow."""
    section = Section("amplitude", "Amplitude slices")
    name = amplitude_name(survey)
    if name is None:
        section.absent = ("no complete attribute volume in this store to show: ingest one with facies ingest "
                          "or make a synthetic survey with facies synth")
        return section
    try:
        png = amplitude_figure(survey, name, positions, overlay)
    except FaciesError as exc:
        section.absent = f"{name} could not be read: {exc}"
        return section
    g = survey.geometry
    where = ", ".join(p.label(g) for p in positions.values())
    section.parts.append(Figure(png, f"{name} on {where}; {overlay.source} in yellow"))
    return section
