"""Every attribute facies computes, by name: the ``SPECS`` of the family modules gathered in one place."""

from __future__ import annotations

import importlib
from functools import cache

from facies.engine.attributes.spec import AttributeSpec
from facies.engine.errors import FaciesError

#: The family modules of this package, in the order ``facies attributes --list`` shows them.
FAMILIES = ("complex_trace", "windowed", "spectral", "structure", "coherence", "texture")


@cache
def all_specs() -> dict[str, AttributeSpec]:
    """Every attribute's spec by name, families in :data:`FAMILIES` order.

    Raises
    ------
    RuntimeError
        When two families declare the same attribute name (a programming error, not the user's).
    """
    specs: dict[str, AttributeSpec] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"facies.engine.attributes.{family}")
        for spec in module.SPECS:
            if spec.name in specs:
                raise RuntimeError(f"attribute {spec.name!r} is declared twice "
                                   f"({family} and {specs[spec.name].family})")
            specs[spec.name] = spec
    return specs


def attribute_spec(name: str) -> AttributeSpec:
    """The spec of attribute ``name``.

    Raises
    ------
    FaciesError
        An unknown name, with the known ones (``facies attributes --list`` describes them).
    """
    specs = all_specs()
    if name not in specs:
        raise FaciesError(f"unknown attribute {name!r}; known: {', '.join(specs)} (facies attributes --list)")
    return specs[name]
