"""What ``facies synth`` checks before it removes or creates anything.

A run writes three kinds of output: the store, the polygon file beside it and, with a SEG-Y
folder, one ``.sgy`` per volume. Every one is checked here first, so a refused run leaves the
disk as it was:

- **the store**: an existing path is replaced only with ``overwrite`` and only when it is a
  facies survey store (:func:`~facies.engine.store.is_store`), never a symbolic link, the current
  folder or one above it (:meth:`~facies.engine.store.Survey.create` checks the same again when it
  replaces it); its folder must exist, and it may not lie inside another store.
- **the polygon file**: replaced only with ``overwrite`` and only when it is one facies synth
  wrote and nobody edited (:func:`~facies.engine.synth.polygons.is_synth_polygons`).
- **the SEG-Y files**: the folder may not be a file, lie under one, or be inside a store; an
  existing ``<name>.sgy`` is replaced only with ``overwrite`` and only when its headers say facies
  export wrote it of an array facies synth made (:func:`is_synth_segy`); a link or a folder in its
  place is refused.
- **names, chunks and memory**: every new name fits the file system; chunks smaller than the
  default may not make more than :data:`MAX_CHUNK_FILES` chunk files; and the run fits in the
  available host memory (:func:`memory_plan`; the brick threads are reduced when that is enough).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from facies.engine.errors import FaciesError
from facies.engine.paths import check_new_path, enclosing_store, exists, nearest_existing
from facies.engine.segy.export import facies_segy_text
from facies.engine.store import DEFAULT_CHUNKS, check_replaceable_store, is_store
from facies.engine.synth.attributes import ATTRIBUTE_NAMES, HALO, piece_rows
from facies.engine.synth.polygons import is_synth_polygons
from facies.engine.synth.seismic import MAX_VOXELS_AT_ONCE

#: Peak memory of a run, beyond the interpreter and its libraries (docs/synthetic.md: 0.85 and 1.5 GB measured
#: for 64 x 64 x 2000 and x 4000, one brick each; this estimate is 20-45% above the runs measured). A brick
#: thread peaks either while its amplitude is made or its volumes are written: bytes per voxel of the brick
#: (halo included) plus bytes per voxel of the earth model's block of whole traces (at most
#: MAX_VOXELS_AT_ONCE voxels)...
BRICK_BYTES_PER_VOXEL = 90
MODEL_BYTES_PER_VOXEL = 64
#: ... or while the attribute operators run on a piece of it: bytes per voxel of the brick (its amplitude,
#: labels and the seven operator outputs) plus bytes per voxel of the piece with its halo (150 measured for
#: the spectral grid, the largest; pieces: :func:`~facies.engine.synth.attributes.piece_rows`)...
ATTRIBUTE_BRICK_BYTES_PER_VOXEL = 40
PIECE_BYTES_PER_VOXEL = 150
#: ... per trace of the lateral arrays (coordinates, trace mask, the polygons' time slices; 98 measured)...
LATERAL_BYTES_PER_TRACE = 100
#: ... per point of the polygons' inline and crossline slices...
SLICE_BYTES_PER_POINT = 100
#: ... and a fixed part (Zarr's codecs, the progress bar, small arrays).
FIXED_BYTES = 64 * 2**20
#: Most chunk files a run may write (12 volumes) with chunks smaller than the default: more means
#: absurdly small --chunks (1,1,1 on the tiny survey: 1.5 million files).
MAX_CHUNK_FILES = 1_000_000
#: Volumes a synthetic survey holds (truth, amplitude, ten attributes).
N_VOLUMES = 2 + len(ATTRIBUTE_NAMES)
#: Room left in a path for the names facies adds inside a store (``/<array>/c/<i>/<j>/<k>``).
_INNER_PATH_BYTES = 96
#: Bytes a temporary file ``.<name>.<pid>.tmp`` adds to ``<name>`` (pids have at most 7 digits).
_TMP_EXTRA = len("..1234567.tmp")
_GB = 1e9


@dataclass(frozen=True)
class MemoryPlan:
    """Peak host memory of a run, and the brick threads that fit.

    Attributes
    ----------
    shared : int
        Bytes independent of the threads (lateral arrays, polygon slices, fixed part).
    per_worker : int
        Bytes of one brick thread (its brick with halo, the model's block).
    workers : int
        Threads to run: the number asked for, reduced to what fits in the available memory.
    """

    shared: int
    per_worker: int
    workers: int

    @property
    def needed(self) -> int:
        """Peak bytes with :attr:`workers` threads."""
        return self.shared + self.workers * self.per_worker


def memory_plan(shape: Sequence[int], chunks: Sequence[int], workers: int, available: int) -> MemoryPlan:
    """Estimate a run's peak memory and fit the brick threads into ``available`` bytes.

    The survey is written in bricks of one chunk laterally and all samples, each computed with a
    halo of :data:`~facies.engine.synth.attributes.HALO` traces (its attributes in pieces of a few
    inlines), so memory grows with the chunks, the number of samples and the threads, and with the
    lateral size (coordinates, trace mask, polygon slices), not with the whole volume.

    Parameters
    ----------
    shape : (n_il, n_xl, n_s)
    chunks : (int, int, int)
        Storage chunks, already clipped to the shape.
    workers : int
        Brick threads asked for (at least 1).
    available : int
        Available host memory in bytes.

    Returns
    -------
    MemoryPlan
        With ``workers`` lowered (never below 1) until the estimate fits.

    Raises
    ------
    FaciesError
        When even one thread does not fit: one line naming the shape and the GB needed and available.
    """
    n_il, n_xl, n_s = (int(n) for n in shape)
    brick_il, brick_xl = min(int(chunks[0]) + 2 * HALO, n_il), min(int(chunks[1]) + 2 * HALO, n_xl)
    brick = brick_il * brick_xl * n_s
    rows = max(1, MAX_VOXELS_AT_ONCE // (brick_xl * n_s))
    block = min(brick_il, rows) * brick_xl * n_s
    piece = min(brick_il, piece_rows(min(int(chunks[1]), n_xl), n_s) + 2 * HALO) * brick_xl * n_s
    per_worker = max(BRICK_BYTES_PER_VOXEL * brick + MODEL_BYTES_PER_VOXEL * block,
                     ATTRIBUTE_BRICK_BYTES_PER_VOXEL * brick + PIECE_BYTES_PER_VOXEL * piece)
    lateral = LATERAL_BYTES_PER_TRACE * n_il * n_xl
    shared = FIXED_BYTES + lateral + SLICE_BYTES_PER_POINT * max(n_il, n_xl) * n_s
    fit = (available - shared) // per_worker
    if fit < 1:
        need = shared + per_worker
        hint = "smaller --chunks or a smaller shape" if per_worker > lateral else "a smaller shape"
        raise FaciesError(f"shape {n_il} x {n_xl} x {n_s} needs about {need / _GB:.1f} GB of memory "
                          f"({per_worker / _GB:.1f} GB per brick of {min(chunks[0], n_il)} x {min(chunks[1], n_xl)} "
                          f"traces), {available / _GB:.1f} GB available; choose {hint}")
    return MemoryPlan(shared=shared, per_worker=per_worker, workers=int(max(1, min(workers, fit))))


def _chunk_files(shape: Sequence[int], chunks: Sequence[int]) -> int:
    return N_VOLUMES * math.prod(-(-int(n) // max(1, min(int(c), int(n)))) for n, c in zip(shape, chunks))


def check_chunk_count(shape: Sequence[int], chunks: Sequence[int], text: str) -> None:
    """Refuse chunks so small that the store would hold more than :data:`MAX_CHUNK_FILES` chunk files.

    Chunks that make no more files than the default chunks are always accepted (a huge survey
    has many chunks whatever they are; the memory and disk are its limits).
    """
    files = _chunk_files(shape, chunks)
    if files > max(MAX_CHUNK_FILES, _chunk_files(shape, DEFAULT_CHUNKS)):
        raise FaciesError(f"--chunks {text} would write {files:,} chunk files for shape "
                          f"{' x '.join(str(n) for n in shape)} (at most {MAX_CHUNK_FILES:,}); "
                          "use larger --chunks (default 128,128,128)")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _path_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096


def check_new_names(path: Path, what: str, extra_bytes: int = 0) -> None:
    """Refuse a path whose new parts (below its nearest existing ancestor) are too long to create.

    ``what`` names the path in the message ("store", "polygon file"...). ``extra_bytes`` is room
    the last part needs for the temporary file written beside it; the whole path must leave room
    for the names facies adds inside a store.
    """
    path = Path(os.path.abspath(path))
    base = nearest_existing(path.parent)
    if not base.is_dir():
        return  # the caller reports a file in the way
    limit = _name_max(base)
    parts = path.relative_to(base).parts
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        size = len(os.fsencode(part)) + (extra_bytes if last else 0)
        if size > limit:
            shown = part if len(part) <= 44 else f"{part[:20]}...{part[-20:]}"
            kind = f"{what} name" if last else "folder name"
            room = " with its temporary file's prefix and suffix" if last and extra_bytes else ""
            raise FaciesError(f"the {kind} {shown!r} is {size} bytes{room}; the file system allows {limit}: "
                              "choose a shorter name")
    if len(os.fsencode(str(path))) + extra_bytes + _INNER_PATH_BYTES > _path_max(base):
        raise FaciesError(f"the {what} path {str(path)[:40]}... is too long for the files facies writes there; "
                          "choose a shorter path")


def check_store_target(store: Path, overwrite: bool) -> None:
    """Refuse a store path that :meth:`~facies.engine.store.Survey.create` would refuse, before any work.

    Raises
    ------
    FaciesError
        A path naming no folder; an existing path without ``overwrite``; with it, a link, a file,
        the current folder or one above it, or a folder that is not a facies store; a missing
        folder above it, a file above it, a store around it, or a name too long.
    """
    if store.name in ("", ".", ".."):
        raise FaciesError(f"store path {str(store)!r} names no folder; give the new store's name, e.g. survey.zarr")
    check_new_names(store, "store")
    if exists(store):
        if not overwrite:
            replaceable = is_store(store) and not store.is_symlink()
            hint = " or pass --overwrite to replace that survey store" if replaceable else ""
            raise FaciesError(f"{store} already exists; choose another path{hint}")
        check_replaceable_store(store)
    check_new_path(store, "store")
    outer = enclosing_store(store.parent)
    if outer is not None:
        raise FaciesError(f"{store} would be inside the survey store {outer}; choose a path outside it")


def check_polygons_target(path: Path, overwrite: bool) -> None:
    """Refuse to replace a polygon file unless ``overwrite`` and facies synth wrote it, unedited."""
    check_new_names(path, "polygon file", _TMP_EXTRA)
    if exists(path):
        if path.is_symlink():
            raise FaciesError(f"{path} (the polygon file beside the store) is a symbolic link; facies will not "
                              "replace it: remove the link or choose another store path")
        if path.is_dir():
            raise FaciesError(f"{path} (the polygon file beside the store) is a folder; move it away or choose "
                              "another store path")
        if not overwrite:
            raise FaciesError(f"{path} already exists; pass --overwrite to replace it or choose another store path")
        if not is_synth_polygons(path):
            raise FaciesError(f"{path} is not a polygon file facies synth wrote (or it was edited since); facies "
                              "will not replace it: move it away or choose another store path")


def is_synth_segy(path: Path) -> bool:
    """Whether ``path`` is a SEG-Y file that facies export wrote of an array facies synth made.

    That is a file :func:`~facies.engine.segy.export.is_facies_segy` recognises whose text header
    names the array's maker on line 3 (``made by: facies synth``), as ``facies synth --segy-dir``
    writes them (``facies export`` of a synthetic array writes the same header).
    """
    lines = facies_segy_text(path)
    return lines is not None and lines[2].startswith("C 3 made by: facies synth ")


def segy_targets(folder: Path, names: Sequence[str], store: Path, overwrite: bool) -> list[Path]:
    """The SEG-Y files of ``names`` in ``folder``, each checked: ``<folder>/<name>.sgy``.

    Raises
    ------
    FaciesError
        A folder that is a file, under a file, the store itself or inside a store, or not writable;
        a target that is a link or a folder, or an existing file without ``overwrite`` or not
        written by facies synth.
    """
    if exists(folder) and not folder.is_dir():
        raise FaciesError(f"--segy-dir {folder} is a file, not a folder; choose a folder for the SEG-Y files")
    check_new_path(folder, "SEG-Y folder", parent_must_exist=False)
    resolved_store = store.resolve()
    resolved = folder.resolve()
    if resolved == resolved_store or resolved_store in resolved.parents:
        raise FaciesError(f"--segy-dir {folder} is inside the new store {store}; choose a folder outside it")
    outer = enclosing_store(folder)
    if outer is not None:
        raise FaciesError(f"--segy-dir {folder} is in the survey store {outer} (or is it); "
                          "choose a folder outside stores")
    base = nearest_existing(folder)
    if not os.access(base, os.W_OK | os.X_OK):
        raise FaciesError(f"cannot write in {base} (permission denied), so not the SEG-Y files in {folder}: "
                          "choose another --segy-dir")
    targets = []
    for name in names:
        target = folder / f"{name}.sgy"
        check_new_names(target, "SEG-Y file", _TMP_EXTRA)
        if target.resolve() == resolved_store:
            raise FaciesError(f"{target} is the new store's own path; choose another --segy-dir or store name")
        if target.is_symlink():
            raise FaciesError(f"{target} is a symbolic link; facies will not replace it: remove the link or "
                              "choose another --segy-dir")
        if target.is_dir():
            raise FaciesError(f"{target} is a folder; move it away or choose another --segy-dir")
        if target.exists():
            if not overwrite:
                raise FaciesError(f"{target} already exists; pass --overwrite to replace it or choose another "
                                  "--segy-dir")
            if not is_synth_segy(target):
                raise FaciesError(f"{target} is not a SEG-Y file facies synth wrote; facies will not replace it: "
                                  "move it away or choose another --segy-dir")
        targets.append(target)
    return targets
