"""Where things are in a SEG-Y file: textual and binary headers, trace records.

A SEG-Y file is a 3200-byte textual header, a 400-byte binary header, optional 3200-byte
extended textual headers, then fixed-length trace records (240-byte trace header + ``ns``
samples). :func:`read_layout` reads the file-level facts once, and checks them against the
file size, so every later read can address trace ``k`` as ``data_offset + k * record_size``.

The sample count is taken from the binary header (byte 3221, or the SEG-Y rev 2 extended
count at 3269), falling back to the first trace header (byte 115) — the same priority as
segyio — but only a count that makes the file a whole number of trace records is accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.segy.formats import sample_dtype

TEXT_HEADER_SIZE = 3200
BINARY_HEADER_SIZE = 400
TRACE_HEADER_SIZE = 240
#: Byte positions (1-based, as the SEG-Y standard numbers them) in the binary header.
BIN_INTERVAL, BIN_SAMPLES, BIN_FORMAT, BIN_MEASUREMENT = 3217, 3221, 3225, 3255
BIN_EXT_SAMPLES, BIN_REVISION, BIN_FIXED_LENGTH, BIN_EXT_HEADERS = 3269, 3501, 3503, 3505
#: Binary header fields an export writes besides those: traces per ensemble, the original interval and
#: sample count, ensemble fold, trace sorting code.
BIN_ENSEMBLE_TRACES, BIN_ORIGINAL_INTERVAL, BIN_ORIGINAL_SAMPLES, BIN_FOLD, BIN_SORTING = 3213, 3219, 3223, 3227, 3229
#: Byte positions in the trace header.
TR_SAMPLES, TR_INTERVAL, TR_DELAY, TR_TIME_SCALAR = 115, 117, 109, 215
#: Trace sequence numbers within the line and the file, trace identification code.
TR_SEQUENCE_LINE, TR_SEQUENCE_FILE, TR_IDENTIFICATION = 1, 5, 29


@dataclass(frozen=True)
class SegyLayout:
    """File-level facts of one SEG-Y file.

    Attributes
    ----------
    path : Path
    endian : {">", "<"}
        Byte order (SEG-Y is big-endian; some writers produce little-endian files).
    format_code : int
        Sample format (binary header byte 3225).
    n_samples : int
    interval : int
        Sample interval from the binary header (byte 3217, else trace byte 117): microseconds
        for time data; by convention millimetres (or 1/1000 ft) for depth data.
    n_traces : int
    data_offset : int
        Byte offset of the first trace record.
    record_size : int
        240 + n_samples * bytes per sample.
    measurement_system : int
        Binary header byte 3255: 1 metres, 2 feet, 0 unknown.
    revision : int
        SEG-Y revision (major) from byte 3501.
    text : str
        The textual header decoded to ASCII (EBCDIC detected automatically).
    """

    path: Path
    endian: str
    format_code: int
    n_samples: int
    interval: int
    n_traces: int
    data_offset: int
    record_size: int
    measurement_system: int
    revision: int
    text: str

    @property
    def itemsize(self) -> int:
        """Bytes per sample."""
        return (self.record_size - TRACE_HEADER_SIZE) // self.n_samples

    @property
    def file_bytes(self) -> int:
        """Size of the whole file in bytes."""
        return self.data_offset + self.n_traces * self.record_size


def decode_text_header(raw: bytes) -> str:
    """Textual header as ASCII: EBCDIC (cp037) when it looks like EBCDIC, else ASCII/Latin-1."""
    # EBCDIC 'C' is 0xC3 and space 0x40; ASCII text has few bytes above 0x7F.
    ebcdic_score = sum(1 for b in raw[:800] if b in (0x40, 0xC3)) / max(len(raw[:800]), 1)
    codec = "cp037" if ebcdic_score > 0.2 or raw[:1] == b"\xc3" else "latin-1"
    text = raw.decode(codec, errors="replace")
    return "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)


def _field(buf: bytes, byte: int, size: int, endian: str, base: int = TEXT_HEADER_SIZE) -> int:
    start = byte - 1 - base
    return int(np.frombuffer(buf[start:start + size], dtype=f"{endian}i{size}")[0])


def read_layout(path: str | os.PathLike) -> SegyLayout:
    """Read and check the file-level headers of a SEG-Y file.

    Raises
    ------
    FaciesError
        Not a SEG-Y file, unsupported sample format, variable-length traces, or a truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise FaciesError(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(TEXT_HEADER_SIZE + BINARY_HEADER_SIZE)
        if len(head) < TEXT_HEADER_SIZE + BINARY_HEADER_SIZE:
            raise FaciesError(f"{path} is not a SEG-Y file: only {size} bytes, less than the 3600-byte file header")
        binary = head[TEXT_HEADER_SIZE:]
        endian = _detect_endian(binary, path)
        fmt = _field(binary, BIN_FORMAT, 2, endian)
        dtype = sample_dtype(fmt, endian, path)
        n_ext = _field(binary, BIN_EXT_HEADERS, 2, endian)
        revision = (_field(binary, BIN_REVISION, 2, endian) >> 8) & 0xFF
        if n_ext < 0:
            raise FaciesError(f"{path} declares a variable number of extended textual headers; "
                              "rewrite it with a fixed count (e.g. with segyio)")
        data_offset = TEXT_HEADER_SIZE + BINARY_HEADER_SIZE + TEXT_HEADER_SIZE * n_ext
        f.seek(data_offset)
        first_trace = f.read(TRACE_HEADER_SIZE)
    if len(first_trace) < TRACE_HEADER_SIZE:
        raise FaciesError(f"{path} has no traces after its headers ({size} bytes); the file is empty or truncated")
    trace_ns = _field(first_trace, TR_SAMPLES, 2, endian, base=0) & 0xFFFF
    candidates = [_field(binary, BIN_SAMPLES, 2, endian) & 0xFFFF]
    if revision >= 2:
        candidates.append(_field(binary, BIN_EXT_SAMPLES, 4, endian))
    candidates.append(trace_ns)
    body = size - data_offset
    n_samples = None
    for ns in candidates:
        record = TRACE_HEADER_SIZE + ns * dtype.itemsize
        if ns > 0 and body % record == 0:
            n_samples = ns
            break
    if n_samples is None:
        ns = next((c for c in candidates if c > 0), 0)
        if ns == 0:
            raise FaciesError(f"{path}: the headers give no sample count (binary byte 3221 and trace byte 115 are 0); "
                              "not a valid SEG-Y file")
        record = TRACE_HEADER_SIZE + ns * dtype.itemsize
        raise FaciesError(f"{path} is truncated or inconsistent: {body} bytes of traces is not a whole number of "
                          f"{record}-byte records ({ns} samples of {dtype.itemsize} bytes; {body % record} bytes left "
                          "over); copy the file again or check its sample count")
    interval = _field(binary, BIN_INTERVAL, 2, endian) & 0xFFFF
    if interval == 0:
        interval = _field(first_trace, TR_INTERVAL, 2, endian, base=0) & 0xFFFF
    record = TRACE_HEADER_SIZE + n_samples * dtype.itemsize
    return SegyLayout(path=path, endian=endian, format_code=fmt, n_samples=n_samples, interval=interval,
                      n_traces=body // record, data_offset=data_offset, record_size=record,
                      measurement_system=_field(binary, BIN_MEASUREMENT, 2, endian), revision=revision,
                      text=decode_text_header(head[:TEXT_HEADER_SIZE]))


def _detect_endian(binary: bytes, path: Path) -> str:
    """Big-endian unless the format code only makes sense little-endian."""
    for endian in (">", "<"):
        if 1 <= _field(binary, BIN_FORMAT, 2, endian) <= 16:
            return endian
    raise FaciesError(f"{path} is not a SEG-Y file: the binary header's sample format code (bytes 3225-3226) "
                      "is not a valid SEG-Y code; check that this is a SEG-Y file")
