"""Random draws of the mixture fits, from Philox streams keyed by what is being drawn.

A fit is identified by ``stream_id`` (the combination's attribute bitmask) and ``tag`` (facies
and number of components), so its draws do not depend on how fits are batched. Streams:

- k-means start ``s``: key ``(seed, kmeans)``, counter ``(block, s, stream_id, tag)``, K uniforms;
- S-step of iteration ``t``: key ``(seed, sstep)``, counter ``(block, t, stream_id, tag)``; model
  ``m`` (its index in :data:`~facies.kernels.gmm.MODELS`) owns the 32-bit words
  ``[m * n8, m * n8 + n)`` with ``n8`` = n rounded up to a multiple of 8 (a block boundary), so
  any subset of models draws the same numbers.

:class:`PhiloxDraws` makes the numbers with NumPy; on a GPU the S-step kernel of
the CUDA backend (``_cuda.py``, ``gmm.cu``) draws the very same words in-kernel from these keys and counters
(it takes the ids from :meth:`PhiloxDraws.ids_on`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facies.kernels.philox import key_for, stream_words32, uniforms


def padded_length(n: int) -> int:
    """``n`` rounded up to a whole number of Philox blocks (8 words of 32 bits)."""
    return -(-int(n) // 8) * 8


class PhiloxDraws:
    """Uniform draws for a batch of fits on the CPU.

    Parameters
    ----------
    seed : int
    stream_ids : sequence of int, length B
        One per batch item (combination bitmask).
    tag : int
        Facies and number of components of the batch.
    model_ids : sequence of int, length G
        Indices of the batch's models in ``MODELS``.
    n : int
        Number of voxels of the facies.
    """

    def __init__(self, seed: int, stream_ids, tag: int, model_ids, n: int):
        self.seed = int(seed)
        self.stream_ids = [int(s) for s in stream_ids]
        self.tag = int(tag)
        self.model_ids = np.asarray(model_ids, dtype=np.intp)
        self.n = int(n)
        self._ids: dict[str, tuple[Any, Any]] = {}

    def ids_on(self, xp):
        """``stream_ids`` (uint64) and ``model_ids`` (int64) as arrays of ``xp``, made (uploaded) once."""
        if xp.__name__ not in self._ids:
            self._ids[xp.__name__] = (xp.asarray(np.asarray(self.stream_ids, dtype=np.uint64)),
                                      xp.asarray(self.model_ids.astype(np.int64)))
        return self._ids[xp.__name__]

    def kmeans(self, start: int, k: int) -> np.ndarray:
        """``(B, k)`` uniforms choosing the initial centres of start ``start``."""
        key = key_for(self.seed, "kmeans")
        return np.stack([uniforms(key, start, s, self.tag, k) for s in self.stream_ids])

    def sstep_words(self, iteration: int, item: int) -> np.ndarray:
        """``(G, n)`` uint32 words of batch item ``item`` for the S-step of ``iteration`` (a view when the models
        are consecutive)."""
        key = key_for(self.seed, "sstep")
        n8 = padded_length(self.n)
        lo, hi = int(self.model_ids.min()), int(self.model_ids.max())
        words = stream_words32(key, iteration, self.stream_ids[item], self.tag, (hi - lo + 1) * n8,
                               first_block=lo * n8 // 8).reshape(hi - lo + 1, n8)
        rows = self.model_ids - lo
        if np.array_equal(rows, np.arange(hi - lo + 1)):
            return words[:, :self.n]
        return words[rows, :self.n]

    def sstep(self, iteration: int) -> np.ndarray:
        """``(B, G, n)`` 32-bit words (as float64) for the S-step of ``iteration``; ``u = (w + 0.5) / 2**32``."""
        return np.stack([self.sstep_words(iteration, b) for b in range(len(self.stream_ids))]).astype(np.float64)
