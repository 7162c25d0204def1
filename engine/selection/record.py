"""The record of the latest attribute selection kept in a survey store.

``facies select STORE --training NAME`` records its overall best combination under the group
attribute :data:`SELECTION_KEY`, flat::

    {"attributes": ["envelope", "similarity"], "score": 3.2, "out": "/abs/out",
     "training": "picks", "select_by": "score"}

:mod:`facies.engine.forest.attributes` reads ``attributes`` from it to choose what a forest
trains on by default. The write goes through :meth:`~facies.engine.store.Survey.update_attrs`,
so a command finishing later in another process does not erase it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.errors import FaciesError

#: Key of the survey group attribute holding the latest attribute selection.
SELECTION_KEY = "selection"
#: Fields of the record besides ``attributes``; anything else given is dropped.
_FIELDS = ("score", "out", "training", "select_by")


def record_selection(survey, summary_or_fields: Mapping[str, Any]) -> dict:
    """Record the best combination of an attribute selection in ``survey``, replacing the previous record.

    Parameters
    ----------
    survey : Survey
        The store the training table came from.
    summary_or_fields : mapping
        Either the selection summary (``summary.json``: ``{"best": {"attributes": [...], "score": ...},
        "select_by": ...}``) or the flat fields ``{"attributes": [...], "score": ..., "out": ...,
        "training": ..., "select_by": ...}``; flat fields win over the summary's.

    Returns
    -------
    dict
        The record written.

    Raises
    ------
    FaciesError
        If there is no best combination to record.
    """
    given = dict(summary_or_fields)
    if "best" in given:  # a summary: its "attributes" lists every candidate, "best" the combination chosen
        best = dict(given.pop("best") or {})
        given.pop("attributes", None)
        fields = {**best, **given}
    else:
        fields = given
    names = fields.get("attributes")
    if not names:
        raise FaciesError("attribute selection found no valid combination; nothing to record in the store")
    record = {"attributes": [str(n) for n in names],
              **{k: fields[k] for k in _FIELDS if fields.get(k) is not None}}
    if record.get("score") is not None:
        record["score"] = float(record["score"])
    return survey.update_attrs(SELECTION_KEY, lambda _previous: record)
