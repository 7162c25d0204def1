"""Analysis windows of the coherence attributes: checks, halo, dip steering and tiles (both backends).

A window is ``(n_il, n_xl, n_t)``: odd numbers of inline traces, crossline traces and samples,
centred on the voxel. Dip steering moves each neighbour trace ``(a, b)`` (offsets from the centre
trace) by ``shift = p_il * a + p_xl * b`` samples, with the centre voxel's dips clipped to
``[-max_dip, max_dip]``; its sample at ``k + c + shift`` is linearly interpolated between samples
``floor`` and ``floor + 1`` (only sample ``floor`` when the shift is a whole number).
"""

from __future__ import annotations

import itertools
import math
from numbers import Integral, Real

#: Largest window along each lateral axis (traces) and along the samples.
MAX_TRACES = 15
MAX_SAMPLES = 255
#: Largest number of traces of an eigenstructure window: it solves one (traces x traces) eigenproblem per voxel.
MAX_EIGEN_TRACES = 49
#: Largest ``max_dip`` (samples per trace).
MAX_DIP_LIMIT = 10.0


def check_window(window, *, eigen: bool = False) -> tuple[int, int, int]:
    """``window`` as three odd positive ints with at least two traces, or ValueError saying what is wrong."""
    items = tuple(window) if isinstance(window, (tuple, list)) else (window,) * 3
    if len(items) != 3 or not all(isinstance(v, Integral) and not isinstance(v, bool) and int(v) >= 1 and int(v) % 2
                                  for v in items):
        raise ValueError(f"window must be 3 odd positive numbers (inline traces, crossline traces, samples), "
                         f"got {window!r}")
    n_il, n_xl, n_t = (int(v) for v in items)
    if max(n_il, n_xl) > MAX_TRACES or n_t > MAX_SAMPLES:
        raise ValueError(f"window {n_il},{n_xl},{n_t} is too large: at most {MAX_TRACES} traces per lateral axis "
                         f"and {MAX_SAMPLES} samples")
    if n_il * n_xl < 2:
        raise ValueError(f"window {n_il},{n_xl},{n_t} holds one trace: coherence compares at least two")
    if eigen and n_il * n_xl > MAX_EIGEN_TRACES:
        raise ValueError(f"window {n_il},{n_xl},{n_t} holds {n_il * n_xl} traces; eigenstructure coherence takes "
                         f"at most {MAX_EIGEN_TRACES}")
    return n_il, n_xl, n_t


def check_max_dip(max_dip) -> float:
    """``max_dip`` as a float in (0, :data:`MAX_DIP_LIMIT`], or ValueError."""
    if isinstance(max_dip, bool) or not isinstance(max_dip, Real) or not 0 < float(max_dip) <= MAX_DIP_LIMIT:
        raise ValueError(f"max_dip must be a number above 0 and at most {MAX_DIP_LIMIT:g} samples per trace, "
                         f"got {max_dip!r}")
    return float(max_dip)


def window_radii(window: tuple[int, int, int]) -> tuple[int, int, int]:
    """Half-widths ``n // 2`` per axis."""
    return tuple(n // 2 for n in window)  # type: ignore[return-value]


def coherence_halo(window, *, steered: bool = False, max_dip: float = 2.0) -> tuple[int, int, int]:
    """Voxels the window reaches on each side of every axis.

    Unsteered: the window's half-widths. Steered, the sample axis also reaches the largest shift,
    ``max_dip * (r_il + r_xl)`` rounded up (which covers both samples of an interpolation), plus one
    sample of guard: a shift that floating-point rounding takes a hair past that bound still finds
    its second sample inside the halo.
    """
    r_il, r_xl, r_t = window_radii(check_window(window))
    if steered:
        r_t += math.ceil(check_max_dip(max_dip) * (r_il + r_xl)) + 1
    return r_il, r_xl, r_t


def tiles(shape, max_voxels: int) -> list[tuple[tuple[int, int], ...]]:
    """Boxes that cover a region of ``shape``, each of at most ``max_voxels`` voxels where possible.

    The longest axis is halved while a tile is too large (samples count a quarter: long traces make
    long inner loops), down to one voxel. Tiles split the work, never a voxel's operations.
    """
    tile = [max(1, int(n)) for n in shape]
    while math.prod(tile) > max_voxels:
        weight = [t / (4 if axis == 2 else 1) if t > 1 else 0 for axis, t in enumerate(tile)]
        axis = max(range(3), key=lambda a: weight[a])
        if weight[axis] == 0:
            break
        tile[axis] = -(-tile[axis] // 2)
    starts = [range(0, int(n), t) for n, t in zip(shape, tile)]
    return [tuple((s, min(int(n), s + t)) for s, t, n in zip(start, tile, shape))
            for start in itertools.product(*starts)]
