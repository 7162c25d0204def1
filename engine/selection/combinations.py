"""Attribute combinations: all non-empty subsets, those of some dimensions, or a user list."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from facies.engine.errors import FaciesError


def parse_dims(text: str | None, n_attributes: int) -> list[int]:
    """``"1-9"``, ``"3"``, ``"2,4-5"`` or None (all) -> sorted dimensions within 1..N."""
    if not text:
        return list(range(1, n_attributes + 1))
    dims: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            dims.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise FaciesError(f"--dims {text!r} is not like '1-9' or '2,4-5'") from None
    out = sorted(d for d in dims if 1 <= d <= n_attributes)
    if not out:
        raise FaciesError(f"--dims {text!r} selects no dimension between 1 and {n_attributes}")
    return out


def combinations_of(n_attributes: int, dim: int) -> np.ndarray:
    """All combinations of ``dim`` of ``n_attributes`` attributes, lexicographic: (C, dim) int."""
    return np.array(list(combinations(range(n_attributes), dim)), dtype=np.intp).reshape(-1, dim)


def bitmask(combination) -> int:
    """The combination as a bit mask (bit i = attribute i): its identity in random streams."""
    return int(sum(1 << int(i) for i in combination))


def combinations_from_names(combinations, names) -> dict[int, np.ndarray]:
    """User combinations (lists of attribute names) as index arrays grouped by dimension.

    Raises
    ------
    FaciesError
        An unknown attribute name (naming the known ones), or an empty combination.
    """
    index = {a: i for i, a in enumerate(names)}
    groups: dict[int, list] = {}
    for combo in combinations:
        combo = [combo] if isinstance(combo, str) else list(combo)  # a bare name: a one-attribute combination
        unknown = [a for a in combo if a not in index]
        if unknown:
            raise FaciesError(f"unknown attribute(s) {', '.join(map(repr, unknown))} in combination "
                              f"{'+'.join(map(str, combo))}; known: {', '.join(names)}")
        ids = sorted({index[a] for a in combo})
        if not ids:
            raise FaciesError("an attribute combination is empty; give at least one attribute name")
        groups.setdefault(len(ids), []).append(ids)
    return {dim: np.array(c, dtype=np.intp) for dim, c in sorted(groups.items())}
