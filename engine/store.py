"""The survey store: one Zarr v3 group per survey, named as MDIO names things.

Layout (DESIGN.md, "The survey store")::

    survey.zarr/
      inline (n_il,) int32 · crossline (n_xl,) int32 · time|depth (n_s,) float32
      cdp_x, cdp_y (n_il, n_xl) float64 · trace_mask (n_il, n_xl) bool
      amplitude, <attributes>, results (n_il, n_xl, n_s)

Every array carries ``dimension_names`` so ``xarray.open_zarr(path, consolidated=False)``
reads the store as a Dataset. Every 3D array carries, under the ``facies`` attribute key,
its kind, whether it is complete, and its provenance; the group's ``facies`` key holds the
format version, sample axis, unit and interval and an index of every array's provenance.

An array is created *incomplete* and marked complete only after all its chunks are written,
so an interrupted command never leaves an array that looks finished.

Group attributes are shared by every command (provenance index, SEG-Y facts, the latest
attribute selection) and Zarr rewrites the group's whole ``zarr.json`` on every change, from
the copy it read at open. So every change goes through :meth:`Survey.update_attrs`, which
serialises writers across processes with a lock file and re-reads the attributes first.
"""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.integrity import CheckedStore, DamagedArrayError, damage_message, store_attributes
from facies.engine.locks import RUNS_GROUP, acquire_locks, read_locks, release_locks
from facies.engine.provenance import jsonable

# Every chunk is written, fill value or not, so that the chunk grid is the record of what a complete
# array holds and a missing chunk file is damage (facies.engine.integrity). Zarr reads this setting
# when an array object is made, so it is set once here, before facies opens any array.
zarr.config.set({"array.write_empty_chunks": True})

FORMAT_VERSION = 1
#: Storage chunks: small enough for random access (MDIO uses 128 cubed).
DEFAULT_CHUNKS = (128, 128, 128)
#: Array kinds. Attributes are the inputs interpreters choose from; the others are made by facies.
KINDS = ("attribute", "label", "result")
COMPRESSIONS = ("zstd", "none")
_LATERAL = ("cdp_x", "cdp_y", "trace_mask")
_RESERVED = {"inline", "crossline", "time", "depth", *_LATERAL}
#: Groups of the store: no array may take their names.
_GROUPS = {"training", "models"}
#: Longest name (UTF-8 bytes) of an array, table or model: file names made from it stay under 255 bytes.
MAX_NAME_BYTES = 200
#: Lock file serialising group-attribute writers. It lives in the ledger's ``_runs`` group (which
#: already holds lock files) because a stray file at the root makes Zarr warn on every listing.
ATTRS_LOCK = "group.lock"


def compressors(compression: str) -> list:
    """The bytes-to-bytes codecs of a facies array: the compression, then a crc32c checksum.

    The checksum is Zarr v3's standard ``crc32c`` codec, so any Zarr v3 reader still reads the
    store; facies checks it before decoding (facies.engine.integrity).
    """
    if compression == "zstd":
        # Level 1: seismic floats gain little from higher levels and the writer must keep up with ingest.
        return [ZstdCodec(level=1), Crc32cCodec()]
    if compression == "none":
        return [Crc32cCodec()]
    raise FaciesError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")


def clip_chunks(chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunk shape no larger than the array (Zarr allows more, but it wastes space on small surveys)."""
    if len(chunks) != len(shape) or any(int(c) < 1 for c in chunks):
        raise FaciesError(f"chunks {tuple(chunks)} must be {len(shape)} positive integers")
    return tuple(max(1, min(int(c), int(s))) for c, s in zip(chunks, shape))


def check_name(name: str, what: str = "array") -> None:
    """Raise FaciesError unless ``name`` can name an array, training table or model of a store.

    Names become Zarr keys, file names (``_runs/<name>.run.lock``) and parts of array names
    (``facies_<model>``): letters, digits, '_' and '-', not starting with '_', '-' or '.' (those are the
    store's own, like ``_runs``), and at most :data:`MAX_NAME_BYTES` bytes in UTF-8, so that every file
    name made from it fits the 255 bytes file systems allow.
    """
    if not name or name[0] in "_-." or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise FaciesError(f"{what} name {name[:40]!r} is not valid; use letters, digits, '_' and '-' (not first)")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise FaciesError(f"{what} name {name[:20]!r}... is {size} bytes long in UTF-8; names are at most "
                          f"{MAX_NAME_BYTES} bytes (they become file names in the store): choose a shorter one")


def check_array_name(name: str) -> None:
    """Raise FaciesError unless ``name`` can name a new 3D array of a store.

    Commands call it before anything else (their lock files are named after their outputs), so a
    bad name gets this message, not a traceback.
    """
    check_name(name, "array")
    if name in _RESERVED:
        raise FaciesError(f"{name!r} is a coordinate name of the store; choose another array name")
    if name in _GROUPS:
        raise FaciesError(f"{name!r} is the name of the store's {name} group; choose another array name")


def is_store(path) -> bool:
    """Whether ``path`` is a folder holding a facies survey store (its root ``zarr.json`` says so)."""
    facies = store_attributes(path)
    return facies is not None and "format_version" in facies


def check_replaceable_store(path) -> None:
    """Raise FaciesError unless ``--overwrite`` may remove ``path``: a facies survey store, not a link.

    Never a symbolic link (not what it points to either), the current folder or one above it, a
    file, or a folder that is not a facies store.
    """
    path = Path(path)
    if path.is_symlink():
        raise FaciesError(f"{path} is a symbolic link; facies replaces only a store it made, not what a link "
                          "points to: remove the link or choose another path")
    if not path.is_dir():
        raise FaciesError(f"{path} is a file, not a survey store; remove it yourself or choose another path")
    resolved, here = path.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise FaciesError(f"{path} is the current folder or one above it; facies will not replace it: "
                          "choose another path")
    if not is_store(path):
        raise FaciesError(f"{path} exists and is not a facies survey store; facies replaces only stores it made: "
                          "remove it yourself or choose another path")


def remove_store(path) -> None:
    """Delete the survey store at ``path``, after checking that it is one facies made and nobody uses it.

    ``--overwrite`` of a store ends here (:func:`check_replaceable_store`), and never removes a store
    that a running command holds a lock in.

    Raises
    ------
    FaciesError
        Naming what was refused and why; nothing is removed then.
    """
    path = Path(path)
    check_replaceable_store(path)
    with _all_runs_idle(path):
        shutil.rmtree(path)


@contextmanager
def _all_runs_idle(path: Path) -> Iterator[None]:
    """Hold the store's lock exclusively (no command holds any lock in it), or raise ArrayBusyError."""
    held = acquire_locks(path, [], whole_store=True)
    try:
        yield
    finally:
        release_locks(held)


class Survey:
    """A survey store on disk.

    Use :meth:`create` for a new store and :meth:`open` for an existing one.

    Examples
    --------
    >>> survey = Survey.open("survey.zarr")                   # doctest: +SKIP
    >>> survey.attributes()                                   # doctest: +SKIP
    ['amplitude', 'envelope', ...]
    >>> block = survey.read("envelope", inline=slice(0, 10))  # doctest: +SKIP
    """

    def __init__(self, group: zarr.Group, path: Path):
        self.group = group
        self.path = Path(path)
        self._geometry: Geometry | None = None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, path: str | os.PathLike, geometry: Geometry, *, chunks=DEFAULT_CHUNKS,
               compression: str = "zstd", overwrite: bool = False,
               provenance: Mapping[str, Any] | None = None) -> Survey:
        """Create a new store holding ``geometry`` and no 3D arrays yet.

        Parameters
        ----------
        path : path-like
            Folder of the new store (conventionally ending in ``.zarr``).
        geometry : Geometry
            Axes and trace headers.
        chunks : tuple of 3 int, optional
            Storage chunks of every 3D array, clipped to the survey's shape.
        compression : {"zstd", "none"}
            Codec of the 3D arrays.
        overwrite : bool
            Replace an existing store; otherwise an existing path is an error.
        provenance : mapping, optional
            What created the store (kept in the group attributes).
        """
        path = Path(path)
        compressors(compression)  # validate early
        chunks = clip_chunks(tuple(chunks), geometry.shape)
        if path.exists() or path.is_symlink():
            if overwrite:
                remove_store(path)
            elif not path.is_dir():
                raise FaciesError(f"{path} is a file, not a survey store; remove it or choose another path")
            else:
                raise FaciesError(f"{path} already exists; choose another path"
                                  + (" or pass --overwrite to replace that survey store" if is_store(path) else ""))
        try:
            path.mkdir()  # atomic: of two commands creating the same store, the second fails here
        except FileExistsError:
            raise FaciesError(f"{path} was created by another command just now; choose another path") from None
        except FileNotFoundError:
            raise FaciesError(f"the folder {path.parent} does not exist; create it first or choose another path") from None
        group = zarr.open_group(store=CheckedStore(path), mode="w-", zarr_format=3)
        group.attrs["facies"] = {
            "format_version": FORMAT_VERSION,
            "sample_axis": geometry.sample_axis,
            "sample_unit": geometry.sample_unit,
            "sample_interval": geometry.sample_interval,
            "chunks": list(chunks),
            "compression": compression,
            # Every chunk of every array is written, so a missing one is damage (facies.engine.integrity).
            "integrity": {"all_chunks": True, "checksum": "crc32c"},
            "created": jsonable(dict(provenance or {})),
            "provenance": {},
        }
        survey = cls(group, path)
        survey._write_geometry(geometry)
        return survey

    @classmethod
    def open(cls, path: str | os.PathLike, mode: str = "r+") -> Survey:
        """Open an existing store (``mode="r"`` for read-only)."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise FaciesError(f"{path} is not a survey store (no zarr.json); create one with 'facies ingest' or 'facies synth'")
        try:
            group = zarr.open_group(store=CheckedStore(path, read_only=mode == "r"), mode=mode, zarr_format=3)
        except Exception as exc:  # zarr raises several types for a broken store
            reason = " ".join(str(exc).split())[:200]
            raise FaciesError(f"cannot open {path} as a Zarr v3 group ({reason}); its zarr.json is damaged or "
                              "not a store's") from None
        if not isinstance(group.attrs.get("facies"), Mapping) or "format_version" not in group.attrs["facies"]:
            raise FaciesError(f"{path} is a Zarr group but not a facies survey store (no 'facies' attributes)")
        version = group.attrs["facies"].get("format_version")
        if version != FORMAT_VERSION:
            raise FaciesError(f"{path} has store format {version}; this facies reads format {FORMAT_VERSION}")
        return cls(group, path)

    def _write_geometry(self, g: Geometry) -> None:
        g_axes = (("inline", g.inlines), ("crossline", g.crosslines), (g.sample_axis, g.samples))
        for name, values in g_axes:
            self.group.create_array(name, data=values, chunks=values.shape, dimension_names=[name],
                                    compressors=compressors("zstd"),
                                    attributes={"units": g.sample_unit} if name == g.sample_axis else {})
        lateral_chunks = self.chunks[:2]
        for name in _LATERAL:
            values = getattr(g, name)
            attrs = {"long_name": {"cdp_x": "CDP X", "cdp_y": "CDP Y", "trace_mask": "live trace"}[name]}
            self.group.create_array(name, data=values, chunks=lateral_chunks,
                                    dimension_names=["inline", "crossline"], attributes=attrs,
                                    compressors=[ZstdCodec(level=3), Crc32cCodec()])

    # ------------------------------------------------------------------ geometry
    @property
    def meta(self) -> dict:
        """The group's ``facies`` attributes (format version, axis, chunks, provenance index)."""
        return dict(self.group.attrs["facies"])

    @property
    def geometry(self) -> Geometry:
        """The survey's axes and trace headers (read once, then cached)."""
        if self._geometry is None:
            meta = self.meta
            axis = meta["sample_axis"]
            self._geometry = Geometry(
                inlines=self.group["inline"][...], crosslines=self.group["crossline"][...],
                samples=self.group[axis][...], sample_axis=axis, sample_unit=meta["sample_unit"],
                cdp_x=self.group["cdp_x"][...], cdp_y=self.group["cdp_y"][...],
                trace_mask=self.group["trace_mask"][...])
        return self._geometry

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_inline, n_crossline, n_sample) of every 3D array."""
        return tuple(int(n) for n in self.group["trace_mask"].shape) + (int(self.group[self.meta["sample_axis"]].shape[0]),)

    @property
    def chunks(self) -> tuple[int, int, int]:
        """Storage chunks of 3D arrays created without explicit chunks."""
        return tuple(self.meta["chunks"])

    @property
    def dims(self) -> tuple[str, str, str]:
        """Dimension names of every 3D array."""
        return ("inline", "crossline", self.meta["sample_axis"])

    # ------------------------------------------------------------------ listing
    def volumes(self, *, include_incomplete: bool = False, kind: str | None = None) -> list[str]:
        """Names of the 3D arrays, sorted; only complete ones unless asked.

        An array whose metadata cannot be read is left out (see :meth:`unreadable`), so one
        damaged array does not stop the commands that do not read it.
        """
        names = []
        for name in self._member_names():
            if name in _RESERVED:
                continue
            try:
                node = self.group[name]
            except Exception:  # damaged zarr.json: reported by unreadable() and facies verify
                continue
            if not isinstance(node, zarr.Array) or node.ndim != 3:
                continue
            meta = node.attrs.get("facies", {})
            meta = meta if isinstance(meta, Mapping) else {}
            if kind is not None and meta.get("kind") != kind:
                continue
            if include_incomplete or meta.get("complete", False):
                names.append(name)
        return names

    def unreadable(self) -> dict[str, str]:
        """Top-level members whose ``zarr.json`` cannot be read: name -> reason (one line)."""
        broken = {}
        for name in self._member_names():
            try:
                self.group[name]
            except Exception as exc:
                broken[name] = " ".join(str(exc).split())[:200] or type(exc).__name__
        return broken

    def _member_names(self) -> list[str]:
        """Names of the store's top-level arrays and groups, sorted (from the folder, not Zarr's listing,
        which fails whole on one damaged member)."""
        return sorted(child.name for child in self.path.iterdir()
                      if not child.name.startswith(".") and (child / "zarr.json").is_file())

    def attributes(self) -> list[str]:
        """Names of the complete attribute volumes (the candidates for classification)."""
        return self.volumes(kind="attribute")

    def resolve_attributes(self, names=None) -> list[str]:
        """The attribute volumes a command works on: ``names`` checked, or every complete attribute.

        Parameters
        ----------
        names : sequence of str, optional
            Attribute names (duplicates dropped, order kept); None means all complete attributes.

        Raises
        ------
        FaciesError
            For an empty choice, an unknown or incomplete attribute, or a survey with none.
        """
        available = self.attributes()
        if names is None:
            if not available:
                raise FaciesError(f"survey {self.path} has no complete attribute volume; ingest or make some first")
            return available
        names = list(dict.fromkeys(names))
        if not names:
            raise FaciesError("no attribute chosen; name at least one (or ask for all of them)")
        unknown = [n for n in names if n not in available]
        if unknown:
            raise FaciesError(f"unknown attribute {unknown[0]!r}; the survey's attributes are "
                              f"{', '.join(available) or 'none'}")
        return names

    def has(self, name: str) -> bool:
        """Whether an array (complete or not, readable or not) of that name exists."""
        return (self.path / name / "zarr.json").is_file()

    def array(self, name: str, *, require_complete: bool = True) -> zarr.Array:
        """The Zarr array ``name``; a clear error if it is missing, damaged or unfinished."""
        if not self.has(name):
            have = ", ".join(self.volumes()) or "none"
            raise FaciesError(f"survey {self.path} has no array {name!r} (3D arrays: {have})")
        try:
            node = self.group[name]
        except Exception:
            raise DamagedArrayError(damage_message(self.path, name, None, "its zarr.json cannot be read")) from None
        if not isinstance(node, zarr.Array):
            raise FaciesError(f"{name!r} in {self.path} is a group of the store, not an array (3D arrays: "
                              f"{', '.join(self.volumes()) or 'none'})")
        meta = node.attrs.get("facies", {})
        complete = isinstance(meta, Mapping) and meta.get("complete", False)
        if require_complete and node.ndim == 3 and not complete:
            raise FaciesError(f"array {name!r} in {self.path} is incomplete (an interrupted run); "
                              "resume or re-run the command that makes it")
        return node

    def reading(self, *names: str):
        """Context manager: shared locks on the arrays ``names`` while a command reads them.

        A run replacing one of them meanwhile is refused (and a read while one runs is refused):
        see :mod:`facies.engine.locks`.

        Examples
        --------
        >>> with survey.reading("amplitude"):                  # doctest: +SKIP
        ...     data = survey.read("amplitude")
        """
        return read_locks(self.path, names)

    def is_complete(self, name: str) -> bool:
        """Whether all chunks of ``name`` were written by the command that made it."""
        return bool(self._facies_attrs(name).get("complete", False))

    def provenance(self, name: str) -> dict:
        """The provenance record of a 3D array."""
        return dict(self._facies_attrs(name).get("provenance") or {})

    def kind(self, name: str) -> str:
        """The kind of a 3D array (attribute, label or result)."""
        return self._facies_attrs(name).get("kind", "attribute")

    def _facies_attrs(self, name: str) -> dict:
        """The ``facies`` attributes of array ``name`` ({} when absent or not a mapping)."""
        meta = self.array(name, require_complete=False).attrs.get("facies", {})
        return dict(meta) if isinstance(meta, Mapping) else {}

    # ------------------------------------------------------------------ reading
    def read(self, name: str, inline=slice(None), crossline=slice(None), sample=slice(None)) -> np.ndarray:
        """Read a region of a 3D array by index (slices or integers), as NumPy.

        Use ``survey.geometry.inline_index(number)`` to turn line numbers into indices.
        """
        return np.asarray(self.array(name)[inline, crossline, sample])

    # ------------------------------------------------------------------ writing
    def create_volume(self, name: str, *, dtype="float32", kind: str = "attribute",
                      provenance: Mapping[str, Any], chunks=None, fill_value=0,
                      compression: str | None = None, overwrite: bool = False,
                      attributes: Mapping[str, Any] | None = None) -> zarr.Array:
        """Create an empty 3D array with the survey's geometry, marked incomplete.

        Call :meth:`mark_complete` once every chunk is written.

        Parameters
        ----------
        name : str
            Array name; must not clash with the coordinate names.
        dtype : dtype-like
            float32 for attributes and probabilities, uint8 for classes.
        kind : {"attribute", "label", "result"}
        provenance : mapping
            From :func:`facies.engine.provenance.make_provenance`.
        chunks : tuple of 3 int, optional
            Defaults to the survey's chunks.
        fill_value : scalar
            Value of chunks never written (dead regions).
        compression : {"zstd", "none"}, optional
            Defaults to the survey's setting.
        overwrite : bool
            Replace an existing array of that name; otherwise that is an error.
        attributes : mapping, optional
            Extra attributes (units, long_name, facies names...).
        """
        check_array_name(name)
        if kind not in KINDS:
            raise FaciesError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if self.has(name):
            if not overwrite:
                raise FaciesError(f"array {name!r} already exists in {self.path}; pass --overwrite or choose another --name")
            del self.group[name]
        chunks = clip_chunks(tuple(chunks or self.chunks), self.shape)
        attrs = dict(attributes or {})
        attrs.setdefault("coordinates", "cdp_x cdp_y")  # CF: xarray then shows them as coordinates
        attrs["facies"] = {"kind": kind, "complete": False, "provenance": jsonable(dict(provenance))}
        return self.group.create_array(
            name, shape=self.shape, chunks=chunks, dtype=np.dtype(dtype), fill_value=fill_value,
            compressors=compressors(compression or self.meta["compression"]),
            dimension_names=list(self.dims), attributes=attrs)

    def update_attrs(self, key: str, change: Callable[[dict], dict]) -> dict:
        """Change one group attribute safely against other processes writing the store.

        Zarr writes the group's attributes as one ``zarr.json`` built from the copy this object
        read at open, so a plain ``group.attrs[key] = value`` erases what another process wrote
        since (a ``facies select`` recorded while a long filter ran). This takes an exclusive
        lock, re-reads the attributes from disk, applies ``change`` and writes them back.

        Parameters
        ----------
        key : str
            Group attribute to change (``"facies"``, ``"segy"``, ``"selection"``...).
        change : callable
            Gets a copy of the current value (``{}`` when absent) and returns the new value.

        Returns
        -------
        dict
            The value written. ``self.group`` is refreshed, so later reads see every writer's changes.
        """
        if self.group.read_only:
            raise FaciesError(f"{self.path} is open read-only; cannot record {key!r}")
        runs = self.path / RUNS_GROUP
        if not (runs / "zarr.json").is_file():
            self.group.require_group(RUNS_GROUP)  # writes only _runs/zarr.json, never the root's
        with open(runs / ATTRS_LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
            fresh = zarr.open_group(store=CheckedStore(self.path), mode="r+", zarr_format=3)
            current = copy.deepcopy(fresh.attrs.get(key, {}))
            value = jsonable(change(dict(current) if isinstance(current, Mapping) else {}))
            fresh.attrs[key] = value
            self.group = fresh
        return value

    def check_writable(self) -> None:
        """Raise OSError (the CLI's one line) unless this process may record into the store.

        For commands that work for minutes before they write (``facies select``): they check first.
        """
        tempfile.TemporaryFile(dir=self.path).close()  # what replacing the group's zarr.json needs

    def mark_incomplete(self, name: str) -> zarr.Array:
        """Flag ``name`` incomplete again (a resumed run is about to rewrite some of its chunks); return it."""
        array = self.array(name, require_complete=False)
        meta = dict(array.attrs.get("facies", {}))
        if meta.get("complete", False):
            meta["complete"] = False
            array.attrs["facies"] = meta
        return array

    def mark_complete(self, name: str) -> None:
        """Record that every chunk of ``name`` is written; index its provenance in the group."""
        node = self.group[name]
        meta = dict(node.attrs.get("facies", {}))
        meta["complete"] = True
        node.attrs["facies"] = meta

        def index(group_meta: dict) -> dict:
            group_meta.setdefault("provenance", {})[name] = meta.get("provenance", {})
            return group_meta

        self.update_attrs("facies", index)

    def add_volume(self, name: str, data: np.ndarray, *, provenance: Mapping[str, Any],
                   kind: str = "attribute", overwrite: bool = False, **kwargs) -> zarr.Array:
        """Write an in-memory volume with the survey's geometry and mark it complete.

        For volumes larger than memory, use :meth:`create_volume`, write regions, then
        :meth:`mark_complete` (the brick engine does this).
        """
        data = np.asarray(data)
        if data.shape != self.shape:
            raise FaciesError(f"volume {name!r} has shape {data.shape}; the survey is {self.shape}")
        arr = self.create_volume(name, dtype=kwargs.pop("dtype", data.dtype), kind=kind,
                                 provenance=provenance, overwrite=overwrite, **kwargs)
        arr[...] = data
        self.mark_complete(name)
        return arr

    def delete(self, name: str) -> None:
        """Remove a 3D array and its provenance entry."""
        self.array(name, require_complete=False)
        del self.group[name]

        def unindex(group_meta: dict) -> dict:
            group_meta.get("provenance", {}).pop(name, None)
            return group_meta

        self.update_attrs("facies", unindex)

    def __repr__(self) -> str:
        return f"Survey({str(self.path)!r}, shape={self.shape}, volumes={self.volumes()})"
