"""Which attributes a forest trains on: the user's list, else attribute selection's best, else all."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from facies.engine.errors import FaciesError
from facies.engine.selection.record import selected_attributes

log = logging.getLogger("facies")


def choose_attributes(table, survey=None, requested: Sequence[str] | None = None) -> tuple[list[str], str]:
    """The attributes to train on and where the choice came from.

    Parameters
    ----------
    table : TrainingTable
    survey : Survey, optional
        Consulted for the attribute-selection result.
    requested : sequence of str, optional
        The user's list (``--attributes A,B``); wins over everything.

    Returns
    -------
    (list of str, str)
        Attribute names in order, and ``"user"``, ``"selection"`` or ``"all"``.
    """
    have = table.attribute_names
    if requested:
        names, source = [str(n).strip() for n in requested if str(n).strip()], "user"
    else:
        selected = selected_attributes(survey)
        names, source = (selected, "selection") if selected is not None else (list(have), "all")
    if len(set(names)) != len(names):
        raise FaciesError(f"attribute list {','.join(names)} names an attribute twice")
    missing = [n for n in names if n not in have]
    if missing:
        where = "attribute selection chose" if source == "selection" else "asked for"
        raise FaciesError(f"{where} {', '.join(missing)} but the training table has only {', '.join(have)}; "
                          "re-extract the table with those attributes or pass --attributes")
    if source == "selection":
        log.info("attributes from the latest attribute selection: %s", ", ".join(names))
    return names, source
