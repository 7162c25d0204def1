"""Philox4x64-10, the counter-based generator of Salmon et al. (2011), on NumPy and CUDA.

Every random draw of the attribute selection (k-means starts, S-step labels, the held-out
split) is a pure function of ``(key, counter)``: nothing depends on the order in which fits
are batched, chunked or scheduled, and the S-step kernel of ``kernels/gmm/gmm.cu`` computes the
same numbers on a GPU, so a seed gives the same result on both backends.

Why 4x64 rather than 4x32: NumPy ships a C implementation of exactly Random123's
``philox4x64_10`` (:class:`numpy.random.Philox`), which makes the CPU path fast; the vectorised
reference :func:`philox4x64` here is written independently and tested against it and against
the published known-answer vectors.

Stream layout used by this package (``counter = (block, c1, c2, c3)``, ``key = (seed, purpose)``):
a stream is a run of consecutive ``block`` values with fixed ``c1, c2, c3``; block ``b`` gives
four 64-bit words, i.e. eight 32-bit words in little-endian order (low half first).
"""

from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
#: Round multipliers and Weyl key increments of Philox4x64 (Random123).
PHILOX_M0 = np.uint64(0xD2E7470EE14C6C93)
PHILOX_M1 = np.uint64(0xCA5A826395121157)
PHILOX_W0 = np.uint64(0x9E3779B97F4A7C15)
PHILOX_W1 = np.uint64(0xBB67AE8584CAA73B)
ROUNDS = 10
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

#: ``purpose`` word of the key for each use of random numbers (second key word).
PURPOSE = {"kmeans": 1, "sstep": 2, "split": 3}


def _mulhilo64(a: np.ndarray, b: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """High and low 64-bit halves of ``a * b`` (NumPy has no 128-bit product: split in 32-bit limbs)."""
    a_lo, a_hi = a & _LO32, a >> _S32
    b_lo, b_hi = b & _LO32, b >> _S32
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    hi_hi = a_hi * b_hi
    cross = (lo_lo >> _S32) + (hi_lo & _LO32) + lo_hi
    hi = hi_hi + (hi_lo >> _S32) + (cross >> _S32)
    return hi, a * b


def philox4x64(counter, key, rounds: int = ROUNDS) -> np.ndarray:
    """Philox4x64 of a stack of counters: the reference, written from the paper.

    Parameters
    ----------
    counter : array_like of uint64, shape (..., 4)
    key : array_like of uint64, shape (..., 2)
        Broadcast against ``counter``.
    rounds : int
        10 for Philox4x64-10.

    Returns
    -------
    ndarray of uint64, shape (..., 4)
    """
    with np.errstate(over="ignore"):
        c = np.asarray(counter, dtype=np.uint64)
        k = np.asarray(key, dtype=np.uint64)
        c0, c1, c2, c3 = (c[..., i].copy() for i in range(4))
        k0, k1 = k[..., 0].copy(), k[..., 1].copy()
        for r in range(rounds):
            if r:
                k0 = k0 + PHILOX_W0
                k1 = k1 + PHILOX_W1
            hi0, lo0 = _mulhilo64(c0, PHILOX_M0)
            hi1, lo1 = _mulhilo64(c2, PHILOX_M1)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        return np.stack(np.broadcast_arrays(c0, c1, c2, c3), axis=-1)


def key_for(seed: int, purpose: str) -> tuple[int, int]:
    """The key of a seed and a purpose (``"kmeans"``, ``"sstep"``, ``"split"``)."""
    return int(seed) & MASK64, PURPOSE[purpose]


def stream_words32(key: tuple[int, int], c1: int, c2: int, c3: int, n_words: int, *,
                   first_block: int = 0) -> np.ndarray:
    """``n_words`` 32-bit words of the stream ``counter = (first_block + b, c1, c2, c3)``, fast.

    Uses :class:`numpy.random.Philox` (C code), whose generator increments the 256-bit counter
    *before* each block: start it one below the first counter.
    """
    n_blocks = -(-int(n_words) // 8)
    start = ((int(first_block) | (int(c1) << 64) | (int(c2) << 128) | (int(c3) << 192)) - 1) % (1 << 256)
    ctr = [(start >> (64 * i)) & MASK64 for i in range(4)]
    gen = np.random.Philox(counter=np.array(ctr, dtype=np.uint64),
                          key=np.array([int(key[0]) & MASK64, int(key[1]) & MASK64], dtype=np.uint64))
    return gen.random_raw(4 * n_blocks).view(np.uint32)[:n_words]


def reference_words32(key, c1, c2, c3, n_words: int, *, first_block: int = 0) -> np.ndarray:
    """Same numbers as :func:`stream_words32` from :func:`philox4x64` (for tests)."""
    n_blocks = -(-int(n_words) // 8)
    ctr = np.zeros((n_blocks, 4), np.uint64)
    ctr[:, 0] = np.arange(first_block, first_block + n_blocks, dtype=np.uint64)
    ctr[:, 1], ctr[:, 2], ctr[:, 3] = np.uint64(c1), np.uint64(c2), np.uint64(c3)
    out = philox4x64(ctr, np.array([key[0], key[1]], np.uint64))
    return np.ascontiguousarray(out).view(np.uint32).reshape(-1)[:n_words]


def to_unit(words: np.ndarray) -> np.ndarray:
    """32-bit words -> float64 uniforms in the open interval (0, 1): ``(w + 0.5) / 2**32``."""
    return (words.astype(np.float64) + 0.5) * (1.0 / 4294967296.0)


def uniforms(key, c1: int, c2: int, c3: int, n: int, *, first_block: int = 0) -> np.ndarray:
    """``n`` float64 uniforms of one stream (see :func:`stream_words32`)."""
    return to_unit(stream_words32(key, c1, c2, c3, n, first_block=first_block))
