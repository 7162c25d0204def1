"""NumPy backend of the coherence attributes: the CPU path and the reference of the CUDA kernels.

Same entry points as ``_cuda.py``. The output region is cut into tiles (:func:`~.windows.tiles`), each
read with its halo as a float64 block (:func:`~.traces.read_block`, NaN outside the volume) and
computed on a thread pool (NumPy releases the GIL in array operations). Tiles split the work, never a
voxel's operations, so any region (a brick) equals the same voxels of the whole volume bit for bit.

- Semblance, unsteered: separable box sums of the valid samples, their squares and their count (rows
  over crossline, then over inline: fixed-order sums of shifted slices), then ``num = sum_c S^2`` and
  ``den = sum_c N * Q`` over the window's samples. The same operations, in the same order, as the
  CUDA kernel's loops, so the CPU harness finds them bit-identical.
- Semblance, steered: :func:`~.traces.semblance_tile` (a gather and an interpolation per window sample).
- Eigenstructure, steered or not: :func:`~.traces.eigenstructure_tile` (covariance, LAPACK's eigvalsh).
"""

from __future__ import annotations


import numpy as np

from facies.kernels.threads import run_pieces
from facies.kernels.array_module import quiet
from facies.kernels.box_stats import sliding_sums
from facies.kernels.coherence.traces import eigenstructure_tile, read_block, semblance_tile, steering
from facies.kernels.coherence.windows import coherence_halo, tiles, window_radii

#: Voxels per tile: semblance keeps a few float64 arrays of the tile with its halo; steered semblance and
#: eigenstructure keep the window's samples (n_il * n_xl * n_t arrays of the tile, 648 bytes a voxel for 3x3x9).
TILE_VOXELS = {"semblance": 1 << 17, "steered": 1 << 15, "eigenstructure": 1 << 14}


def semblance(volume, window, dips, max_dip: float, out, region, workers: int | None = None):
    """Semblance of ``region`` of ``volume`` into ``out`` (arguments checked by the package's ``semblance``)."""
    if dips is None:
        return _by_tiles(volume, window, None, max_dip, out, region, workers, _semblance_box, "semblance")
    return _by_tiles(volume, window, dips, max_dip, out, region, workers, semblance_tile, "steered")


def eigenstructure(volume, window, dips, max_dip: float, out, region, workers: int | None = None):
    """Eigenstructure coherence of ``region`` of ``volume`` into ``out``."""
    return _by_tiles(volume, window, dips, max_dip, out, region, workers, eigenstructure_tile, "eigenstructure")


def _semblance_box(block, halo, shape, radii, steps, xp):
    """Unsteered semblance of a tile by box sums (``steps`` is None)."""
    valid = np.isfinite(block)
    x0 = np.where(valid, block, 0.0)
    size = (2 * radii[0] + 1, 2 * radii[1] + 1, 1)
    s = sliding_sums(x0, size)
    q = sliding_sums(np.multiply(x0, x0, out=x0), size)
    n = sliding_sums(valid.astype(np.float64), size)
    n_t = shape[2]
    num = np.zeros(shape, np.float64)
    den = np.zeros(shape, np.float64)
    for c in range(2 * radii[2] + 1):
        part = s[:, :, c:c + n_t]
        num += part * part
        den += n[:, :, c:c + n_t] * q[:, :, c:c + n_t]
    with quiet(np):
        return np.where(den > 0.0, num / den, np.nan)


def _by_tiles(volume, window, dips, max_dip, out, region, workers, compute, kind):
    """Run ``compute`` on every tile of ``region`` and write the results (NaN where the centre is invalid)."""
    steered = dips is not None
    halo = coherence_halo(window, steered=steered, max_dip=max_dip)
    radii = window_radii(window)
    origin = tuple(a for a, _ in region)
    shape = tuple(b - a for a, b in region)

    def run(tile):
        box = tuple((o + a, o + b) for o, (a, b) in zip(origin, tile))
        tile_shape = tuple(b - a for a, b in box)
        block = read_block(volume, box, halo, np)
        inner = tuple(slice(h, h + n) for h, n in zip(halo, tile_shape))
        bad = ~np.isfinite(block[inner])
        steps = None
        if steered:
            cut = tuple(slice(a, b) for a, b in box)
            steps, no_dip = steering(dips[0][cut], dips[1][cut], radii, halo, block.shape, max_dip, np)
            bad |= no_dip
        value = compute(block, halo, tile_shape, radii, steps, np)
        value[bad] = np.nan
        out[tuple(slice(a, b) for a, b in tile)] = value

    run_pieces(run, tiles(shape, TILE_VOXELS[kind]) if all(shape) else [], workers)
    return out
