"""Window geometry of the 3D Kuwahara filter, shared by every backend.

A *box* is an axis-aligned block of ``box_shape`` voxels identified by its start corner ``s``
(the voxel with the smallest indices). Every candidate window of voxel ``p`` is the box that
starts at ``p + o`` for one offset ``o`` of :func:`window_offsets`; the list order is the
tie-breaking order of the filter (the first window of smallest variance wins).

- ``mode="octant"``: box ``(r_il+1, r_xl+1, r_t+1)``; per axis the offset is ``-r`` (the half
  towards smaller indices) or ``0`` (towards larger indices). 8 windows, p at a corner.
- ``mode="shifted"``: box ``(2a_il+1, 2a_xl+1, 2a_t+1)``; per axis every offset ``-2a .. 0``:
  every box of that size that contains p.

Offsets are listed lexicographically over (inline, crossline, sample), most negative first.
Boxes are clipped at the array edge, so box starts run from ``-(B-1)`` to ``n-1`` per axis.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

MODES = ("octant", "shifted")
STATS = ("mean", "median")
#: Most voxels a window may hold. The NumPy backend counts a box's valid voxels, and numbers a
#: voxel's candidate windows (as many as a box holds voxels in shifted mode), in 16-bit integers:
#: octant r <= 39 and shifted a <= 19 when the radius is the same on every axis.
MAX_BOX_VOXELS = 65_535


def normalise_radius(radius) -> tuple[int, int, int]:
    """``radius`` as three non-negative ints (inline, crossline, sample).

    Raises
    ------
    ValueError
        When it is not an int or a sequence of three ints, or when one is negative.
    """
    values = (radius,) * 3 if isinstance(radius, numbers.Integral) else tuple(radius) \
        if isinstance(radius, (tuple, list)) else None
    if values is None or len(values) != 3 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise ValueError(f"radius must be an int or three ints (inline, crossline, sample), got {radius!r}")
    if any(v < 0 for v in values):
        raise ValueError(f"radius must be >= 0 along every axis, got {radius!r}")
    return int(values[0]), int(values[1]), int(values[2])


def valid_voxels(volume: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Which voxels the filter uses: finite and not on a dead trace (``mask`` False), as a bool array."""
    valid = np.isfinite(volume)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[:, :, None]
    return valid


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown Kuwahara mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def check_stat(stat: str) -> str:
    if stat not in STATS:
        raise ValueError(f"unknown Kuwahara statistic {stat!r}: use one of {', '.join(STATS)}")
    return stat


def check_box_size(radius: tuple[int, int, int], mode: str) -> tuple[int, int, int]:
    """``radius`` unchanged, or ValueError when its windows hold more than :data:`MAX_BOX_VOXELS` voxels."""
    size = box_shape(radius, mode)
    voxels = math.prod(size)
    if voxels > MAX_BOX_VOXELS:
        raise ValueError(f"radius {','.join(map(str, radius))} makes {mode} windows of {voxels:,} voxels "
                         f"({' x '.join(map(str, size))}); at most {MAX_BOX_VOXELS:,} are supported "
                         f"(octant r <= 39, shifted a <= 19 on every axis): use a smaller radius")
    return radius


def box_shape(radius: tuple[int, int, int], mode: str) -> tuple[int, int, int]:
    """Size of every candidate window along (inline, crossline, sample)."""
    ri, rx, rs = (r + 1 if mode == "octant" else 2 * r + 1 for r in radius)
    return ri, rx, rs


def axis_offsets(r: int, mode: str) -> tuple[int, ...]:
    """Start offsets of the candidate windows along one axis, in tie-breaking order."""
    if mode == "octant":
        return (-r, 0)
    return tuple(range(-2 * r, 1))


def window_offsets(radius: tuple[int, int, int], mode: str) -> list[tuple[int, int, int]]:
    """Start offsets of every candidate window relative to p, in tie-breaking order."""
    ri, rx, rs = radius
    return list(itertools.product(axis_offsets(ri, mode), axis_offsets(rx, mode), axis_offsets(rs, mode)))


def kuwahara_halo(radius, mode: str = "octant") -> tuple[int, int, int]:
    """How far the windows of a voxel reach along each axis: the halo a brick needs.

    ``r`` per axis in octant mode, ``2a`` in shifted mode (a window of half-width ``a`` that
    contains p can end ``2a`` voxels away from it).
    """
    radius = normalise_radius(radius)
    return tuple(r if check_mode(mode) == "octant" else 2 * r for r in radius)


def normalise_region(region, shape) -> tuple[tuple[int, int], ...]:
    """``region`` of a volume of ``shape`` as ``(start, stop)`` per axis; None is the whole volume.

    Per axis a ``slice`` (step 1; None and negative bounds as in indexing, clipped to the volume)
    or a pair of ints ``(start, stop)`` with ``0 <= start <= stop <= n``. An empty region
    (``start == stop``) is allowed: it computes nothing.

    Raises
    ------
    ValueError
        Not one item per axis, a slice with a step other than 1, a pair that is not two ints
        inside the volume in order.
    """
    if region is None:
        return tuple((0, int(n)) for n in shape)
    items = tuple(region) if isinstance(region, (tuple, list)) else None
    if items is None or len(items) != len(shape):
        raise ValueError(f"out_region must give one slice or (start, stop) per axis ({len(shape)} axes), "
                         f"got {region!r}")
    bounds = []
    for axis, (item, n) in enumerate(zip(items, shape)):
        if isinstance(item, slice):
            start, stop, step = item.indices(int(n))
            if step != 1:
                raise ValueError(f"out_region slice {item!r} on axis {axis} must have step 1")
            bounds.append((start, max(start, stop)))
            continue
        pair = tuple(item) if isinstance(item, (tuple, list)) else ()
        if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair) \
                or not 0 <= pair[0] <= pair[1] <= n:
            raise ValueError(f"out_region on axis {axis} must be a slice or (start, stop) with "
                             f"0 <= start <= stop <= {n}, got {item!r}")
        bounds.append((int(pair[0]), int(pair[1])))
    return tuple(bounds)
