"""The report's accuracy section: every facies volume against the survey's known facies (``truth``).

Scored as ``facies rf evaluate`` and ``facies gtm evaluate`` score it
(:func:`~facies.engine.forest.evaluate.evaluate_classes`): only voxels farther than ``min_distance`` from the
training voxels count.
"""

from __future__ import annotations

from facies.engine.errors import FaciesError
from facies.engine.forest.evaluate import evaluate_classes
from facies.engine.report.document import Section, Table, Text, number
from facies.engine.report.model_sections import StoredModel


def accuracy_section(survey, models: list[StoredModel], *, labels: str = "truth", training: str = "picks",
                     min_distance: float = 3.0) -> Section:
    """Held-out accuracy and recall per facies of each model's ``facies_<model>`` against ``labels``."""
    section = Section("accuracy", f"Accuracy against {labels}")
    if labels not in survey.volumes(kind="label"):
        section.absent = (f"no label volume {labels!r} in this store to compare with: the true facies are known "
                          "only for a synthetic survey (facies synth)")
        return section
    complete = set(survey.volumes())
    scored = [m for m in models if m.classes in complete]
    if not scored:
        section.absent = "no facies volume in this store to score: run facies rf predict or facies gtm project"
        return section
    rows, facies = [], []
    for stored in scored:
        try:
            score = evaluate_classes(survey, stored.classes, labels=labels, training=training,
                                     min_distance=min_distance)
        except FaciesError as exc:
            section.parts.append(Text(f"{stored.classes}: not scored: {exc}"))
            continue
        facies += [f for f in score["recall"] if f not in facies]
        rows.append((stored, score))
    if rows:
        section.parts.append(Table(
            ["volume", "model", "accuracy", "voxels counted", *(f"recall {f}" for f in facies)],
            [[s.classes, f"{s.kind} {s.name}", number(score["accuracy"]), str(score["voxels"]),
              *(number(score["recall"].get(f)) for f in facies)] for s, score in rows],
            caption=f"voxels farther than {min_distance:g} voxels from the training voxels of {training!r}"))
    return section
