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
- **Reading** goes region by region (:func:`facies.engine.virtual.values_at`: tiles of whole chunk
  columns, cut to the chosen voxels' extent): only the values at the chosen voxels are kept; no whole
  volume is ever in memory. A virtual attribute (:mod:`facies.engine.virtual`) is computed at the chosen
  voxels only, from their neighbourhoods, equal bit for bit to what writing it would have stored.

Voxels whose attribute values are not all finite are dropped after reading (they cannot be fitted);
the count is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.virtual import values_at, virtual_arrays
from facies.kernels.philox import MASK64, uniforms

#: Second word of the Philox key of the sample's draws (the selection's purposes are 1..3).
SAMPLE_PURPOSE = 0x47544D  # "GTM"
#: Default number of sample voxels.
DEFAULT_SAMPLE = 200_000
#: Most sample voxels: the sample, its standardised copy and the EM's work arrays are held in memory
#: (20 million voxels of 10 attributes are a few GB); a map is not better for more.
MAX_SAMPLE = 20_000_000


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


def sample_voxels(survey, attributes, *, size: int = DEFAULT_SAMPLE, seed: int = 0, brick=None,
                  progress: bool | None = None, device: str = "auto") -> VoxelSample:
    """Draw the stratified sample of live voxels and read the attributes there, region by region.

    Parameters
    ----------
    survey : Survey
    attributes : sequence of str
        Complete attribute volumes, stored or virtual, read under shared locks.
    size : int
        Voxels to draw (all live voxels when the survey has fewer).
    seed : int
        Seed of the draws.
    brick : (int, int), optional
        Inline and crossline extent of the reading regions (rounded up to whole chunks); the sample
        does not depend on it.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    device : {"auto", "cpu", "gpu"}
        Where virtual attributes are computed (as ``facies filter --device``).

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
    virtual = virtual_arrays(survey)
    sources = [virtual[name].source for name in attributes if name in virtual]
    with survey.reading(*attributes, *sources):  # one state of each, not a run's half-written one
        for d, name in enumerate(attributes):
            values[:, d] = values_at(survey, name, positions[:, 0], positions[:, 1], positions[:, 2], device=device,
                                     brick=brick, progress=progress)
    finite = np.isfinite(values).all(axis=1)
    return VoxelSample(values[finite], positions[finite], int(positions.shape[0]), live)
