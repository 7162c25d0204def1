"""The survey store: one Zarr v3 group per survey, named as MDIO names things.

Layout (docs/design.md, "The survey store")::

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

**The store layer.** The names of groups, arrays, attributes and record fields, and the name rules,
are in :mod:`facies.engine.schema`. Only the store layer touches the Zarr group (``Survey.group``)
itself: this module, :mod:`~facies.engine.schema`, :mod:`~facies.engine.integrity` (chunk checks),
:mod:`~facies.engine.locks` (lock files in ``_runs``), :mod:`~facies.engine.ledger` (run ledgers in
``_runs``) and :mod:`~facies.engine.staging` (tables and models saved whole). Every other module
reads and writes through :class:`Survey`: :meth:`Survey.attrs` and :meth:`Survey.update_attrs` for
root attributes, :meth:`Survey.array`, :meth:`Survey.node` and :meth:`Survey.subgroup` for nodes,
:meth:`Survey.set_array_attrs` for an array's descriptive attributes
(``tests/test_store_layer.py`` keeps it so).
"""

from __future__ import annotations

import copy
import fcntl
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.integrity import CheckedStore, DamagedArrayError, damage_message, store_attributes
from facies.engine.locks import held_locks, read_locks
from facies.engine.provenance import jsonable
from facies.engine.schema import (
    ALL_CHUNKS_FIELD, ATTRS_LOCK, CDP_X, CDP_Y, CHECKSUM, CHECKSUM_FIELD, CHUNKS_FIELD, COMPLETE_FIELD,
    COMPRESSION_FIELD, COORDINATES_ATTR, CREATED_FIELD, CROSSLINE, FACIES_KEY, FORMAT_VERSION, FORMAT_VERSION_FIELD,
    INLINE, INTEGRITY_FIELD, KIND_FIELD, KINDS, LATERAL, LONG_NAME_ATTR, MAX_NAME_BYTES, OPERATOR_FIELD,
    PARAMETERS_FIELD, PROVENANCE_FIELD, RESERVED_NAMES, RUNS_GROUP, SAMPLE_AXIS_FIELD, SAMPLE_INTERVAL_FIELD,
    SAMPLE_UNIT_FIELD, SOURCE_FIELD, TRACE_MASK, UNITS_ATTR, VIRTUAL_FIELD, WRITE_WITH_FIELD, check_array_name,
    check_name)

# ATTRS_LOCK, FORMAT_VERSION, KINDS, MAX_NAME_BYTES, check_name and check_array_name are facies.engine.schema's,
# re-exported for the callers that import them from here.
__all__ = ["ATTRS_LOCK", "COMPRESSIONS", "DEFAULT_CHUNKS", "FORMAT_VERSION", "KINDS", "MAX_NAME_BYTES", "Survey",
           "VirtualArrayError", "check_array_name", "check_name", "check_replaceable_store", "clip_chunks",
           "compressors", "describe_recipe", "is_store", "remove_store"]

# Every chunk is written, fill value or not, so that the chunk grid is the record of what a complete
# array holds and a missing chunk file is damage (facies.engine.integrity). Zarr reads this setting
# when an array object is made, so it is set once here, before facies opens any array.
zarr.config.set({"array.write_empty_chunks": True})

#: Storage chunks: small enough for random access (MDIO uses 128 cubed).
DEFAULT_CHUNKS = (128, 128, 128)
COMPRESSIONS = ("zstd", "none")


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


class VirtualArrayError(FaciesError):
    """A command that reads stored arrays was given a virtual one (a recipe, no data)."""


def describe_recipe(recipe: Mapping[str, Any]) -> str:
    """A virtual array's recipe in a few words: ``kuwahara radius 2,2,2 mode octant stat mean use_mask true``."""

    def word(value) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(word(v) for v in value)
        return str(value)

    parameters = recipe.get(PARAMETERS_FIELD)
    parameters = parameters if isinstance(parameters, Mapping) else {}
    return " ".join([str(recipe.get(OPERATOR_FIELD)), *(f"{k} {word(v)}" for k, v in parameters.items())])


def is_store(path) -> bool:
    """Whether ``path`` is a folder holding a facies survey store (its root ``zarr.json`` says so)."""
    facies = store_attributes(path)
    return facies is not None and FORMAT_VERSION_FIELD in facies


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
    with held_locks(path, [], whole_store=True):  # refused while any command holds a lock in the store
        shutil.rmtree(path)


class Survey:
    """A survey store on disk.

    Use :meth:`create` for a new store and :meth:`open` for an existing one.

    Examples
    --------
    >>> survey = Survey.open("survey.zarr")                   # doctest: +SKIP
    >>> survey.attributes()                                   # doctest: +SKIP
    ['amplitude', 'envelope', ...]
    >>> block = survey.read("envelope", inline=slice(0, 10))  # doctest: +SKIP

    Attributes
    ----------
    group : zarr.Group
        The store's root group: for the store layer only (see the module docstring); other modules
        use the methods.
    path : Path
        Folder of the store.
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
            raise FaciesError(f"the folder {path.parent} does not exist; "
                              "create it first or choose another path") from None
        group = zarr.open_group(store=CheckedStore(path), mode="w-", zarr_format=3)
        group.attrs[FACIES_KEY] = {
            FORMAT_VERSION_FIELD: FORMAT_VERSION,
            SAMPLE_AXIS_FIELD: geometry.sample_axis,
            SAMPLE_UNIT_FIELD: geometry.sample_unit,
            SAMPLE_INTERVAL_FIELD: geometry.sample_interval,
            CHUNKS_FIELD: list(chunks),
            COMPRESSION_FIELD: compression,
            # Every chunk of every array is written, so a missing one is damage (facies.engine.integrity).
            INTEGRITY_FIELD: {ALL_CHUNKS_FIELD: True, CHECKSUM_FIELD: CHECKSUM},
            CREATED_FIELD: jsonable(dict(provenance or {})),
            PROVENANCE_FIELD: {},
        }
        survey = cls(group, path)
        survey._write_geometry(geometry)
        return survey

    @classmethod
    def open(cls, path: str | os.PathLike, mode: Literal["r", "r+", "a", "w", "w-"] = "r+") -> Survey:
        """Open an existing store (``mode="r"`` for read-only)."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise FaciesError(f"{path} is not a survey store (no zarr.json); "
                              "create one with 'facies ingest' or 'facies synth'")
        try:
            group = zarr.open_group(store=CheckedStore(path, read_only=mode == "r"), mode=mode, zarr_format=3)
        except Exception as exc:  # noqa: BLE001 - zarr raises several types for a broken store
            reason = " ".join(str(exc).split())[:200]
            raise FaciesError(f"cannot open {path} as a Zarr v3 group ({reason}); its zarr.json is damaged or "
                              "not a store's") from None
        facies_attrs = group.attrs.get(FACIES_KEY)
        if not isinstance(facies_attrs, Mapping) or FORMAT_VERSION_FIELD not in facies_attrs:
            raise FaciesError(f"{path} is a Zarr group but not a facies survey store (no 'facies' attributes)")
        version = facies_attrs.get(FORMAT_VERSION_FIELD)
        if version != FORMAT_VERSION:
            raise FaciesError(f"{path} has store format {version}; this facies reads format {FORMAT_VERSION}")
        return cls(group, path)

    def _write_geometry(self, g: Geometry) -> None:
        g_axes = ((INLINE, g.inlines), (CROSSLINE, g.crosslines), (g.sample_axis, g.samples))
        for name, values in g_axes:
            attributes: dict[str, Any] = {UNITS_ATTR: g.sample_unit} if name == g.sample_axis else {}
            self.group.create_array(name, data=values, chunks=values.shape, dimension_names=[name],
                                    compressors=compressors("zstd"),
                                    attributes=attributes)
        lateral_chunks = self.chunks[:2]
        for name in LATERAL:
            values = getattr(g, name)
            attrs: dict[str, Any] = {LONG_NAME_ATTR: {CDP_X: "CDP X", CDP_Y: "CDP Y", TRACE_MASK: "live trace"}[name]}
            self.group.create_array(name, data=values, chunks=lateral_chunks,
                                    dimension_names=[INLINE, CROSSLINE], attributes=attrs,
                                    compressors=[ZstdCodec(level=3), Crc32cCodec()])

    # ------------------------------------------------------------------ geometry
    @property
    def meta(self) -> dict:
        """The group's ``facies`` attributes (format version, axis, chunks, provenance index)."""
        # A mapping: Survey.open checked it, and only update_attrs changes it.
        return dict(cast(Mapping[str, Any], self.group.attrs[FACIES_KEY]))

    def _coordinate(self, name: str) -> zarr.Array:
        """The axis or lateral array ``name`` (written by :meth:`create` as arrays, never groups)."""
        return cast(zarr.Array, self.group[name])

    def _coordinate_values(self, name: str) -> np.ndarray:
        """All values of the coordinate array ``name`` (NumPy: the store's arrays are read to the host)."""
        return np.asarray(self._coordinate(name)[...])

    @property
    def geometry(self) -> Geometry:
        """The survey's axes and trace headers (read once, then cached)."""
        if self._geometry is None:
            meta = self.meta
            axis = meta[SAMPLE_AXIS_FIELD]
            self._geometry = Geometry(
                inlines=self._coordinate_values(INLINE), crosslines=self._coordinate_values(CROSSLINE),
                samples=self._coordinate_values(axis), sample_axis=axis, sample_unit=meta[SAMPLE_UNIT_FIELD],
                cdp_x=self._coordinate_values(CDP_X), cdp_y=self._coordinate_values(CDP_Y),
                trace_mask=self._coordinate_values(TRACE_MASK))
        return self._geometry

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_inline, n_crossline, n_sample) of every 3D array."""
        n_samples = int(self._coordinate(self.meta[SAMPLE_AXIS_FIELD]).shape[0])
        n_il, n_xl = self._coordinate(TRACE_MASK).shape
        return int(n_il), int(n_xl), n_samples

    @property
    def chunks(self) -> tuple[int, int, int]:
        """Storage chunks of 3D arrays created without explicit chunks."""
        return tuple(self.meta[CHUNKS_FIELD])

    @property
    def dims(self) -> tuple[str, str, str]:
        """Dimension names of every 3D array."""
        return (INLINE, CROSSLINE, self.meta[SAMPLE_AXIS_FIELD])

    # ------------------------------------------------------------------ listing
    def volumes(self, *, include_incomplete: bool = False, kind: str | None = None,
                include_virtual: bool = False) -> list[str]:
        """Names of the 3D arrays, sorted; only complete, stored ones unless asked.

        An array whose metadata cannot be read is left out (see :meth:`unreadable`), so one
        damaged array does not stop the commands that do not read it. ``include_virtual`` adds the
        virtual arrays (:meth:`virtual_recipes`: always complete, of kind ``attribute``), for the
        commands that compute them where they read them.
        """
        names = []
        for name in self._member_names():
            if name in RESERVED_NAMES:
                continue
            try:
                node = self.group[name]
            except Exception:  # noqa: BLE001 - damaged zarr.json: reported by unreadable() and facies verify
                continue
            if not isinstance(node, zarr.Array) or node.ndim != 3:
                continue
            meta = node.attrs.get(FACIES_KEY, {})
            meta = meta if isinstance(meta, Mapping) else {}
            if kind is not None and meta.get(KIND_FIELD) != kind:
                continue
            if include_incomplete or meta.get(COMPLETE_FIELD, False):
                names.append(name)
        if include_virtual and kind in (None, "attribute"):
            names = sorted(names + list(self.virtual_recipes()))
        return names

    def unreadable(self) -> dict[str, str]:
        """Top-level members whose ``zarr.json`` cannot be read: name -> reason (one line)."""
        broken = {}
        for name in self._member_names():
            try:
                self.group[name]
            except Exception as exc:  # noqa: BLE001 - zarr raises several types for a broken zarr.json
                broken[name] = " ".join(str(exc).split())[:200] or type(exc).__name__
        return broken

    def _member_names(self) -> list[str]:
        """Names of the store's top-level arrays and groups, sorted (from the folder, not Zarr's listing,
        which fails whole on one damaged member)."""
        return sorted(child.name for child in self.path.iterdir()
                      if not child.name.startswith(".") and (child / "zarr.json").is_file())

    def attributes(self, *, include_virtual: bool = False) -> list[str]:
        """Names of the complete attribute volumes (the candidates for classification), virtual ones if asked."""
        return self.volumes(kind="attribute", include_virtual=include_virtual)

    def resolve_attributes(self, names=None, *, include_virtual: bool = False) -> list[str]:
        """The attribute volumes a command works on: ``names`` checked, or every complete attribute.

        Parameters
        ----------
        names : sequence of str, optional
            Attribute names (duplicates dropped, order kept); None means all complete attributes.
        include_virtual : bool
            Take virtual arrays too (commands that compute them where they read them); otherwise a
            virtual name is refused with how to write it.

        Raises
        ------
        FaciesError
            For an empty choice, an unknown or incomplete attribute, or a survey with none.
        VirtualArrayError
            For a virtual name without ``include_virtual``.
        """
        available = self.attributes(include_virtual=include_virtual)
        if names is None:
            if not available:
                raise FaciesError(f"survey {self.path} has no complete attribute volume; ingest or make some first")
            return available
        names = list(dict.fromkeys(names))
        if not names:
            raise FaciesError("no attribute chosen; name at least one (or ask for all of them)")
        unknown = [n for n in names if n not in available]
        if unknown and self.is_virtual(unknown[0]):
            raise VirtualArrayError(self.virtual_message(unknown[0]))
        if unknown:
            raise FaciesError(f"unknown attribute {unknown[0]!r}; the survey's attributes are "
                              f"{', '.join(available) or 'none'}")
        return names

    def has(self, name: str) -> bool:
        """Whether an array (complete or not, readable or not) of that name exists."""
        return (self.path / name / "zarr.json").is_file()

    def array(self, name: str, *, require_complete: bool = True) -> zarr.Array:
        """The Zarr array ``name``; a clear error if it is missing, virtual, damaged or unfinished."""
        if not self.has(name) and self.is_virtual(name):
            raise VirtualArrayError(self.virtual_message(name))
        if not self.has(name):
            have = ", ".join(self.volumes()) or "none"
            raise FaciesError(f"survey {self.path} has no array {name!r} (3D arrays: {have})")
        try:
            node = self.group[name]
        except Exception:  # noqa: BLE001 - zarr raises several types for a broken zarr.json
            raise DamagedArrayError(damage_message(self.path, name, None, "its zarr.json cannot be read")) from None
        if not isinstance(node, zarr.Array):
            raise FaciesError(f"{name!r} in {self.path} is a group of the store, not an array (3D arrays: "
                              f"{', '.join(self.volumes()) or 'none'})")
        meta = node.attrs.get(FACIES_KEY, {})
        complete = isinstance(meta, Mapping) and meta.get(COMPLETE_FIELD, False)
        if require_complete and node.ndim == 3 and not complete:
            raise FaciesError(f"array {name!r} in {self.path} is incomplete (an interrupted run); "
                              "resume or re-run the command that makes it")
        return node

    def node(self, path: str) -> zarr.Array | zarr.Group:
        """The Zarr node (array or group) at ``path`` inside the store, e.g. ``"training/picks"``, unchecked.

        For readers that check what they open themselves (training tables, models, ``facies verify``);
        a 3D array is better opened with :meth:`array`, which says what is wrong in one line.

        Raises
        ------
        KeyError
            When there is no node at ``path``.
        Exception
            Whatever Zarr raises for a ``zarr.json`` that cannot be read (several types).
        """
        return self.group[path]

    def subgroup(self, path: str, *, create: bool = False) -> zarr.Group:
        """The store's group at ``path`` (``"training"``, ``"models"``...), made first with ``create``.

        Parameters
        ----------
        path : str
            Path of the group inside the store.
        create : bool
            Make the group (its ``zarr.json``) when it does not exist yet; an existing one is returned.

        Raises
        ------
        KeyError
            When there is no node at ``path`` and ``create`` is false.
        FaciesError
            When the node at ``path`` is an array.
        Exception
            Whatever Zarr raises for a ``zarr.json`` that cannot be read (several types).
        """
        node = self.group.require_group(path) if create else self.group[path]
        if not isinstance(node, zarr.Group):
            raise FaciesError(f"{path!r} in {self.path} is an array, not a group of the store")
        return node

    def attrs(self, key: str, default: Any = None) -> Any:
        """A copy of the root group's attribute ``key`` (``default`` when absent), as this object read it.

        The attributes are those read at :meth:`open` or refreshed by the last :meth:`update_attrs`
        of this object. Change them only with :meth:`update_attrs`.

        Parameters
        ----------
        key : str
            Root attribute (:data:`~facies.engine.schema.FACIES_KEY`, :data:`~facies.engine.schema.SEGY_ATTRS`,
            :data:`~facies.engine.schema.SELECTION_KEY`...).
        default : object, optional
            What to return when the attribute is absent.
        """
        return copy.deepcopy(self.group.attrs.get(key, default))

    def set_array_attrs(self, name: str, attributes: Mapping[str, Any]) -> None:
        """Add or replace descriptive attributes of array ``name`` (``long_name``, ``units``, a legend...).

        Other attributes of the array are kept. The store's own record (the ``facies`` key: kind,
        completeness, provenance) is not changed here: :meth:`create_volume`, :meth:`mark_complete`
        and :meth:`mark_incomplete` write it.

        Parameters
        ----------
        name : str
            An existing array, complete or not.
        attributes : mapping
            Attribute name -> JSON-serialisable value (NumPy scalars and arrays are converted).

        Raises
        ------
        FaciesError
            When there is no array ``name``, or ``attributes`` holds the ``facies`` key.
        """
        if FACIES_KEY in attributes:
            raise FaciesError(f"the {FACIES_KEY!r} attribute of {name!r} is the store's record; "
                              "create_volume and mark_complete write it")
        self.array(name, require_complete=False).attrs.update(jsonable(dict(attributes)))

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
        return bool(self._facies_attrs(name).get(COMPLETE_FIELD, False))

    def provenance(self, name: str) -> dict:
        """The provenance record of a 3D array."""
        return dict(self._facies_attrs(name).get(PROVENANCE_FIELD) or {})

    def kind(self, name: str) -> str:
        """The kind of a 3D array (attribute, label or result)."""
        return self._facies_attrs(name).get(KIND_FIELD, "attribute")

    def _facies_attrs(self, name: str) -> dict:
        """The ``facies`` attributes of array ``name`` ({} when absent or not a mapping)."""
        meta = self.array(name, require_complete=False).attrs.get(FACIES_KEY, {})
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
        if name in self._virtual_on_disk():  # the data takes the recipe's place: never both under one name
            if not overwrite:
                raise FaciesError(f"{name!r} is a virtual array of {self.path}; pass --overwrite to replace its "
                                  "recipe by data, or choose another name")
            self._remove_recipe(name)
        if self.has(name):
            if not overwrite:
                raise FaciesError(f"array {name!r} already exists in {self.path}; "
                                  "pass --overwrite or choose another --name")
            del self.group[name]
        chunks = clip_chunks(tuple(chunks or self.chunks), self.shape)
        attrs = dict(attributes or {})
        attrs.setdefault(COORDINATES_ATTR, f"{CDP_X} {CDP_Y}")  # CF: xarray then shows them as coordinates
        attrs[FACIES_KEY] = {KIND_FIELD: kind, COMPLETE_FIELD: False, PROVENANCE_FIELD: jsonable(dict(provenance))}
        return self.group.create_array(
            name, shape=self.shape, chunks=chunks, dtype=np.dtype(dtype), fill_value=fill_value,
            compressors=compressors(compression or self.meta[COMPRESSION_FIELD]),
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
        meta = dict(cast(Mapping[str, Any], array.attrs.get(FACIES_KEY, {})))  # facies writes a mapping
        if meta.get(COMPLETE_FIELD, False):
            meta[COMPLETE_FIELD] = False
            array.attrs[FACIES_KEY] = meta
        return array

    def mark_complete(self, name: str) -> None:
        """Record that every chunk of ``name`` is written; index its provenance in the group."""
        node = self.group[name]
        meta = dict(cast(Mapping[str, Any], node.attrs.get(FACIES_KEY, {})))  # facies writes a mapping
        meta[COMPLETE_FIELD] = True
        node.attrs[FACIES_KEY] = meta

        def index(group_meta: dict) -> dict:
            group_meta.setdefault(PROVENANCE_FIELD, {})[name] = meta.get(PROVENANCE_FIELD, {})
            return group_meta

        self.update_attrs(FACIES_KEY, index)

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
            group_meta.get(PROVENANCE_FIELD, {}).pop(name, None)
            return group_meta

        self.update_attrs(FACIES_KEY, unindex)

    # ------------------------------------------------------------------ virtual arrays
    def virtual_recipes(self) -> dict[str, dict]:
        """Every virtual array's recipe, by name (sorted), as this object read the root record.

        A virtual array is a 3D array computed on the fly, never stored: a recipe in the root
        record's ``virtual`` field holding its ``source`` (a stored array), ``operator`` and
        ``parameters``, its ``provenance`` and ``write_with`` (how to write it as data).
        :mod:`facies.engine.virtual` turns recipes into operators and values. A name that is
        also a stored array's (a declaration killed halfway) is the stored array's.
        """
        record = self.group.attrs.get(FACIES_KEY, {})
        recipes = record.get(VIRTUAL_FIELD) if isinstance(record, Mapping) else None
        if not isinstance(recipes, Mapping):
            return {}
        return {str(name): copy.deepcopy(dict(recipe)) for name, recipe in sorted(recipes.items())
                if isinstance(recipe, Mapping) and not self.has(str(name))}

    def is_virtual(self, name: str) -> bool:
        """Whether ``name`` is a virtual array of the store (:meth:`virtual_recipes`)."""
        record = self.group.attrs.get(FACIES_KEY, {})
        recipes = record.get(VIRTUAL_FIELD) if isinstance(record, Mapping) else None
        # as virtual_recipes() decides, without copying every recipe: this sits on every array() of a missing name
        return isinstance(recipes, Mapping) and isinstance(recipes.get(name), Mapping) and not self.has(name)

    def virtual_message(self, name: str) -> str:
        """The one line for a command that reads virtual array ``name`` as stored data: what it is, how to write it."""
        recipe = self.virtual_recipes()[name]
        write = recipe.get(WRITE_WITH_FIELD)
        write = write if isinstance(write, Mapping) else {}
        how = (f"write it first with '{write.get('command')} {shlex.quote(str(self.path))} {write.get('arguments')}"
               " --overwrite'" if write.get("command") else "write it first with the command that declared it")
        return (f"array {name!r} in {self.path} is virtual (computed on the fly from {recipe.get(SOURCE_FIELD)!r}: "
                f"{describe_recipe(recipe)}) and this command reads stored arrays; {how}")

    def declare_virtual(self, name: str, *, source: str, operator: str, parameters: Mapping[str, Any],
                        provenance: Mapping[str, Any], write_with: Mapping[str, str] | None = None,
                        overwrite: bool = False) -> None:
        """Record the virtual array ``name``: computed from stored array ``source`` by ``operator``.

        Nothing is computed or written but the recipe (instant). The name follows the rules of a
        stored array's and takes its place: an existing stored or virtual array of that name is
        replaced only with ``overwrite`` (a stored one is deleted). Whether a command may replace
        that array at all is the command's to check first. Held under the name's exclusive lock,
        as a run writing it: refused while another command writes or reads it.

        Parameters
        ----------
        name : str
            The virtual array's name.
        source : str
            A complete stored 3D array (not virtual, not ``name``).
        operator : str
            What computes it (``"kuwahara"``).
        parameters : mapping
            The operator's parameters (JSON-able).
        provenance : mapping
            From :func:`facies.engine.provenance.make_provenance`.
        write_with : mapping, optional
            ``{"command": "facies filter kuwahara", "arguments": "--input ..."}``: how to write it as data
            (the store's path goes between the two).
        overwrite : bool
            Replace an existing stored or virtual array of that name.

        Raises
        ------
        FaciesError
            A bad name, a source that is missing, incomplete, virtual or the name itself, an existing
            array without ``overwrite``; ArrayBusyError while another command writes or reads ``name``.
        """
        check_array_name(name)
        if source == name:
            raise FaciesError(f"virtual array {name!r} cannot be computed from itself; choose another name")
        if self.is_virtual(source):
            raise FaciesError(f"{source!r} in {self.path} is virtual itself; a virtual array is computed from a "
                              "stored array: write the source first")
        self.array(source)  # stored and complete: a clear error otherwise
        recipe = {SOURCE_FIELD: source, OPERATOR_FIELD: operator, PARAMETERS_FIELD: dict(parameters),
                  PROVENANCE_FIELD: dict(provenance), WRITE_WITH_FIELD: dict(write_with or {})}
        with held_locks(self, [name]):  # exclusive, as a run writing the array
            exists = self.has(name) or name in self._virtual_on_disk()
            if exists and not overwrite:
                raise FaciesError(f"array {name!r} already exists in {self.path}; pass --overwrite to replace it")

            def record(group_meta: dict) -> dict:
                group_meta.get(PROVENANCE_FIELD, {}).pop(name, None)
                group_meta.setdefault(VIRTUAL_FIELD, {})[name] = recipe
                return group_meta

            # The recipe first, then the stored array's folder: killed in between, the stored array
            # is still whole and wins (virtual_recipes), never an index entry without its array.
            self.update_attrs(FACIES_KEY, record)
            if self.has(name):
                del self.group[name]

    def delete_virtual(self, name: str) -> None:
        """Forget the virtual array ``name`` (its recipe; there is no data), under its exclusive lock.

        Raises
        ------
        FaciesError
            When ``name`` is not a virtual array of the store; ArrayBusyError while another command
            writes or reads it.
        """
        if not self.is_virtual(name):
            raise FaciesError(f"{name!r} is not a virtual array of {self.path} (virtual arrays: "
                              f"{', '.join(self.virtual_recipes()) or 'none'})")
        with held_locks(self, [name]):
            self._remove_recipe(name)

    def _virtual_on_disk(self) -> set[str]:
        """Names of the virtual recipes in the root record as it is on disk now (another process may have
        declared one since this object read it)."""
        record = store_attributes(self.path) or {}
        recipes = record.get(VIRTUAL_FIELD)
        return set(recipes) if isinstance(recipes, Mapping) else set()

    def _remove_recipe(self, name: str) -> None:
        """Drop the recipe of ``name`` from the root record (the caller holds the name's lock)."""

        def forget(group_meta: dict) -> dict:
            recipes = group_meta.get(VIRTUAL_FIELD)
            if isinstance(recipes, dict):
                recipes.pop(name, None)
            return group_meta

        self.update_attrs(FACIES_KEY, forget)

    def __repr__(self) -> str:
        return f"Survey({str(self.path)!r}, shape={self.shape}, volumes={self.volumes()})"
