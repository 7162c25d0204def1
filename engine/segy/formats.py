"""SEG-Y sample formats: which codes we read, and vectorised IBM float conversion.

IBM System/360 single precision: sign bit, 7-bit base-16 exponent biased by 64, 24-bit
fraction; value = (-1)^s * 0.f * 16^(e - 64). Every IBM fraction has at most 24 significant
bits, so the conversion to IEEE float32 below (an exact float64 product, then one rounding)
is exact for every value in float32's normal range. Encoding rounds the 24-bit fraction to
nearest; an IEEE float32 with more than 21 significant bits may lose up to 3 low bits.
"""

from __future__ import annotations

import numpy as np

from facies.engine.errors import FaciesError

IBM_FLOAT = 1
IEEE_FLOAT = 5
#: SEG-Y format code -> (NumPy kind and size, name). Code 1 (IBM) is stored as uint32 bits.
FORMATS = {
    1: ("u4", "4-byte IBM float"),
    2: ("i4", "4-byte signed integer"),
    3: ("i2", "2-byte signed integer"),
    5: ("f4", "4-byte IEEE float"),
    6: ("f8", "8-byte IEEE float"),
    8: ("i1", "1-byte signed integer"),
    9: ("i8", "8-byte signed integer"),
    10: ("u4", "4-byte unsigned integer"),
    11: ("u2", "2-byte unsigned integer"),
    12: ("u8", "8-byte unsigned integer"),
    16: ("u1", "1-byte unsigned integer"),
}
_UNSUPPORTED = {4: "4-byte fixed point with gain (obsolete)", 7: "3-byte signed integer",
                15: "3-byte unsigned integer"}

# 16^(e - 64) / 2^24 for every 7-bit exponent e: a table lookup is faster than ldexp.
_IBM_SCALE = np.ldexp(1.0, 4 * (np.arange(128) - 64) - 24)


def format_name(code: int) -> str:
    """Human name of a SEG-Y sample format code."""
    return FORMATS.get(code, (None, _UNSUPPORTED.get(code, f"code {code}")))[1]


def sample_dtype(code: int, endian: str = ">", path=None) -> np.dtype:
    """NumPy dtype of the raw samples of format ``code`` (IBM as unsigned 32-bit words)."""
    if code not in FORMATS:
        where = f"{path}: " if path else ""
        raise FaciesError(f"{where}sample format {format_name(code)} (binary header byte 3225 = {code}) is not "
                          f"supported; supported: {', '.join(f'{c} ({n})' for c, (_, n) in FORMATS.items())}")
    return np.dtype(endian + FORMATS[code][0])


def ibm_to_float32(words: np.ndarray) -> np.ndarray:
    """Convert IBM float bit patterns (uint32, any byte order) to float32.

    Values below float32's range become 0 or subnormals, values above it +-inf.
    """
    words = np.asarray(words).astype(np.uint32, copy=False)
    fraction = (words & np.uint32(0x00FFFFFF)).astype(np.float64)
    exponent = (words >> np.uint32(24)) & np.uint32(0x7F)
    value = fraction * _IBM_SCALE[exponent]
    negative = (words >> np.uint32(31)).astype(bool)
    np.negative(value, out=value, where=negative)
    with np.errstate(over="ignore"):
        return value.astype(np.float32)


def float_to_ibm(values: np.ndarray) -> np.ndarray:
    """Encode floats as IBM float bit patterns (native uint32), fraction rounded to nearest.

    Magnitudes beyond IBM's range saturate at the largest IBM value; NaN is written as 0.
    """
    x = np.asarray(values, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.where(np.isnan(x), 0.0, np.sign(x) * 7.2370051e75))
    sign = np.signbit(x) & (x != 0)
    mag = np.abs(x)
    _, exp2 = np.frexp(mag)  # mag = m * 2^exp2 with 0.5 <= m < 1
    hex_exp = -((-exp2) // 4)  # ceil(exp2 / 4): mag / 16^hex_exp lies in [1/16, 1)
    fraction = np.rint(np.ldexp(mag, 24 - 4 * hex_exp)).astype(np.int64)
    carry = fraction >= (1 << 24)  # rounding up to 1.0: renormalise
    fraction = np.where(carry, fraction >> 4, fraction)
    hex_exp = hex_exp + carry
    biased = hex_exp + 64
    too_big = biased > 127
    fraction = np.where(too_big, 0xFFFFFF, fraction)
    biased = np.clip(biased, 0, 127)
    too_small = (hex_exp + 64 < 0) | (fraction == 0)
    words = (sign.astype(np.int64) << 31) | (biased.astype(np.int64) << 24) | fraction
    return np.where(too_small, 0, words).astype(np.uint32)


def decode_samples(raw: np.ndarray, code: int, endian: str = ">") -> np.ndarray:
    """Samples of shape (n_traces, n_samples) as float32 from the raw bytes of the trace bodies.

    Parameters
    ----------
    raw : ndarray of uint8, shape (n_traces, n_samples * itemsize)
        Trace bodies (contiguous along the last axis).
    code : int
        SEG-Y sample format code.
    endian : {">", "<"}
    """
    dtype = sample_dtype(code, endian)
    words = np.ascontiguousarray(raw).view(dtype)
    if code == IBM_FLOAT:
        return ibm_to_float32(words)
    return words.astype(np.float32)
