"""Survey sizes and the synthetic survey's geometry (axes, coordinates, dead traces)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.synth.hashing import stream_key, uniform

#: Named sizes (inline, crossline, sample). tiny: tests; small: the demo; medium: a few GB of
#: store (11 float32 volumes); large: tens of GB, to exercise bounded-memory streaming.
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (48, 40, 64),
    "small": (150, 120, 200),
    "medium": (400, 400, 500),
    "large": (1200, 1000, 750),
}
#: Smallest shape whose bodies still have an interior (polygons need a few voxels of margin).
MIN_SHAPE = (8, 8, 16)
#: Most voxels a survey may have: the random draws count voxels in 64-bit integers (far above
#: anything memory or disk allows; the memory check usually refuses much smaller shapes first).
MAX_VOXELS = 2**62
FIRST_INLINE = 1000
FIRST_CROSSLINE = 2000
SAMPLE_INTERVAL_MS = 4.0
INLINE_SPACING_M = 25.0
CROSSLINE_SPACING_M = 12.5
#: Survey origin (a projected CRS, metres) and azimuth of the inline axis: a rotated grid, as real ones are.
ORIGIN_XY = (612_500.0, 4_730_000.0)
AZIMUTH_DEG = 28.0
#: Stream of the dead-trace draw (see hashing.stream_key).
DEAD_TRACE_STREAM = 90


def resolve_shape(shape: Sequence[int] | None, size: str | None) -> tuple[int, int, int]:
    """The survey shape from either an explicit ``shape`` or a named ``size`` (default small).

    Raises
    ------
    FaciesError
        Both or an unknown size; a shape that is not three integers, not positive, below
        :data:`MIN_SHAPE` or above :data:`MAX_VOXELS` voxels.
    """
    if shape is not None and size is not None:
        raise FaciesError("give either a shape (--shape IL XL NS) or a size (--size), not both")
    if shape is None:
        size = "small" if size is None else str(size)
        if size not in SIZES:
            raise FaciesError(f"unknown size {size!r}; choose one of {', '.join(SIZES)} or give --shape IL XL NS")
        return SIZES[size]
    try:
        values = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        raise FaciesError(f"shape {shape!r} must be three integers IL XL NS") from None
    if len(values) != 3:
        raise FaciesError(f"shape {values} must have three values IL XL NS")
    if any(v < 1 for v in values):
        raise FaciesError(f"shape {values} must be positive integers")
    if any(v < m for v, m in zip(values, MIN_SHAPE)):
        raise FaciesError(f"shape {values} is too small for facies bodies; use at least {MIN_SHAPE}")
    if values[0] * values[1] * values[2] > MAX_VOXELS:
        raise FaciesError(f"shape {values} has more than 2**62 voxels; choose a smaller shape")
    return values


def dead_trace_mask(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Live-trace mask: a corner acquisition gap plus a few dead traces scattered in the outer rim.

    Dead traces stay near the survey edge, away from the facies bodies, as acquisition gaps do.
    """
    n_il, n_xl = shape[:2]
    i = np.arange(n_il)[:, None]
    j = np.arange(n_xl)[None, :]
    gap = (i < max(1, round(0.07 * n_il))) & (j < max(1, round(0.10 * n_xl)))
    rim_width_i, rim_width_j = max(1, round(0.05 * n_il)), max(1, round(0.05 * n_xl))
    rim = (i < rim_width_i) | (i >= n_il - rim_width_i) | (j < rim_width_j) | (j >= n_xl - rim_width_j)
    draw = uniform(stream_key(seed, DEAD_TRACE_STREAM), i * n_xl + j)
    return ~(gap | (rim & (draw < 0.04)))


def make_geometry(shape: tuple[int, int, int], seed: int) -> Geometry:
    """Axes in survey units, CDP coordinates on a rotated 25 m x 12.5 m grid, and the live-trace mask."""
    n_il, n_xl, n_s = shape
    inlines = FIRST_INLINE + np.arange(n_il)
    crosslines = FIRST_CROSSLINE + np.arange(n_xl)
    samples = np.arange(n_s) * SAMPLE_INTERVAL_MS
    azimuth = np.deg2rad(AZIMUTH_DEG)
    along_il = np.array([np.cos(azimuth), np.sin(azimuth)])   # direction of increasing inline number
    along_xl = np.array([-np.sin(azimuth), np.cos(azimuth)])  # perpendicular: increasing crossline number
    i = np.arange(n_il)[:, None, None] * INLINE_SPACING_M
    j = np.arange(n_xl)[None, :, None] * CROSSLINE_SPACING_M
    xy = np.asarray(ORIGIN_XY) + i * along_il + j * along_xl
    return Geometry(inlines=inlines, crosslines=crosslines, samples=samples, sample_axis="time", sample_unit="ms",
                    cdp_x=xy[..., 0], cdp_y=xy[..., 1], trace_mask=dead_trace_mask(shape, seed))
