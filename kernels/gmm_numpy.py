"""The CPU backend of the mixture fits: the coefficient-level steps fused and tiled to stay in cache.

For ``K = 2`` (the default and nearly all of the work) the log-joint densities are never formed.
With ``eps = l0 - l1 = (c0 - c1) . q(x)`` (one coefficient row per fit instead of two):

- observed log-likelihood ``sum_i log(e^l0 + e^l1) = c0 . T + sum_i max(-eps, 0) + sum_i log(1 + e)``
  with ``e = exp(-|eps|)``, ``T = sum_i q(x_i)`` the item's feature totals, and
  ``sum_i max(-eps, 0) = (sum_i |eps| - (c0 - c1) . T) / 2``;
- S-step: voxel i goes to component 0 when ``w + 0.5 < p0 * 2**32`` with
  ``p0 = (eps >= 0 ? 1 : e) / (1 + e)``, the expression of the reference and of the CUDA kernel;
- C-step: component 0 when ``eps >= 0`` (ties to the lowest index), and the classification
  log-likelihood ``sum_i max(l0, l1) = c1 . T + (sum_i |eps| + (c0 - c1) . T) / 2``;
- statistics: the component-0 indicator times the features, accumulated tile by tile.

Each batch item is walked in tiles of :data:`TILE` voxels, so the dozen element-wise passes of a
step run over a (G, TILE) block that stays in the core's cache instead of streaming (B, G, K, n)
arrays through memory. The arithmetic per voxel is that of :class:`~facies.kernels.gmm_ops.MixtureOps`
(tests compare the two), up to the rounding of ``eps`` and of the order of the sums. Other ``K``
use the reference path.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.array_module import quiet
from facies.kernels.gmm_density import feature_dimension
from facies.kernels.gmm_ops import TWO32, MixtureOps

#: Voxels per tile: a (9, TILE) float64 block is 288 KiB, so the few live blocks fit a 1 MiB L2.
TILE = 4096


def _pair(coef, total):
    """``c0 - c1`` (B, G, p) and the totals' products ``c0 . T``, ``c1 . T`` (B, G) of two-component coefficients."""
    b, gk, p = coef.shape
    c = coef.reshape(b, gk // 2, 2, p)
    diff = np.ascontiguousarray(c[:, :, 0] - c[:, :, 1])
    dot = np.einsum("bgkp,bp->bgk", c, total)
    return diff, dot[..., 0], dot[..., 1]


class _Tiles:
    """Reusable (G, tile) work buffers, contiguous for every tile length (views of flat arrays)."""

    def __init__(self, g: int, n: int):
        self.g = g
        self.flat = [np.empty(g * min(TILE, n)) for _ in range(3)]

    def of(self, m: int):
        return [f[:self.g * m].reshape(self.g, m) for f in self.flat]


def _item_sums(diff_b, q_b, tiles: _Tiles, words_b=None, *, classify: bool = False):
    """One item's sums over its voxels: ``sum |eps|``, ``sum log(1 + e)`` (G,) and the component-0 feature sums (G, p).

    With ``words_b`` the partition is drawn (S-step); with ``classify`` it is the MAP one; with
    neither, no partition is made (``None``).
    """
    g, p = diff_b.shape
    n = q_b.shape[0]
    abs_sum = np.zeros(g)
    log_sum = np.zeros(g)
    part = None if words_b is None and not classify else np.zeros((g, p))
    for start in range(0, n, TILE):
        qt = q_b[start:start + TILE]
        m = qt.shape[0]
        eps, a, t = tiles.of(m)
        np.matmul(diff_b, qt.T, out=eps)
        np.abs(eps, out=a)
        abs_sum += a.sum(axis=1)
        if classify:
            np.greater_equal(eps, 0.0, out=t)
            part += t @ qt
            continue
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
    return abs_sum, log_sum, part


class NumpyOps(MixtureOps):
    """The CPU backend: :class:`MixtureOps` with the ``K = 2`` coefficient-level steps fused and tiled."""

    name = "cpu"

    @classmethod
    def _run(cls, q, coef, total, draws=None, iteration=0, *, classify=False):
        diff, c0t, c1t = _pair(coef, total)
        b, g, p = diff.shape
        tiles = _Tiles(g, q.shape[1])
        abs_sum = np.empty((b, g))
        log_sum = np.empty((b, g))
        part = np.empty((b, g, 1, p))
        with quiet(np):
            for i in range(b):
                words = None if draws is None else draws.sstep_words(iteration, i)
                abs_sum[i], log_sum[i], sums = _item_sums(diff[i], q[i], tiles, words, classify=classify)
                if sums is not None:
                    part[i, :, 0] = sums
        diff_t = c0t - c1t
        return c0t, c1t, diff_t, abs_sum, log_sum, part

    @classmethod
    def s_step(cls, q, coef, k: int, draws, iteration: int, total):
        if k != 2:
            return super().s_step(q, coef, k, draws, iteration, total)
        c0t, _, diff_t, abs_sum, log_sum, part = cls._run(q, coef, total, draws, iteration)
        ll = c0t + 0.5 * (abs_sum - diff_t) + log_sum
        return ll, cls.partition_statistics(part, total, feature_dimension(q.shape[-1]))

    @classmethod
    def c_step(cls, q, coef, k: int, total):
        if k != 2:
            return super().c_step(q, coef, k, total)
        _, c1t, diff_t, abs_sum, _, part = cls._run(q, coef, total, classify=True)
        cl = c1t + 0.5 * (abs_sum + diff_t)
        return cl, cls.partition_statistics(part, total, feature_dimension(q.shape[-1]))

    @classmethod
    def observed_loglik(cls, q, coef, k: int, total=None):
        if k != 2:
            return super().observed_loglik(q, coef, k)
        total = q.sum(axis=1) if total is None else total
        c0t, _, diff_t, abs_sum, log_sum, _ = cls._run(q, coef, total)
        return c0t + 0.5 * (abs_sum - diff_t) + log_sum
