"""What the GLCM texture measures are, shared by the NumPy and CUDA backends: window, directions, quantisation,
and the integer tables that make both backends compute every measure bit for bit alike.

Definition (Haralick et al. 1973, in 3D as Gao 2003):

1. **Quantise**: a finite amplitude ``x`` on a live trace gets the level
   ``clamp(floor((x - low) * s), 0, L - 1)`` with ``s = L / (high - low)`` (float64, in that order), so values
   below ``low`` share level 0 and values from ``high`` up level ``L - 1``. NaN, +-inf, dead traces and voxels
   outside the volume have no level (*invalid*).
2. **Count**: around each voxel, a window of ``window`` voxels (inline, crossline, sample; odd sizes, centred).
   A *pair* is two voxels ``p`` and ``p + o`` for an offset ``o`` of the chosen set, *both* inside the window and
   both valid. The window's co-occurrence matrix counts every pair both ways (symmetric):
   ``C[i, j] = #pairs (i, j) + #pairs (j, i)``, summed over all offsets (one pooled matrix, not one per
   direction). ``N = sum C = 2 n``, with ``n`` the number of pairs; ``P = C / N``.
3. **Measures**: contrast ``sum P (i-j)^2``; homogeneity ``sum P / (1 + (i-j)^2)`` (the inverse difference
   moment); energy ``sum P^2`` (Haralick's angular second moment; scikit-image's ``"ASM"``, whose
   ``"energy"`` is its square root); entropy ``-sum P ln P`` (nats). A voxel that is itself invalid, or whose
   window holds no pair, gets NaN for all four.

Exactness. Every sum is of integers, so its order does not matter (bricks, tiles and GPU threads all agree):
``n``, ``sum d^2`` (contrast), ``sum C^2`` (energy), and two fixed-point sums with 2^-32 units:
homogeneity ``sum round(2^32 / (1 + d^2))`` over pairs, and entropy ``sum C ln C`` from the table
``round(2^32 c ln c)`` (:func:`entropy_table`, made once on the host with NumPy's ``log`` and handed to the GPU).
Each measure is then one float64 division of exact integers, rounded once to float32: NumPy and CUDA give the
same bits. The fixed point costs at most 2^-33 absolute in homogeneity and ``2^-33 * cells / N`` in entropy,
far below float32's resolution. Counts per window are bounded by :data:`MAX_PAIRS` (16-bit counters on the
GPU; the float64 sums of the NumPy backend stay exact below 2^53).
"""

from __future__ import annotations

import itertools
import math
import numbers
from functools import lru_cache

import numpy as np

#: The four measures, in the order every backend returns them (axis 0 of the result).
MEASURES = ("contrast", "homogeneity", "energy", "entropy")
#: Named offset sets (unit directions; :func:`offsets_for` scales them by the distance). Each direction stands
#: for itself and its opposite (the matrix is symmetric), written with its first non-zero component positive.
DIRECTIONS: dict[str, tuple[tuple[int, int, int], ...]] = {
    # The 13 directions of a voxel's 26 neighbours (Gao 2003's 3D co-occurrence): texture in every orientation.
    "all": tuple((a, b, c) for a, b, c in itertools.product((-1, 0, 1), repeat=3) if (a, b, c) > (0, 0, 0)),
    # 0, 45, 90 and 135 degrees in a time slice: the classic 2D GLCM of map views (scikit-image's 4 angles).
    "lateral": ((0, 1, 0), (1, -1, 0), (1, 0, 0), (1, 1, 0)),
    # Inline, crossline and sample only: the cheapest set, blind to diagonal fabric.
    "axes": ((0, 0, 1), (0, 1, 0), (1, 0, 0)),
}
#: Levels the quantisation may use (the GPU histogram holds L(L+1)/2 16-bit counters per thread).
MIN_LEVELS, MAX_LEVELS = 2, 32
#: Most pairs one window may hold (the GPU's 16-bit counters; :func:`pair_count`).
MAX_PAIRS = 65535
#: Most offsets in one set.
MAX_OFFSETS = 64
#: Fixed-point unit of the homogeneity weights and the entropy table: 2^-32.
FIXED_SCALE = float(2**32)


def check_levels(levels) -> int:
    """``levels`` as an int in ``[MIN_LEVELS, MAX_LEVELS]``, or ValueError."""
    integral = isinstance(levels, numbers.Integral) and not isinstance(levels, bool)
    if not integral or not MIN_LEVELS <= int(levels) <= MAX_LEVELS:
        raise ValueError(f"levels must be an integer from {MIN_LEVELS} to {MAX_LEVELS}, got {levels!r}")
    return int(levels)


def normalise_window(window) -> tuple[int, int, int]:
    """``window`` (one odd int, or three: inline, crossline, samples) as 3 odd ints >= 1, or ValueError."""
    values = (window,) * 3 if isinstance(window, numbers.Integral) else tuple(window)
    if len(values) != 3 or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) and int(w) >= 1
                                   and int(w) % 2 == 1 for w in values):
        raise ValueError(f"window must be 3 odd sizes >= 1 (inline traces, crossline traces, samples), got {window!r}")
    return tuple(int(w) for w in values)  # type: ignore[return-value]


def glcm_halo(window) -> tuple[int, int, int]:
    """Voxels the window reaches on each side of its centre, per axis: the halo a brick needs."""
    return tuple((w - 1) // 2 for w in normalise_window(window))  # type: ignore[return-value]


def canonical(offset) -> tuple[int, int, int]:
    """The offset or its opposite, whichever has its first non-zero component positive (they count the same pairs)."""
    o = tuple(int(v) for v in offset)
    return o if o > (0, 0, 0) else tuple(-v for v in o)  # type: ignore[return-value]


def normalise_offsets(offsets) -> tuple[tuple[int, int, int], ...]:
    """Offsets as canonical 3-int tuples (:func:`canonical`), in the order given, or ValueError.

    Refused: an empty set, more than :data:`MAX_OFFSETS`, an offset that is not 3 integers, the zero offset, and
    two offsets that are equal or opposite (the same pairs would count twice).
    """
    items = list(offsets)
    if not 1 <= len(items) <= MAX_OFFSETS:
        raise ValueError(f"give 1 to {MAX_OFFSETS} offsets, got {len(items)}")
    out: list[tuple[int, int, int]] = []
    for item in items:
        o = tuple(item)
        if len(o) != 3 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in o):
            raise ValueError(f"an offset is 3 integers (inline, crossline, sample), got {item!r}")
        if not any(o):
            raise ValueError("the offset (0, 0, 0) pairs a voxel with itself; remove it")
        c = canonical(o)
        if c in out:
            raise ValueError(f"offset {tuple(item)} repeats {c} (opposite offsets count the same pairs)")
        out.append(c)
    return tuple(out)


def offsets_for(directions: str, distance: int = 1) -> tuple[tuple[int, int, int], ...]:
    """The offsets of a named direction set (:data:`DIRECTIONS`) at ``distance`` voxels (per axis), or ValueError."""
    if directions not in DIRECTIONS:
        raise ValueError(f"directions must be one of {', '.join(DIRECTIONS)}, got {directions!r}")
    if not isinstance(distance, numbers.Integral) or isinstance(distance, bool) or distance < 1:
        raise ValueError(f"distance must be an integer >= 1, got {distance!r}")
    d = int(distance)
    return tuple((d * a, d * b, d * c) for a, b, c in DIRECTIONS[directions])


def pair_count(window, offsets) -> int:
    """Pairs a window of ``window`` voxels holds when all are valid: ``sum over o of prod (w - |o|)^+``."""
    window = normalise_window(window)
    return sum(math.prod(max(0, w - abs(v)) for w, v in zip(window, o)) for o in offsets)


def check_pairs(window, offsets) -> int:
    """:func:`pair_count`, or ValueError when the window holds no pair at all or more than :data:`MAX_PAIRS`."""
    n = pair_count(window, offsets)
    if n == 0:
        raise ValueError(f"no offset fits inside the window {tuple(window)}: use a larger window or a shorter distance")
    if n > MAX_PAIRS:
        raise ValueError(f"a window of {'x'.join(map(str, window))} voxels holds {n} pairs over {len(offsets)} offsets,"
                         f" more than {MAX_PAIRS}: use a smaller window or fewer directions")
    return n


def quantisation(levels: int, value_range) -> tuple[float, float]:
    """``(low, scale)`` of the quantisation: level = ``floor((x - low) * scale)``, clamped; or ValueError."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be (low, high), got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    scale = levels / (high - low)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"value_range {value_range!r} is too narrow or too wide to quantise")
    return low, scale


def n_codes(levels: int) -> int:
    """Unordered level pairs ``(i <= j)``: the cells of the symmetric matrix a histogram needs."""
    return levels * (levels + 1) // 2


def pair_code(i: int, j: int, levels: int) -> int:
    """The code of the unordered level pair ``{i, j}``: the ``L`` diagonal pairs first (``{i, i}`` is ``i``), then
    the off-diagonal ones row by row of the upper triangle (the formula glcm.cu uses)."""
    lo, hi = min(i, j), max(i, j)
    return lo if lo == hi else levels + lo * (2 * levels - lo - 1) // 2 + (hi - lo - 1)


@lru_cache(maxsize=None)
def code_table(levels: int) -> np.ndarray:
    """``(L, L)`` intp: :func:`pair_code` of every ordered pair of levels."""
    table = np.array([[pair_code(i, j, levels) for j in range(levels)] for i in range(levels)], dtype=np.intp)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=None)
def code_levels(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` of every code (:func:`pair_code`), ``i <= j``, as int64 arrays of :func:`n_codes` values."""
    pairs = sorted(((i, j) for i in range(levels) for j in range(i, levels)),
                   key=lambda p: pair_code(p[0], p[1], levels))
    i, j = (np.array(v, dtype=np.int64) for v in zip(*pairs))
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


@lru_cache(maxsize=None)
def homogeneity_weights(levels: int) -> np.ndarray:
    """int64 ``round(2^32 / (1 + d^2))`` for ``d = 0 .. L-1``: a pair's share of the homogeneity sum."""
    d = np.arange(levels, dtype=np.float64)
    w = np.rint(FIXED_SCALE / (1.0 + d * d)).astype(np.int64)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=8)
def entropy_table(max_pairs: int) -> np.ndarray:
    """int64 ``round(2^32 c ln c)`` for ``c = 0 .. 2 max_pairs`` (every cell count and ``N`` a window can have).

    Made with NumPy's ``log`` on the host and used by both backends, so they agree bit for bit; another
    machine whose ``log`` differs in the last ulp may round a rare entry the other way (2^-32 of c ln c).
    """
    c = np.arange(2 * int(max_pairs) + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(c > 0, c * np.log(np.where(c > 0, c, 1.0)), 0.0)
    table = np.rint(t * FIXED_SCALE).astype(np.int64)
    table.setflags(write=False)
    return table
