"""Brick planning: chunk-aligned output regions, their halos, and how to split them.

A *brick* is an output region aligned to the store's chunks (several chunks wide laterally,
full or partial height). Its operators read their inputs over the brick grown by their halo,
clipped to the survey; the boundary rule fills what the clip cut off (:mod:`.operator`).
Because bricks are unions of whole chunks, every output chunk has exactly one writer.

Regions are tuples of ``(start, stop)`` pairs, one per axis, in voxel indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

from facies.engine.errors import FaciesError

Region = tuple[tuple[int, int], ...]


def region_shape(region: Region) -> tuple[int, ...]:
    """Shape of a region."""
    return tuple(stop - start for start, stop in region)


def region_size(region: Region) -> int:
    """Number of voxels in a region."""
    return math.prod(region_shape(region))


def region_slices(region: Region, origin: tuple[int, ...] | None = None) -> tuple[slice, ...]:
    """Slices selecting ``region`` from an array whose first voxel is at ``origin`` (default 0)."""
    origin = origin or (0,) * len(region)
    return tuple(slice(start - o, stop - o) for (start, stop), o in zip(region, origin))


def cut(array, region: Region, covers: Region):
    """The part over ``region`` of ``array``, which covers ``covers`` (a lateral 2D array: its first axes)."""
    return array[region_slices(region, tuple(start for start, _ in covers))[:array.ndim]]


def grow(region: Region, halo: tuple[int, ...]) -> Region:
    """``region`` grown by ``halo`` voxels on both sides of every axis (may leave the survey)."""
    return tuple((start - h, stop + h) for (start, stop), h in zip(region, halo))


def clip(region: Region, shape: tuple[int, ...]) -> Region:
    """``region`` clipped to ``[0, shape)``."""
    return tuple((max(0, start), min(n, stop)) for (start, stop), n in zip(region, shape))


def outside(region: Region, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Voxels of ``region`` before and after the survey, per axis: the pad widths of the boundary rule."""
    return tuple((max(0, -start), max(0, stop - n)) for (start, stop), n in zip(region, shape))


def bounding_box(a: Region | None, b: Region) -> Region:
    """Smallest region holding ``a`` and ``b`` (``a`` may be None)."""
    if a is None:
        return b
    return tuple((min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b))


@dataclass(frozen=True)
class Brick:
    """One task of a run: a chunk-aligned output region and its index in the brick grid."""

    index: tuple[int, ...]
    region: Region

    @property
    def shape(self) -> tuple[int, ...]:
        return region_shape(self.region)

    @property
    def size(self) -> int:
        return region_size(self.region)


@dataclass(frozen=True)
class BrickPlan:
    """The bricks covering a survey.

    Parameters
    ----------
    shape : tuple of int
        Survey shape (n_inline, n_crossline, n_sample).
    chunks : tuple of int
        Storage chunks of the output arrays; every brick is a union of whole chunks.
    brick : tuple of int
        Brick shape, a multiple of ``chunks`` on every axis (the last brick of an axis may be shorter).
    """

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    brick: tuple[int, ...]

    def __post_init__(self):
        for axis, (b, c, n) in enumerate(zip(self.brick, self.chunks, self.shape)):
            if b < 1 or (b % c and b < n):
                raise FaciesError(f"brick size {b} on axis {axis} is not a multiple of the chunk size {c}; "
                                  f"choose a multiple of the store's chunks {tuple(self.chunks)}")

    @property
    def grid(self) -> tuple[int, ...]:
        """Number of bricks per axis."""
        return tuple(-(-n // b) for n, b in zip(self.shape, self.brick))

    def __len__(self) -> int:
        return math.prod(self.grid)

    def brick_at(self, index: tuple[int, ...]) -> Brick:
        """The brick of grid index ``index``."""
        region = tuple((i * b, min(n, (i + 1) * b)) for i, b, n in zip(index, self.brick, self.shape))
        return Brick(tuple(index), region)

    def __iter__(self):
        for index in product(*(range(g) for g in self.grid)):
            yield self.brick_at(index)


def align_brick(brick: tuple[int, ...], shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Round a requested brick shape to whole chunks (at least one) and clip it to the survey.

    A shorter tuple (``IL,XL``) means full height on the remaining axes.
    """
    brick = tuple(int(b) for b in brick) + tuple(shape[len(brick):])
    if len(brick) != len(shape) or any(b < 1 for b in brick):
        raise FaciesError(f"brick {brick} must be {len(shape)} positive sizes (IL,XL or IL,XL,S)")
    aligned = []
    for b, c, n in zip(brick, chunks, shape):
        b = max(c, -(-b // c) * c)  # up to whole chunks: a brick never cuts a chunk
        aligned.append(n if b >= n else b)
    return tuple(aligned)


def brick_for_budget(shape: tuple[int, ...], chunks: tuple[int, ...], budget_bytes: int,
                     bytes_per_voxel: float, halo: tuple[int, ...] = (0, 0, 0)) -> tuple[int, ...]:
    """The largest chunk-aligned brick whose working set fits ``budget_bytes``.

    Prefers full height (one read per trace column), then square lateral footprints of
    whole chunks; below one chunk column it lowers the height in whole chunks.

    Parameters
    ----------
    shape, chunks : tuple of int
        Survey shape and storage chunks.
    budget_bytes : int
        Bytes one brick may hold (inputs with halo, outputs, scratch).
    bytes_per_voxel : float
        Working-set bytes per output voxel (see :meth:`Chain.bytes_per_voxel`).
    halo : tuple of int
        Total halo of the chain: the inputs are read over the brick grown by it.
    """
    def cost(b):
        read = math.prod(min(n, x + 2 * h) for x, h, n in zip(b, halo, shape))
        return read * bytes_per_voxel

    n_il, n_xl, n_s = shape
    c_il, c_xl, c_s = chunks
    height = n_s
    best = None
    # Grow the lateral footprint a chunk at a time on the shorter side.
    il, xl = c_il, c_xl
    while cost((min(il, n_il), min(xl, n_xl), height)) <= budget_bytes:
        best = (min(il, n_il), min(xl, n_xl), height)
        if il >= n_il and xl >= n_xl:
            break
        if (il <= xl and il < n_il) or xl >= n_xl:
            il += c_il
        else:
            xl += c_xl
    if best is not None:
        return best
    # One chunk column is too much: lower the height, a chunk at a time.
    while height > c_s:
        height = max(c_s, (height // 2) // c_s * c_s)
        b = (min(c_il, n_il), min(c_xl, n_xl), height)
        if cost(b) <= budget_bytes:
            return b
    return (min(c_il, n_il), min(c_xl, n_xl), min(c_s, n_s))


def split_region(region: Region, chunks: tuple[int, ...]) -> tuple[Region, Region] | None:
    """Halve a region across the axis with the most chunks, at a chunk boundary (the OOM backoff).

    Returns None when the region is a single chunk and cannot be split.
    """
    best_axis, best_chunks = None, 1
    for axis, ((start, stop), c) in enumerate(zip(region, chunks)):
        n_chunks = -(-(stop - start) // c)
        if n_chunks > best_chunks:
            best_axis, best_chunks = axis, n_chunks
    if best_axis is None:
        return None
    start, stop = region[best_axis]
    middle = start + (best_chunks // 2) * chunks[best_axis]
    first = tuple((start, middle) if a == best_axis else r for a, r in enumerate(region))
    second = tuple((middle, stop) if a == best_axis else r for a, r in enumerate(region))
    return first, second
