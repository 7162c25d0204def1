"""Damage a store can suffer, found when it is read: missing chunks and chunk bytes that changed.

Two facts make damage detectable (docs/reliability.md):

- **every chunk is written.** facies sets Zarr's ``array.write_empty_chunks`` so that a chunk equal
  to the fill value (a dead region, NaN) is stored like any other. The chunk grid of an array is then
  the record of what a complete array must hold: a missing chunk file is damage, never "fill value".
  Stores that record this carry ``integrity.all_chunks`` in the group's ``facies`` attributes; older
  stores do not, and a missing chunk there reads as the fill value, as plain Zarr does.
- **every chunk carries a checksum.** Arrays end their codec chain with Zarr v3's standard ``crc32c``
  codec (readable by any Zarr v3 reader), so flipped or truncated bytes are found before decoding.

:class:`CheckedStore` is the :class:`zarr.storage.LocalStore` that facies opens surveys with. On every
chunk read it checks both facts and raises :class:`DamagedArrayError`, one line naming the array and
the chunk, instead of handing out zeros or a codec traceback. Arrays still being written (marked
``complete: false``) and the run ledgers under ``_runs`` may miss chunks: that is what unwritten means.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np
from zarr.storage import LocalStore

from facies.engine.errors import FaciesError
from facies.engine.schema import ALL_CHUNKS_FIELD, COMPLETE_FIELD, FACIES_KEY, INTEGRITY_FIELD, SPARSE_GROUPS

#: Bytes the crc32c codec appends to each chunk.
CHECKSUM_BYTES = 4


class DamagedArrayError(FaciesError):
    """A chunk of an array is missing or its bytes do not match their checksum."""


def damage_message(store_path, array: str, chunk: tuple[int, ...] | None, what: str) -> str:
    """The one-line message for a damaged array (what is wrong, where, how to recover)."""
    where = f"chunk {chunk_label(chunk)} " if chunk is not None else ""
    return (f"array {array!r} in {store_path} is damaged: {where}{what}; run 'facies verify {store_path}' "
            "for the whole list, then re-run the command that made the array (its provenance in 'facies info')")


def damage_found(error: DamagedArrayError) -> str:
    """What the chunk check found (``chunk 0 is missing``), without the array's name and the remedy.

    The inverse of :func:`damage_message`, for readers that name the damaged table or model themselves.
    """
    message = str(error)
    return message.partition(" is damaged: ")[2].split("; ")[0] or message.split("; ")[0]


def chunk_label(chunk: tuple[int, ...]) -> str:
    """``(1, 0, 3)`` -> ``"1.0.3"`` (the chunk's grid index, as Zarr names its file ``c/1/0/3``)."""
    return ".".join(str(i) for i in chunk) or "0"


def split_chunk_key(key: str) -> tuple[str, tuple[int, ...]] | None:
    """``"amp/c/1/0/3"`` -> ``("amp", (1, 0, 3))``; None for a key that is not a chunk's.

    Zarr v3's default chunk key encoding is ``<array path>/c/<i>/<j>/...``; scanning from the end
    keeps a group or array literally named ``c`` from being taken for the chunk prefix.
    """
    parts = key.split("/")
    n = len(parts)
    while n > 0 and parts[n - 1].isdigit():
        n -= 1
    if n < 2 or parts[n - 1] != "c":
        return None
    return "/".join(parts[:n - 1]), tuple(int(p) for p in parts[n:])


def store_attributes(root) -> dict | None:
    """The ``facies`` attributes of the group at ``root`` (its ``zarr.json``); None when unreadable or absent."""
    try:
        meta = json.loads((Path(root) / "zarr.json").read_bytes())
        facies = meta["attributes"][FACIES_KEY] if meta.get("node_type") == "group" else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return facies if isinstance(facies, dict) else None


def checksum_ok(data) -> bool:
    """Whether chunk bytes end with the crc32c (little-endian) of the bytes before it."""
    data = np.asarray(data).reshape(-1).view(np.uint8)
    if data.size < CHECKSUM_BYTES:
        return False
    stored = int.from_bytes(data[-CHECKSUM_BYTES:].tobytes(), "little")
    return google_crc32c.value(data[:-CHECKSUM_BYTES]) == stored


@dataclass(frozen=True)
class ArrayFacts:
    """What a chunk check needs to know of an array, from its ``zarr.json``."""

    checksummed: bool
    may_miss_chunks: bool


class CheckedStore(LocalStore):
    """A local Zarr store that refuses to hand out a missing or altered chunk of a whole array.

    Parameters
    ----------
    root : path-like
        Folder of the survey store.
    read_only : bool
        Open without write access.
    """

    def __init__(self, root, *, read_only: bool = False):
        super().__init__(root, read_only=read_only)
        self._facts: dict[str, tuple[tuple[int, int], ArrayFacts]] = {}
        self._all_chunks = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_facts"] = {}  # a cache; another process re-reads the metadata
        return state

    async def get(self, key, prototype=None, byte_range=None):
        data = await super().get(key, prototype, byte_range)
        parsed = split_chunk_key(key)
        if parsed is None or parsed[0].split("/")[0] in SPARSE_GROUPS:
            return data
        array, chunk = parsed
        if data is None:
            if not self._may_miss(array):
                raise DamagedArrayError(damage_message(self.root, array, chunk, "is missing"))
            return None
        if byte_range is None and self.facts(array).checksummed and not checksum_ok(data.as_numpy_array()):
            raise DamagedArrayError(damage_message(self.root, array, chunk, "does not match its checksum"))
        return data

    # ------------------------------------------------------------------ what the metadata says
    def facts(self, array: str) -> ArrayFacts:
        """Checksum and completeness of ``array``, cached until its ``zarr.json`` changes."""
        meta_path = Path(self.root) / array / "zarr.json"
        try:
            stat = os.stat(meta_path)
        except OSError:
            raise DamagedArrayError(damage_message(self.root, array, None, "its zarr.json is missing")) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._facts.get(array)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            meta = json.loads(meta_path.read_bytes())
            codecs = [c.get("name") if isinstance(c, dict) else c for c in meta.get("codecs", [])]
            facies = (meta.get("attributes") or {}).get(FACIES_KEY) or {}
            facts = ArrayFacts(checksummed="crc32c" in codecs,
                               may_miss_chunks=isinstance(facies, dict) and facies.get(COMPLETE_FIELD) is False)
        except (ValueError, AttributeError, TypeError):
            raise DamagedArrayError(damage_message(self.root, array, None, "its zarr.json cannot be read")) from None
        self._facts[array] = (stamp, facts)
        return facts

    def records_all_chunks(self) -> bool:
        """Whether this store was made writing every chunk (so a missing one is damage).

        A store records it at creation and never takes it back, so a True answer is kept.
        """
        if not self._all_chunks:
            facies = store_attributes(self.root) or {}
            integrity = facies.get(INTEGRITY_FIELD)
            self._all_chunks = isinstance(integrity, dict) and integrity.get(ALL_CHUNKS_FIELD) is True
        return self._all_chunks

    def _may_miss(self, array: str) -> bool:
        return not self.records_all_chunks() or self.facts(array).may_miss_chunks
