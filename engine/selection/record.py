"""The record of the latest attribute selection kept in a survey store: written here, read here.

``facies select STORE --training NAME`` records its overall best combination under the group
attribute :data:`~facies.engine.schema.SELECTION_KEY` (``"selection"``), flat::

    {"attributes": ["envelope", "similarity"], "score": 3.2, "out": "/abs/out",
     "training": "picks", "select_by": "score"}

:func:`selected_attributes` reads ``attributes`` back (the forest trains on them by default:
:mod:`facies.engine.forest.attributes`). The write goes through
:meth:`~facies.engine.store.Survey.update_attrs`, so a command finishing later in another process
does not erase it; reads go through :meth:`~facies.engine.store.Survey.attrs`. A selection that ends
without a result empties the record (:func:`clear_selection`): the previous best is no longer the
latest selection's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.schema import SELECTION_KEY  # the key of the record; stays importable from here

#: Fields of the record besides ``attributes``; anything else given is dropped.
_FIELDS = ("score", "out", "training", "select_by")


def record_selection(survey, fields: Mapping[str, Any]) -> dict:
    """Record the best combination of an attribute selection in ``survey``, replacing the previous record.

    Parameters
    ----------
    survey : Survey
        The store the training table came from.
    fields : mapping
        ``{"attributes": [...], "score": ..., "out": ..., "training": ..., "select_by": ...}``;
        only ``attributes`` is required, other keys are dropped.

    Returns
    -------
    dict
        The record written.

    Raises
    ------
    FaciesError
        If there is no best combination to record.
    """
    names = fields.get("attributes")
    if not names:
        raise FaciesError("attribute selection found no valid combination; nothing to record in the store")
    record = {"attributes": [str(n) for n in names],
              **{k: fields[k] for k in _FIELDS if fields.get(k) is not None}}
    if "score" in record:
        record["score"] = float(record["score"])
    return survey.update_attrs(SELECTION_KEY, lambda _previous: record)


def clear_selection(survey) -> bool:
    """Forget the recorded selection: a later selection in ``survey`` ended without a result.

    The record would otherwise stand as the latest selection and ``facies rf`` would train on it.
    The attribute is emptied (``{}``, read as no record), not rewritten when already absent or empty.

    Returns
    -------
    bool
        Whether there was a record to forget.
    """
    if not survey.attrs(SELECTION_KEY):
        return False
    survey.update_attrs(SELECTION_KEY, lambda _previous: {})
    return True


def selected_attributes(survey) -> list[str] | None:
    """The best combination recorded by the latest attribute selection in ``survey``, or None (no record)."""
    if survey is None:
        return None
    record = survey.attrs(SELECTION_KEY)
    names = record.get("attributes") if isinstance(record, dict) else None
    return [str(n) for n in names] if names else None
