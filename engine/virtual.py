"""Virtual arrays: 3D arrays recorded as a recipe (source, operator, parameters) and computed where they are read.

``facies filter kuwahara STORE --input envelope --virtual`` records ``envelope_kuw`` in the store
(:meth:`~facies.engine.store.Survey.declare_virtual`) instead of writing it. Readers then either

- chain the operators that compute it in front of their own (:func:`operators_for`: the fused apply
  pass computes every voxel anyway), or
- compute it only at the voxels they need (:func:`values_at`: the training voxels at polygons, the
  GTM sample), from those voxels' neighbourhoods.

Both give what ``facies filter kuwahara`` writes, bit for bit. :func:`values_at` gathers each voxel's
cube of half-width ``halo`` (NaN outside the survey, as the brick engine's "nan" boundary fills it),
stacks the cubes along the inline axis into one volume and runs the operator's own ``compute`` on it
once per batch, as on a brick. The kernel computes every output voxel from its own windows alone with
fixed-order sums, and the windows of a cube's centre reach exactly its cube, so each centre's value is
the one the filter computes on the whole survey (tests/test_virtual_values.py). Commands that read
whole stored volumes (export, report slices...) are refused with one line saying how to write the
array (:class:`~facies.engine.store.VirtualArrayError`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from facies.engine.backend import Backend, get_backend
from facies.engine.bricks.operator import Operator, pad_boundary
from facies.engine.errors import FaciesError
from facies.engine.operators import KuwaharaOperator, KuwaharaSettings
from facies.engine.progress import WorkProgress
from facies.engine.schema import OPERATOR_FIELD, PARAMETERS_FIELD, SOURCE_FIELD, TRACE_MASK
from facies.engine.store import describe_recipe

__all__ = ["VirtualArray", "is_virtual", "operators_for", "values_at", "virtual_arrays"]

#: Voxels of one reading region (a tile of whole chunk columns, cut to the voxels' extent), at most
#: about this many (one chunk column is read whole whatever its size).
REGION_VOXELS = 1 << 25
#: Voxels of the stacked cubes handed to one operator call, at most (bounds the memory of a batch).
BATCH_VOXELS = 1 << 22


@dataclass(frozen=True)
class VirtualArray:
    """A virtual array's recipe.

    Attributes
    ----------
    name : str
        Its name in the store (``envelope_kuw``).
    source : str
        The stored array it is computed from (``envelope``).
    operator : str
        What computes it (``"kuwahara"``).
    parameters : dict
        The operator's parameters (Kuwahara: ``radius`` (3 int), ``mode``, ``stat``, ``use_mask``).
    """

    name: str
    source: str
    operator: str
    parameters: dict

    def describe(self) -> str:
        """``computed on the fly from envelope: kuwahara radius 2,2,2 mode octant stat mean use_mask true``."""
        recipe = {OPERATOR_FIELD: self.operator, PARAMETERS_FIELD: self.parameters}
        return f"computed on the fly from {self.source}: {describe_recipe(recipe)}"


def virtual_arrays(survey) -> dict[str, VirtualArray]:
    """Every virtual array of ``survey``, by name (sorted)."""
    out = {}
    for name, recipe in survey.virtual_recipes().items():
        parameters = recipe.get(PARAMETERS_FIELD)
        out[name] = VirtualArray(name, str(recipe.get(SOURCE_FIELD)), str(recipe.get(OPERATOR_FIELD)),
                                 dict(parameters) if isinstance(parameters, dict) else {})
    return out


def is_virtual(survey, name: str) -> bool:
    """Whether ``name`` is a virtual array of ``survey``."""
    return survey.is_virtual(name)


# ---------------------------------------------------------------------------------------------- operators
def _kuwahara(virtual: VirtualArray) -> Operator:
    p = virtual.parameters
    settings = KuwaharaSettings(p.get("radius", ()), p.get("mode", ""), p.get("stat", ""))
    return KuwaharaOperator(virtual.source, output_name=virtual.name, use_mask=bool(p.get("use_mask", True)),
                            settings=settings)


#: Operator name of a recipe -> builder of the brick operator that computes it (output named as the array).
OPERATORS: dict[str, Callable[[VirtualArray], Operator]] = {"kuwahara": _kuwahara}


def build_operator(survey, virtual: VirtualArray) -> Operator:
    """The brick operator computing ``virtual`` (its output named as the virtual array).

    Raises
    ------
    FaciesError
        A recipe this facies cannot compute (unknown operator, bad parameters), naming how to declare it again.
    """
    builder = OPERATORS.get(virtual.operator)
    problem = f"unknown operator {virtual.operator!r}" if builder is None else ""
    if builder is not None:
        try:
            return builder(virtual)
        except (FaciesError, TypeError, ValueError) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise FaciesError(f"virtual array {virtual.name!r} in {survey.path} has a recipe this facies cannot compute "
                      f"({problem}); declare it again with 'facies filter ... --virtual --overwrite'")


def operators_for(survey, names: Sequence[str]) -> list[Operator]:
    """The brick operators computing every virtual array among ``names``, in a valid order, once each.

    Names that are not virtual arrays are ignored. A virtual array's source is always a stored
    array, so the operators read only store arrays and may run in any order: they come in the
    order of ``names``. The fused apply pass prepends them to its chain.
    """
    virtual = virtual_arrays(survey)
    wanted = [name for name in dict.fromkeys(names) if name in virtual]
    return [build_operator(survey, virtual[name]) for name in wanted]


# ---------------------------------------------------------------------------------------------- values at voxels
def values_at(survey, name: str, inline_idx, crossline_idx, sample_idx, *, device: str = "auto", brick=None,
              progress: bool | None = None) -> np.ndarray:
    """Values of array ``name`` at voxels given by index, as float32: stored or computed there.

    A stored array is read region by region (only the chunks around the voxels, each region once).
    A virtual one is computed at exactly those voxels from their neighbourhoods, equal bit for bit to
    what writing it (``facies filter kuwahara`` on the same device kind) stores there.

    Parameters
    ----------
    survey : Survey
    name : str
        A complete stored 3D array or a virtual array.
    inline_idx, crossline_idx, sample_idx : array-like of int
        Voxel indices, one per voxel, same length (any order; repeats allowed).
    device : {"auto", "cpu", "gpu"}
        Where a virtual array is computed (as ``facies filter --device``: the CPU and GPU kernels may
        differ where two windows' variances nearly tie, docs/kuwahara.md). Ignored for stored arrays.
    brick : (int, int), optional
        Inline and crossline extent of the reading regions, rounded up to whole chunks; the values do
        not depend on it.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    ndarray, float32, shape (n,)

    Raises
    ------
    FaciesError
        Indices of different lengths or outside the survey, an unknown or incomplete array, a recipe
        that cannot be computed; ArrayBusyError while a run writes the array or its source.
    """
    positions = _positions(survey, inline_idx, crossline_idx, sample_idx)
    virtual = virtual_arrays(survey).get(name)
    if virtual is None:
        with survey.reading(name):
            array = survey.array(name)
            return _Gatherer(survey, positions, array, (0, 0, 0), brick).stored(f"read {name}", progress)
    operator = build_operator(survey, virtual)
    if operator.boundary != "nan":  # stacked cubes stand in for NaN-padded bricks only
        raise FaciesError(f"virtual array {name!r}: operator boundary {operator.boundary!r} is not supported")
    with survey.reading(name, virtual.source):  # nobody replaces the recipe or the source meanwhile
        array = survey.array(virtual.source)
        halo = (int(operator.halo[0]), int(operator.halo[1]), int(operator.halo[2]))
        backend = get_backend(device if positions.size else "cpu")  # no device probed for no voxel
        return _Gatherer(survey, positions, array, halo, brick).computed(operator, virtual.source, backend,
                                                                         f"compute {name}", progress)


def _positions(survey, inline_idx, crossline_idx, sample_idx) -> np.ndarray:
    """The voxel indices as one (n, 3) int64 array, checked against the survey."""
    axes = [np.asarray(v).reshape(-1) for v in (inline_idx, crossline_idx, sample_idx)]
    if len({a.size for a in axes}) != 1:
        raise FaciesError(f"voxel indices of different lengths ({', '.join(str(a.size) for a in axes)}); "
                          "give one inline, crossline and sample index per voxel")
    if any(a.size and a.dtype.kind not in "iu" for a in axes):
        raise FaciesError("voxel indices must be integers")
    positions = np.stack([a.astype(np.int64) for a in axes], axis=1)
    shape = np.asarray(survey.shape)
    outside = ((positions < 0) | (positions >= shape)).any(axis=1)
    if outside.any():
        k = int(np.argmax(outside))
        raise FaciesError(f"voxel index {tuple(int(v) for v in positions[k])} is outside the survey "
                          f"{tuple(int(n) for n in shape)}")
    return positions


class _Gatherer:
    """Voxels grouped by reading region; each region of ``array`` read once, grown by ``halo``.

    Regions are tiles of whole chunk columns (sized as :func:`region_columns` says), cut to the
    extent of the voxels in them plus the halo: a polygon on one time slice reads one chunk layer,
    a sample spread over the survey reads each column once.
    """

    def __init__(self, survey, positions: np.ndarray, array, halo: tuple[int, int, int], brick):
        self.survey, self.positions, self.array, self.halo = survey, positions, array, halo
        self.shape = tuple(int(n) for n in survey.shape)
        step = region_columns(self.shape, survey.chunks, brick)
        tile = positions[:, :2] // np.asarray(step)
        self.order = np.lexsort((tile[:, 1], tile[:, 0]))  # voxels by tile, each tile's in their given order
        keys = tile[self.order]
        cuts = np.flatnonzero((keys[1:] != keys[:-1]).any(axis=1)) + 1
        self.groups = np.split(self.order, cuts) if positions.size else []

    def regions(self):
        """(voxel numbers, region start, region data) per tile: the data NaN-padded outside the survey."""
        for group in self.groups:
            p = self.positions[group]
            lo = p.min(axis=0) - self.halo
            hi = p.max(axis=0) + 1 + np.asarray(self.halo)
            inside_lo = np.maximum(lo, 0)
            inside_hi = np.minimum(hi, self.shape)
            data = np.asarray(self.array[tuple(slice(int(a), int(b)) for a, b in zip(inside_lo, inside_hi))])
            pad = [(int(a - b), int(c - d)) for a, b, c, d in zip(inside_lo, lo, hi, inside_hi)]
            yield group, lo, data, pad

    def stored(self, what: str, progress) -> np.ndarray:
        """The stored array's values at the voxels."""
        out = np.empty(self.positions.shape[0], dtype=np.float32)
        with WorkProgress(what, len(self.groups), unit="vox", enabled=progress) as bar:
            for group, lo, data, _ in self.regions():
                local = self.positions[group] - lo
                out[group] = data[local[:, 0], local[:, 1], local[:, 2]]
                bar.advance(1, group.size)
        return out

    def computed(self, operator: Operator, source: str, backend: Backend, what: str, progress) -> np.ndarray:
        """The operator's output at the voxels, from stacked cubes of its inputs (``source``, maybe the mask)."""
        out = np.empty(self.positions.shape[0], dtype=np.float32)
        cube = tuple(2 * h + 1 for h in self.halo)
        per_batch = max(1, BATCH_VOXELS // math.prod(cube))
        live = np.asarray(self.survey.geometry.trace_mask, dtype=bool)
        with WorkProgress(what, len(self.groups), unit="vox", enabled=progress) as bar:
            for group, lo, data, pad in self.regions():
                grown = pad_boundary(data, pad, "nan", np)  # NaN outside the survey, as on a brick
                mask = _lateral_region(live, lo[:2], grown.shape[:2])
                if not stack_cubes(group.size, math.prod(cube), grown.size):
                    # Dense voxels (a polygon's slice, a sample denser than 1 in a cube): the whole region is
                    # the cheaper brick; its interior is the voxels' bounding box.
                    inputs = _inputs(operator, source, backend, grown, mask)
                    box = backend.to_host(operator.compute(inputs, backend.xp)[operator.outputs[0].name])
                    local = self.positions[group] - lo - self.halo
                    out[group] = box[local[:, 0], local[:, 1], local[:, 2]]
                    bar.advance(1, group.size)
                    continue
                for start in range(0, group.size, per_batch):
                    part = group[start:start + per_batch]
                    corner = self.positions[part] - lo - self.halo  # voxel v's cube: corner[v] .. corner[v] + 2 halo
                    out[part] = _batch(operator, source, backend, grown, mask, corner, cube)
                bar.advance(1, group.size)
        return out


def _batch(operator: Operator, source: str, backend, grown, mask, corner, cube) -> np.ndarray:
    """One operator call on the cubes at ``corner`` stacked along the inline axis; their centres' values.

    The stacked volume is a brick to the operator: grown by its halo on every side, so its output
    is the column of the cubes' inline rows minus the halo, and cube ``v``'s centre is row
    ``v * cube[0]`` of it (the rows between mix two cubes and are dropped).
    """
    offsets = [np.arange(c) for c in cube]
    i = (corner[:, 0, None] + offsets[0]).reshape(-1)  # each cube's inline rows, one cube after another
    rows = np.repeat(np.arange(corner.shape[0]), cube[0])  # the voxel each stacked row belongs to
    j = (corner[:, 1, None] + offsets[1])[rows]
    k = (corner[:, 2, None] + offsets[2])[rows]
    inputs = _inputs(operator, source, backend, grown[i[:, None, None], j[:, :, None], k[:, None, :]],
                     mask[i[:, None], j])
    column = backend.to_host(operator.compute(inputs, backend.xp)[operator.outputs[0].name])
    return np.asarray(column[::cube[0], 0, 0], dtype=np.float32)


def _inputs(operator: Operator, source: str, backend, volume, mask) -> dict:
    """The operator's inputs on its backend: ``volume`` as ``source``, ``mask`` as the trace mask."""
    inputs = {}
    for input_name in operator.inputs:
        if input_name == source:
            inputs[input_name] = backend.to_device(volume)
        elif input_name == TRACE_MASK:
            inputs[input_name] = backend.to_device(mask)
        else:
            raise FaciesError(f"{operator!r} reads {input_name!r}; a virtual array is computed from one source array")
    return inputs


def stack_cubes(voxels: int, cube_voxels: int, region_voxels: int) -> bool:
    """Whether stacking the voxels' cubes reads fewer voxels than computing their whole region (grown by the halo).

    Both give the same values bit for bit (tests/test_virtual_values.py forces each); only the cost differs.
    """
    return voxels * cube_voxels < region_voxels


def _lateral_region(live: np.ndarray, lo, shape) -> np.ndarray:
    """The trace mask over a region starting at ``lo`` (may reach outside the survey): float32 1 live, 0 dead,
    NaN outside, as the brick engine hands ``trace_mask`` under the "nan" boundary."""
    out = np.full(shape, np.nan, dtype=np.float32)
    a0, b0 = max(0, int(lo[0])), max(0, int(lo[1]))
    a1, b1 = min(live.shape[0], int(lo[0]) + shape[0]), min(live.shape[1], int(lo[1]) + shape[1])
    if a1 > a0 and b1 > b0:
        out[a0 - int(lo[0]):a1 - int(lo[0]), b0 - int(lo[1]):b1 - int(lo[1])] = live[a0:a1, b0:b1]
    return out


def region_columns(shape, chunks, brick=None) -> tuple[int, int]:
    """Inline and crossline extent of the reading regions: whole chunks, about :data:`REGION_VOXELS` voxels
    with all samples (or ``brick``, rounded up to whole chunks)."""
    ci, cx = int(chunks[0]), int(chunks[1])
    if brick is not None:
        return max(ci, -(-int(brick[0]) // ci) * ci), max(cx, -(-int(brick[1]) // cx) * cx)
    columns = max(1, REGION_VOXELS // max(1, ci * cx * int(shape[2])))
    across = max(1, min(math.ceil(shape[1] / cx), columns))
    down = max(1, min(math.ceil(shape[0] / ci), columns // across))
    return down * ci, across * cx
