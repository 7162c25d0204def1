"""CPU backend of the fused GTM projection (and the reference the CUDA kernel is tested against).

:func:`project` walks the voxels in tiles of :func:`tile_rows` rows, so the (rows, K) blocks stay in the
caches and memory stays bounded for any n; per tile, with no Python loop per voxel:

1. ``t = (x - mean) / scale`` in float64; rows of dead or non-finite voxels are zeroed (their outputs
   are overwritten at the end) so that nothing below meets a NaN.
2. Log-densities up to a per-voxel constant, one matmul: ``l'_k = t . (beta y_k) - beta/2 |y_k|^2``
   (float64). The full ``l_k = -beta/2 (|t|^2 - 2 t.y_k + |y_k|^2)`` differs from ``l'_k`` by
   ``-beta/2 |t|^2``, the same for every node, which the log-sum-exp takes out again; leaving it out
   saves two passes over the block, and the clamp of ``|t - y|^2`` at 0, which only guards against a
   rounding below zero (about ``1e-16 |t|^2`` here), has nothing to clamp.
3. ``e_k = exp(l'_k - max_k l'_k)`` in float32. Responsibilities are ``e_k / sum_k e_k``; the
   probabilities ``s_c / sum_c s_c`` do not need that division (it cancels), only ``u`` does.
4. One float32 matmul of ``e`` with ``[W^T | Z | 1]`` gives the GTC scores, ``sum_k e_k z_k`` and
   ``sum_k e_k``; the Bhattacharyya scores are ``sqrt(e) @ W^T`` (``sqrt(e_k) = sqrt(R_k) * const``).
5. Probabilities (float32 division), the first most probable facies (``argmax``), its code and
   probability; dead, non-finite or unclassifiable voxels (all scores zero) get code 0,
   probabilities 0 and confidence 0, and ``u`` NaN when dead or non-finite.

Precision: the differences of the log-densities are float64 (they decide which nodes count, and
the expanded distance cancels), so ``l' - max`` is exact to ~1e-16 relative before it is rounded to
float32. From there float32 is deliberate: the outputs are float32, the exponentials of the rounded
differences carry a relative error of at most ``|l - m| * 6e-8`` (about 1e-6 on the terms that
matter, those within ~20 of the maximum), and the K-term sums of float32 BLAS are good to ~1e-6
relative; float32 halves the bytes of the (rows, K) block and doubles the SIMD width of ``exp``
and of the matmuls, the bulk of the work. tests/test_gtm_project.py holds it to 1e-5 of a float64
evaluation of the textbook formula.

Chunks: a voxel's values do not depend on how the voxels are split between calls, bit for bit (so bricks
equal the whole volume). BLAS does not promise that a row of a product is the same whatever the other
rows (OpenBLAS takes another kernel, with another order of the sums, for another number of rows), so
every matmul runs on a whole tile of :func:`tile_rows` rows, the last tile padded with rows whose
results are dropped. That costs up to one tile of work per call (about a millisecond): negligible for
a brick, noticeable only for calls of a few voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from facies.kernels.array_module import is_cupy

#: Entries of a tile's (rows, K) float32 block: 256 K float32 (1 MiB), with the float64 block of
#: the log-densities twice that, so the work of a tile stays in a core's L2/L3.
TILE_ENTRIES = 1 << 18
MIN_TILE_ROWS, MAX_TILE_ROWS = 256, 8192


def tile_rows(k: int) -> int:
    """Voxels per tile for ``k`` nodes: :data:`TILE_ENTRIES` / k rounded down to a multiple of 256, in [256, 8192].

    A multiple of 256: BLAS computes the rows of a remainder (rows past a multiple of its unrolling)
    with other kernels, whose sums round differently, so a voxel's values would depend on its place
    in the tile (module docstring, "Chunks").
    """
    rows = TILE_ENTRIES // max(1, int(k)) // MIN_TILE_ROWS * MIN_TILE_ROWS
    return int(min(MAX_TILE_ROWS, max(MIN_TILE_ROWS, rows)))


@dataclass(frozen=True)
class Projection:
    """The model's parameters of one call, checked and on the host (float64 unless said)."""

    n: int
    d: int
    k: int
    c: int
    mean: np.ndarray
    scale: np.ndarray
    nodes: np.ndarray
    beta: float
    latent: np.ndarray
    weights: np.ndarray
    sqrt_weights: bool
    codes: np.ndarray


def _host(a) -> np.ndarray:
    """A small parameter array on the host (a CuPy array is copied down)."""
    return a.get() if is_cupy(a) else np.asarray(a)


def _shape(name: str, a, shape: tuple, dtype=None):
    if getattr(a, "shape", None) != shape:
        raise ValueError(f"{name} must have shape {shape}, not {getattr(a, 'shape', type(a).__name__)}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, not {a.dtype}")


def _finite(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds non-finite values")
    return a


def check_arguments(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob, out_code,
                    out_conf, out_u) -> Projection:
    """Check the arguments of :func:`project` (both backends) and return the parameters on the host.

    Raises
    ------
    ValueError
        A shape that does not match, non-finite or non-positive parameters, negative weights, a zero
        facies code.
    TypeError
        An array of another dtype than the contract's.
    """
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"x must be a 2-D (voxels, attributes) array, not {getattr(x, 'shape', type(x).__name__)}")
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, not {x.dtype}")
    n, d = (int(v) for v in x.shape)
    if d < 1:
        raise ValueError("x has no attribute column")
    _shape("live", live, (n,), np.bool_)
    mean, scale = _host(mean), _host(scale)
    _shape("mean", mean, (d,))
    _shape("scale", scale, (d,))
    mean, scale = _finite("mean", mean), _finite("scale", scale)
    if not (scale > 0).all():
        raise ValueError("scale must be positive")
    nodes = _host(nodes)
    if getattr(nodes, "ndim", None) != 2 or nodes.shape[1] != d or nodes.shape[0] < 1:
        raise ValueError(f"nodes must have shape (K, {d}) with K >= 1, not {getattr(nodes, 'shape', None)}")
    k = int(nodes.shape[0])
    nodes = _finite("nodes", nodes)
    beta = float(beta)
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and positive, not {beta}")
    latent = _host(latent)
    _shape("latent", latent, (k, 2))
    latent = _finite("latent", latent)
    weights = _host(weights)
    if getattr(weights, "ndim", None) != 2 or weights.shape[1] != k or weights.shape[0] < 1:
        raise ValueError(f"weights must have shape (C, {k}) with C >= 1, not {getattr(weights, 'shape', None)}")
    c = int(weights.shape[0])
    weights = _finite("weights", weights)
    if (weights < 0).any():
        raise ValueError("weights must be non-negative")
    codes = _host(codes)
    _shape("codes", codes, (c,), np.uint8)
    if (codes == 0).any():
        raise ValueError("facies codes must be non-zero (0 marks unclassified voxels)")
    _shape("out_prob", out_prob, (c, n), np.float32)
    _shape("out_code", out_code, (n,), np.uint8)
    _shape("out_conf", out_conf, (n,), np.float32)
    _shape("out_u", out_u, (2, n), np.float32)
    return Projection(n=n, d=d, k=k, c=c, mean=mean, scale=scale, nodes=nodes, beta=beta, latent=latent,
                      weights=weights, sqrt_weights=bool(sqrt_weights), codes=codes)


class _Work:
    """The tile's work buffers, allocated once per call. The matmuls always run on all their rows (module
    docstring, "Chunks"), so the buffers start zeroed: rows past a short last tile hold finite values."""

    def __init__(self, p: Projection, rows: int):
        self.t = np.zeros((rows, p.d + 1))
        self.t[:, p.d] = 1.0  # the column that multiplies the row of b_k in a (one matmul, no pass to add b)
        self.logd = np.empty((rows, p.k))
        self.e = np.zeros((rows, p.k), np.float32)
        self.half = np.zeros((rows, p.k), np.float32) if p.sqrt_weights else None
        width = 3 if p.sqrt_weights else p.c + 3
        self.sums = np.empty((rows, width), np.float32)
        self.scores = np.empty((rows, p.c), np.float32) if p.sqrt_weights else None
        self.prob = np.empty((rows, p.c), np.float32)


def project(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob, out_code, out_conf,
            out_u):
    """The fused per-voxel projection on NumPy arrays (contract: :func:`facies.kernels.gtm.project`).

    Outputs may be views (``out_prob[:, a:b]`` of a larger array): they are written through.
    """
    p = check_arguments(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob,
                        out_code, out_conf, out_u)
    if p.n == 0:
        return
    # l'_k = [t, 1] . [beta y_k, -beta/2 |y_k|^2] (module docstring, step 2)
    a = np.vstack([p.beta * p.nodes.T, -0.5 * p.beta * np.einsum("kd,kd->k", p.nodes, p.nodes)])
    ones = np.ones((p.k, 1))
    if p.sqrt_weights:
        rhs = np.ascontiguousarray(np.hstack([p.latent, ones]), np.float32)
        wt = np.ascontiguousarray(p.weights.T, np.float32)
    else:
        rhs = np.ascontiguousarray(np.hstack([p.weights.T, p.latent, ones]), np.float32)
        wt = None
    rows = tile_rows(p.k)
    work = _Work(p, rows)
    for start in range(0, p.n, rows):
        stop = min(p.n, start + rows)
        _tile(p, x[start:stop], live[start:stop], a, rhs, wt, work, out_prob[:, start:stop],
              out_code[start:stop], out_conf[start:stop], out_u[:, start:stop])


def _tile(p: Projection, x, live, a, rhs, wt, work: _Work, out_prob, out_code, out_conf, out_u) -> None:
    m = len(x)
    t = work.t[:m, :p.d]
    np.subtract(x, p.mean, out=t)
    t /= p.scale
    ok = live & np.isfinite(t).all(axis=1)
    t[~ok] = 0.0
    logd = work.logd[:m]
    np.matmul(work.t, a, out=work.logd)
    e = work.e[:m]
    np.subtract(logd, logd.max(axis=1, keepdims=True), out=e, casting="same_kind")
    np.exp(e, out=e)
    sums = work.sums[:m]
    np.matmul(work.e, rhs, out=work.sums)
    if p.sqrt_weights:
        half, all_scores = cast(np.ndarray, work.half), cast(np.ndarray, work.scores)  # allocated for sqrt
        np.sqrt(e, out=half[:m])
        np.matmul(half, wt, out=all_scores)
        scores = all_scores[:m]
        moments = sums
    else:
        scores, moments = sums[:, :p.c], sums[:, p.c:]
    prob = work.prob[:m]
    total = scores.sum(axis=1, keepdims=True)
    classified = ok & (total[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(scores, total, out=prob)
    prob[~classified] = 0.0
    best = np.argmax(prob, axis=1)
    out_prob[...] = prob.T
    out_conf[...] = np.take_along_axis(prob, best[:, None], axis=1)[:, 0]
    out_code[...] = np.where(classified, p.codes[best], np.uint8(0))
    u = moments[:, :2] / moments[:, 2:3]
    u[~ok] = np.nan
    out_u[...] = u.T
