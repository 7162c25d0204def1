"""The CPU backend of the mixture fits: the coefficient-level steps fused and tiled to stay in cache.

For ``K = 2`` (the default and nearly all of the work) the log-joint densities are never formed.
With ``eps = l0 - l1 = (c0 - c1) . q(x)`` (one coefficient row per fit instead of two):

- ``sum_i max(l0, l1) = c0 . T + sum_i max(-eps, 0) = c1 . T + sum_i max(eps, 0)`` with
  ``T = sum_i q(x_i)`` the item's feature totals (``sum_i l0 = c0 . T``);
- observed log-likelihood ``sum_i log(e^l0 + e^l1) = sum_i max(l0, l1) + sum_i log(1 + e)`` with
  ``e = exp(-|eps|)``;
- S-step: voxel i goes to component 0 when ``w + 0.5 < p0 * 2**32`` with
  ``p0 = (eps >= 0 ? 1 : e) / (1 + e)``, the expression of the reference and of the CUDA kernel;
- C-step: component 0 when ``eps >= 0`` (ties to the lowest index); the classification
  log-likelihood is ``sum_i max(l0, l1)``;
- statistics: the component-0 indicator times the features, accumulated tile by tile.

Each batch item is walked in tiles of :data:`TILE` voxels, so the dozen element-wise passes of a
step run over a (G, TILE) block that stays in the core's cache instead of streaming (B, G, K, n)
arrays through memory. The arithmetic per voxel is that of the reference ``_ops.MixtureOps``
(tests compare the two), up to the rounding of ``eps`` and of the order of the sums.

Precision: a tight cluster has large coefficients, and ``c . T`` cancels terms n times larger than
a voxel's ``c . q(x_i)`` does. So ``sum_i max(l0, l1)`` is taken from the component whose terms
``|c_p T_p|`` are smaller (the wider cluster), and the clipped sums voxel by voxel (the shortcut
``sum max(-eps, 0) = (sum |eps| - (c0 - c1) . T) / 2`` lost five digits on a tight cluster). Then
the fused log-likelihoods are as accurate as the reference's (tested against long double). Other
``K`` use the reference path.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import quiet
from facies.kernels.gmm._density import feature_dimension
from facies.kernels.gmm._ops import TWO32, MixtureOps

#: Voxels per tile: a (9, TILE) float64 block is 288 KiB. The three work blocks stay in a 1 MiB L2;
#: the tile's features (TILE x p, 1.8 MiB at 9 attributes) come from L3. Measured best of 1024-8192.
TILE = 4096


def _pair(coef, total):
    """``c0 - c1`` (B, G, p), the totals' products ``c0 . T``, ``c1 . T`` (B, G) of two-component
    coefficients, and where ``c0 . T`` is the better conditioned of the two (B, G)."""
    b, gk, p = coef.shape
    c = coef.reshape(b, gk // 2, 2, p)
    diff = np.ascontiguousarray(c[:, :, 0] - c[:, :, 1])
    dot = np.einsum("bgkp,bp->bgk", c, total)
    size = np.einsum("bgkp,bp->bgk", np.abs(c), np.abs(total))
    return diff, dot[..., 0], dot[..., 1], size[..., 0] <= size[..., 1]


class _Tiles:
    """Reusable (G, tile) work buffers, contiguous for every tile length (views of flat arrays)."""

    def __init__(self, g: int, n: int):
        self.g = g
        self.flat = [np.empty(g * min(TILE, n)) for _ in range(3)]

    def of(self, m: int):
        return [f[:self.g * m].reshape(self.g, m) for f in self.flat]


def _item_sums(diff_b, q_b, tiles: _Tiles, words_b=None, *, classify: bool = False):
    """One item's sums over its voxels, each (G,): ``sum min(eps, 0)``, ``sum max(eps, 0)``, ``sum log(1 + e)``
    (zero with ``classify``), and the component-0 feature sums (G, p).

    With ``words_b`` the partition is drawn (S-step); with ``classify`` it is the MAP one; with
    neither, no partition is made (``None``).
    """
    g, p = diff_b.shape
    n = q_b.shape[0]
    low, high, log_sum = np.zeros(g), np.zeros(g), np.zeros(g)
    part = None if words_b is None and not classify else np.zeros((g, p))
    for start in range(0, n, TILE):
        qt = q_b[start:start + TILE]
        m = qt.shape[0]
        eps, a, t = tiles.of(m)
        np.matmul(diff_b, qt.T, out=eps)
        np.minimum(eps, 0.0, out=a)
        low += a.sum(axis=1)
        np.maximum(eps, 0.0, out=a)
        high += a.sum(axis=1)
        if classify:
            np.greater_equal(eps, 0.0, out=t)
            part += t @ qt
            continue
        np.abs(eps, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)  # e = exp(-|eps|)
        if words_b is not None:
            # numerator of p0: 1 where eps >= 0, else e (max with the 0/1 indicator, as 0 < e <= 1)
            np.greater_equal(eps, 0.0, out=t)
            np.maximum(t, a, out=t)
        a += 1.0
        np.log(a, out=eps)  # log(1 + e): log1p's accuracy is not needed for e in (0, 1]
        log_sum += eps.sum(axis=1)
        if words_b is None:
            continue
        t /= a  # p0
        t *= TWO32
        t -= 0.5  # w + 0.5 < p0 2^32  <=>  w < p0 2^32 - 0.5, exact for p0 <= 1
        np.less(words_b[:, start:start + m], t, out=t)
        part += t @ qt
    return low, high, log_sum, part


class NumpyOps(MixtureOps):
    """The CPU backend: :class:`MixtureOps` with the ``K = 2`` coefficient-level steps fused and tiled."""

    name = "cpu"

    @classmethod
    def _run(cls, q, coef, total, draws=None, iteration=0, *, classify=False):
        """``sum_i max(l0, l1)`` (B, G), ``sum_i log(1 + e)`` (B, G) and the component-0 feature sums (B, G, 1, p)."""
        diff, c0t, c1t, from0 = _pair(coef, total)
        b, g, p = diff.shape
        tiles = _Tiles(g, q.shape[1])
        low, high, log_sum = np.empty((b, g)), np.empty((b, g)), np.empty((b, g))
        part = np.empty((b, g, 1, p))
        with quiet(np):
            for i in range(b):
                words = None if draws is None else draws.sstep_words(iteration, i)
                low[i], high[i], log_sum[i], sums = _item_sums(diff[i], q[i], tiles, words, classify=classify)
                if sums is not None:
                    part[i, :, 0] = sums
            top = np.where(from0, c0t - low, c1t + high)
        return top, log_sum, part

    @classmethod
    def s_step(cls, q, coef, k: int, draws, iteration: int, total):
        if k != 2:
            return super().s_step(q, coef, k, draws, iteration, total)
        top, log_sum, part = cls._run(q, coef, total, draws, iteration)
        return top + log_sum, cls.partition_statistics(part, total, feature_dimension(q.shape[-1]))

    @classmethod
    def c_step(cls, q, coef, k: int, total):
        if k != 2:
            return super().c_step(q, coef, k, total)
        top, _, part = cls._run(q, coef, total, classify=True)
        return top, cls.partition_statistics(part, total, feature_dimension(q.shape[-1]))

    @classmethod
    def observed_loglik(cls, q, coef, k: int, total=None):
        if k != 2:
            return super().observed_loglik(q, coef, k)
        total = q.sum(axis=1) if total is None else total
        top, log_sum, _ = cls._run(q, coef, total)
        return top + log_sum


#: This implementation's hot steps under the name every backend of the package exports, for
#: :func:`~facies.kernels.gmm.ops_for`.
Ops = NumpyOps
