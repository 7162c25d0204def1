"""Parsing of option values shared by several commands (comma lists of integers)."""

from __future__ import annotations

from collections.abc import Collection

from facies.engine.errors import FaciesError


def int_tuple(text: str | None, option: str, *, lengths: Collection[int] | None = None,
              example: str = "128,128,128") -> tuple[int, ...] | None:
    """``"64,64,128"`` -> ``(64, 64, 128)``; None stays None.

    Parameters
    ----------
    text : str or None
        The option's value.
    option : str
        Its name, for the error message (``"--chunks"``).
    lengths : collection of int, optional
        Allowed numbers of values (any when None).
    example : str
        A valid value, shown in the error message.

    Raises
    ------
    FaciesError
        When a value is not a positive integer or their number is not allowed.
    """
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1 or (lengths is not None and len(values) not in lengths):
        count = "" if lengths is None else " " + " or ".join(str(n) for n in sorted(lengths))
        raise FaciesError(f"{option} must be{count} comma-separated positive integers, e.g. {option} {example}, "
                          f"not {text!r}")
    return values
