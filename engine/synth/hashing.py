"""Counter-based random numbers: a value is a pure function of (seed, stream, counter).

The synthetic survey is generated brick by brick, in any order and with any brick shape, and
must come out bit-identical. A stateful generator cannot do that; a hash of the global voxel
index can. We use the SplitMix64 finaliser (Steele, Lea and Flood 2014; the mixing constants
are Stafford's "Mix13") on ``key + counter * golden``, vectorised over uint64 NumPy arrays.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_TWO_PI = 2.0 * np.pi


def _mix_int(z: int) -> int:
    """SplitMix64 finaliser on a Python int (for keys: no NumPy overflow warnings)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int) -> np.uint64:
    """Key of one independent stream (noise, salt texture, ...) for a seed."""
    return np.uint64(_mix_int(_mix_int(int(seed) * _GOLDEN + 1) + (int(stream) + 1) * _GOLDEN))


def hash64(key: np.uint64, counter) -> np.ndarray:
    """SplitMix64 of ``key + counter * golden``, elementwise; ``counter`` is any integer array."""
    z = np.asarray(counter).astype(np.uint64, copy=True)
    z *= np.uint64(_GOLDEN)
    z += key
    z ^= z >> np.uint64(30)
    z *= np.uint64(_MIX1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MIX2)
    z ^= z >> np.uint64(31)
    return z


def uniform(key: np.uint64, counter) -> np.ndarray:
    """Uniform float64 in the open interval (0, 1) from the top 53 bits of the hash."""
    top = (hash64(key, counter) >> np.uint64(11)).astype(np.float64)
    top += 0.5
    top *= 2.0 ** -53
    return top


def normal(key: np.uint64, counter) -> np.ndarray:
    """Standard normal float64 by Box-Muller from two hashes of the same counter.

    The second uniform uses a key derived from the first, so one key names one stream.
    """
    radius = np.sqrt(-2.0 * np.log(uniform(key, counter)))
    angle = uniform(np.uint64(_mix_int(int(key) ^ _GOLDEN)), counter)
    angle *= _TWO_PI
    return radius * np.cos(angle)
