"""A seeded, stratified sample of the survey's live voxels, read brick by brick.

The GTM is fitted on a sample, not on the whole survey. The sample is a function of the seed and
the survey's geometry only (its shape, live traces and storage chunks), never of the order or size
of the bricks it is read in:

- **Strata** are the cells of the store's chunk grid (:attr:`~facies.engine.store.Survey.chunks`).
  Each stratum gets a quota proportional to its live voxels (largest remainders, ties to the lower
  stratum index), so every part of the survey is represented as much as it is live.
- **Within a stratum** the quota's voxels are drawn by jittered systematic sampling (one voxel in
  each of ``quota`` equal runs of its live voxels, in C order) with the counter-based generator
  :mod:`facies.kernels.philox`: key ``(seed, SAMPLE_PURPOSE)``, counter ``(block, stratum, 0, 0)``;
  the draws of a stratum depend on nothing else, and no voxel is drawn twice.
- **Reading** goes brick by brick (whole chunks, all samples of a set of trace columns): only the
  bricks' values at the chosen voxels are kept; no whole volume is ever in memory.

Voxels whose attribute values are not all finite are dropped after reading (they cannot be fitted);
the count is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.progress import WorkProgress
from facies.kernels.philox import MASK64, uniforms

#: Second word of the Philox key of the sample's draws (the selection's purposes are 1..3).
SAMPLE_PURPOSE = 0x47544D  # "GTM"
#: Default number of sample voxels.
DEFAULT_SAMPLE = 200_000
#: Most sample voxels: the sample, its standardised copy and the EM's work arrays are held in memory
#: (20 million voxels of 10 attributes are a few GB); a map is not better for more.
MAX_SAMPLE = 20_000_000
#: Voxels read per brick of the sample's reading (whole trace columns of whole chunks), at most.
BRICK_VOXELS = 1 << 25


@dataclass
class VoxelSample:
    """Attribute values at the sampled voxels.

    Attributes
    ----------
    values : ndarray (n, D) float32
        One row per voxel with finite values, attributes in the order asked.
    indices : ndarray (n, 3) int64
        Inline, crossline and sample index of each row.
    drawn : int
        Voxels drawn (before those with a non-finite value were dropped).
    live : int
        Live voxels of the survey.
    """

    values: np.ndarray
    indices: np.ndarray
    drawn: int
    live: int

    @property
    def dropped(self) -> int:
        return self.drawn - int(self.values.shape[0])


def strata(trace_mask: np.ndarray, n_samples: int, chunks) -> tuple[tuple[int, int, int], np.ndarray]:
    """The chunk grid and the live voxels of each of its cells, shape ``(n_ci, n_cx, n_cs)``."""
    ci, cx, cs = (int(c) for c in chunks)
    n_il, n_xl = trace_mask.shape
    grid = (math.ceil(n_il / ci), math.ceil(n_xl / cx), math.ceil(n_samples / cs))
    padded = np.zeros((grid[0] * ci, grid[1] * cx), dtype=np.int64)
    padded[:n_il, :n_xl] = trace_mask
    traces = padded.reshape(grid[0], ci, grid[1], cx).sum(axis=(1, 3))
    depth = np.minimum(cs, n_samples - cs * np.arange(grid[2]))
    return grid, traces[:, :, None] * depth[None, None, :]


def quotas(live: np.ndarray, size: int) -> np.ndarray:
    """Voxels to draw per stratum: ``size`` shared in proportion to ``live`` (largest remainders)."""
    flat = live.reshape(-1).astype(np.int64)
    total = int(flat.sum())
    if total <= size:
        return flat.reshape(live.shape)
    exact = flat.astype(np.float64) * (size / total)
    quota = np.floor(exact).astype(np.int64)
    left = size - int(quota.sum())
    if left > 0:  # stable sort: equal remainders go to the lower stratum index
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:left]] += 1
    return np.minimum(quota, flat).reshape(live.shape)


def draw(seed: int, stratum: int, population: int, quota: int) -> np.ndarray:
    """``quota`` distinct positions in ``0..population-1``, increasing: a pure function of its arguments.

    Jittered systematic sampling: the positions are cut into ``quota`` runs of whole positions
    (``b_j = floor(j * population / quota)``) and one position is drawn uniformly in each run, with
    the stratum's Philox stream. The draws are distinct by construction and spread evenly over the
    stratum (its live traces in C order, each trace's samples in order).
    """
    if quota >= population:
        return np.arange(population, dtype=np.int64)
    j = np.arange(quota + 1, dtype=np.int64)
    bounds = (j * population) // quota
    u = uniforms((int(seed) & MASK64, SAMPLE_PURPOSE), stratum, 0, 0, quota)
    return bounds[:-1] + np.minimum(np.floor(u * np.diff(bounds)).astype(np.int64), np.diff(bounds) - 1)


def sample_positions(trace_mask: np.ndarray, n_samples: int, chunks, *, size: int, seed: int) -> np.ndarray:
    """The sampled voxels as (n, 3) int64 indices (inline, crossline, sample), in C order of the volume."""
    grid, live = strata(trace_mask, n_samples, chunks)
    quota = quotas(live, size)
    ci, cx, cs = (int(c) for c in chunks)
    picked = []
    for index in zip(*np.nonzero(quota)):
        i, j, k = (int(v) for v in index)
        stratum = int(np.ravel_multi_index((i, j, k), grid))
        block = trace_mask[i * ci:(i + 1) * ci, j * cx:(j + 1) * cx]
        il, xl = np.nonzero(block)  # live traces of the stratum, C order
        depth = min(cs, n_samples - k * cs)
        positions = draw(seed, stratum, int(live[i, j, k]), int(quota[i, j, k]))
        trace, sample = np.divmod(positions, depth)
        picked.append(np.stack([il[trace] + i * ci, xl[trace] + j * cx, sample + k * cs], axis=1))
    if not picked:
        return np.zeros((0, 3), dtype=np.int64)
    out = np.concatenate(picked).astype(np.int64)
    order = np.lexsort((out[:, 2], out[:, 1], out[:, 0]))
    return out[order]


def brick_columns(shape, chunks, n_attributes: int, brick=None) -> tuple[int, int]:
    """Inline and crossline extent of the reading bricks: whole chunks, all samples.

    ``brick`` (inline, crossline) is rounded up to whole chunks; by default bricks hold about
    :data:`BRICK_VOXELS` voxels of all attributes together.
    """
    ci, cx = int(chunks[0]), int(chunks[1])
    if brick is not None:
        return max(ci, -(-int(brick[0]) // ci) * ci), max(cx, -(-int(brick[1]) // cx) * cx)
    per_column = max(1, ci * cx * int(shape[2]) * max(1, n_attributes))
    columns = max(1, BRICK_VOXELS // per_column)
    across = max(1, min(math.ceil(shape[1] / cx), columns))
    down = max(1, min(math.ceil(shape[0] / ci), columns // across))
    return down * ci, across * cx


def sample_voxels(survey, attributes, *, size: int = DEFAULT_SAMPLE, seed: int = 0, brick=None,
                  progress: bool | None = None) -> VoxelSample:
    """Draw the stratified sample of live voxels and read the attributes there, brick by brick.

    Parameters
    ----------
    survey : Survey
    attributes : sequence of str
        Complete attribute volumes, read under shared locks.
    size : int
        Voxels to draw (all live voxels when the survey has fewer).
    seed : int
        Seed of the draws.
    brick : (int, int), optional
        Inline and crossline extent of the reading bricks (rounded up to whole chunks); the sample
        does not depend on it.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Raises
    ------
    FaciesError
        ``size`` outside 1..:data:`MAX_SAMPLE`, or an attribute missing or incomplete.
    """
    if not 1 <= int(size) <= MAX_SAMPLE:
        raise FaciesError(f"--sample must be a number of voxels in 1..{MAX_SAMPLE}, not {size}")
    g = survey.geometry
    shape, chunks = survey.shape, survey.chunks
    positions = sample_positions(np.asarray(g.trace_mask, dtype=bool), shape[2], chunks, size=int(size),
                                 seed=int(seed))
    live = int(np.asarray(g.trace_mask).sum()) * shape[2]
    values = np.empty((positions.shape[0], len(attributes)), dtype=np.float32)
    step_il, step_xl = brick_columns(shape, chunks, len(attributes), brick)
    starts = [(a, b) for a in range(0, shape[0], step_il) for b in range(0, shape[1], step_xl)]
    with survey.reading(*attributes):
        arrays = [survey.array(name) for name in attributes]
        with WorkProgress("sample", len(starts), unit="vox", enabled=progress) as bar:
            for a, b in starts:
                inside = np.flatnonzero((positions[:, 0] >= a) & (positions[:, 0] < a + step_il) &
                                        (positions[:, 1] >= b) & (positions[:, 1] < b + step_xl))
                if inside.size:
                    p = positions[inside]
                    for d, array in enumerate(arrays):
                        block = np.asarray(array[a:a + step_il, b:b + step_xl, :])
                        values[inside, d] = block[p[:, 0] - a, p[:, 1] - b, p[:, 2]]
                bar.advance(1, min(step_il, shape[0] - a) * min(step_xl, shape[1] - b) * shape[2])
    finite = np.isfinite(values).all(axis=1)
    return VoxelSample(values[finite], positions[finite], int(positions.shape[0]), live)
