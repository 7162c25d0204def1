"""Which attribute volumes a GTM is fitted on: the user's list, a selection folder's best, or the store's.

In that order: ``--attributes A,B``; ``--selection DIR`` (a ``facies select --out`` folder: the best
combination of its ``summary.json``); else the best combination the latest ``facies select`` recorded
in the store (:func:`~facies.engine.selection.record.selected_attributes`). A selected attribute is
replaced by its Kuwahara-filtered version (``<name>_kuw``) when that is a complete volume of the
store or a virtual array (computed on the fly). Every chosen attribute must be a complete or virtual volume.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.selection.record import selected_attributes
from facies.engine.selection.results import OUTPUT_FILES, written_by_select

#: Suffix of the Kuwahara-filtered version of an attribute (``facies filter kuwahara``'s default output).
FILTERED_SUFFIX = "_kuw"


@dataclass
class AttributeChoice:
    """The attributes to fit on, and where they came from, in words (printed by the CLI)."""

    names: list[str]
    source: str
    reason: str


def selection_folder_best(folder) -> list[str]:
    """The best combination of a ``facies select --out`` folder (its ``summary.json``).

    Raises
    ------
    FaciesError
        No ``summary.json`` there, one facies select did not write, or one without a best combination.
    """
    path = Path(folder) / OUTPUT_FILES["summary"]
    if not Path(folder).is_dir():
        raise FaciesError(f"--selection {folder} is not a folder; give the --out folder of a facies select run")
    if not written_by_select(path, "summary"):
        raise FaciesError(f"--selection {folder} holds no summary.json written by facies select; "
                          "give the --out folder of a finished facies select run")
    best = json.loads(path.read_bytes()).get("best")
    names = best.get("attributes") if isinstance(best, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise FaciesError(f"the selection in {folder} has no best combination; pass --attributes instead")
    return list(names)


def choose_attributes(survey, *, requested=None, selection=None) -> AttributeChoice:
    """The complete attribute volumes a GTM is fitted on (see the module docstring).

    Raises
    ------
    FaciesError
        Both ``requested`` and ``selection``; nothing to go by; an attribute named twice; one that is
        not a complete volume of the survey.
    """
    if requested is not None and selection is not None:
        raise FaciesError("give either --attributes or --selection, not both")
    if requested is not None:
        names = [str(n).strip() for n in requested if str(n).strip()]
        if not names:
            raise FaciesError("--attributes names no attribute; give a comma-separated list such as "
                              "--attributes envelope_kuw,similarity_kuw")
        choice = AttributeChoice(names, "user", "given with --attributes")
    elif selection is not None:
        choice = _filtered(survey, selection_folder_best(selection), "selection",
                           f"the best combination of the selection in {selection}")
    else:
        recorded = selected_attributes(survey)
        if recorded is None:
            raise FaciesError(f"survey {survey.path} records no attribute selection; run 'facies select' first, "
                              "or pass --attributes A,B or --selection DIR")
        choice = _filtered(survey, recorded, "store", "the best combination of the latest facies select on this store")
    if len(set(choice.names)) != len(choice.names):
        raise FaciesError(f"attribute list {','.join(choice.names)} names an attribute twice")
    check_complete(survey, choice.names)
    return choice


def _filtered(survey, names: list[str], source: str, reason: str) -> AttributeChoice:
    """``names`` with each replaced by its ``_kuw`` version where that is a complete volume."""
    complete = set(survey.volumes(include_virtual=True))
    chosen = [f"{n}{FILTERED_SUFFIX}" if not n.endswith(FILTERED_SUFFIX) and f"{n}{FILTERED_SUFFIX}" in complete
              else n for n in names]
    if chosen != names:
        reason += f" ({', '.join(a for a, b in zip(chosen, names) if a != b)}: the Kuwahara-filtered versions)"
    return AttributeChoice(chosen, source, reason)


def check_complete(survey, names) -> None:
    """Raise FaciesError unless every name is a complete 3D volume of the survey (missing, incomplete named)."""
    complete = set(survey.volumes(include_virtual=True))  # a virtual array is computed where it is read
    every = set(survey.volumes(include_incomplete=True, include_virtual=True))
    incomplete = [n for n in names if n in every and n not in complete]
    if incomplete:
        raise FaciesError(f"attribute {incomplete[0]!r} in {survey.path} is incomplete (an interrupted run); "
                          "resume or re-run the command that makes it")
    missing = [n for n in names if n not in complete]
    if missing:
        have = ", ".join(survey.attributes(include_virtual=True)) or "none"
        raise FaciesError(f"survey {survey.path} has no volume {', '.join(repr(m) for m in missing)} "
                          f"(attributes: {have})")
