"""The operator interface, the boundary rules, and chains of operators on one brick.

An :class:`Operator` is a stencil (or point) computation on a brick. It declares

- ``inputs``: names of the arrays it reads (store arrays, or outputs of earlier operators);
- ``outputs``: :class:`Output` specs (name, dtype), arrays over the brick;
- ``halo``: voxels it needs on each side of every axis;
- ``boundary``: how voxels outside the survey are filled (:data:`BOUNDARIES`);

and implements ``compute(inputs, xp)``. Each input arrives grown by exactly ``halo`` on both
sides of every axis (from the neighbours inside the survey, by the boundary rule outside);
each output must have the input's shape minus ``2 * halo`` (a "valid" stencil).
``xp`` is ``numpy`` or ``cupy``: write the operator once with ``xp.`` calls. An input may also
be a lateral 2D array of the store (``trace_mask``): it is cut and padded on the first two axes
(under "nan" a bool mask arrives as float32 1/0/NaN).

An operator that needs whole traces (a Hilbert transform along time by FFT) sets ``whole_traces``
and a sample-axis halo of 0: it receives every input over the full sample axis of its lateral
region (grown by its lateral halo) and returns outputs over the full sample axis; the chain cuts
them to the brick. Its results are then exact whatever the brick's height.

A :class:`Chain` runs several operators on one brick while it is in memory: it reads each
store input once over the region all its consumers need, passes intermediates in memory,
and returns the outputs to write. The same chain runs on a whole volume, on any brick, and on
Dask chunks, with bit-identical results as long as each operator computes every output voxel
with the same sequence of operations wherever the voxel sits (no running sums across the brick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from facies.engine.bricks.plan import Region, bounding_box, clip, cut, grow, outside, region_shape
from facies.engine.errors import FaciesError

#: Boundary rules, by what lies outside the survey. "nan": NaN (the operator ignores NaNs; non-float
#: inputs are promoted to float32). "reflect": d c b a | a b c d (SciPy's "reflect", NumPy's
#: "symmetric", Dask's "reflect"). "nearest": a a a a | a b c d (NumPy's "edge").
BOUNDARIES = ("nan", "reflect", "nearest")
_NUMPY_PAD_MODE = {"reflect": "symmetric", "nearest": "edge"}


@dataclass(frozen=True)
class Output:
    """One output of an operator: an array over the brick.

    Attributes
    ----------
    name : str
        Name other operators use as input, and the key the run maps to a store array.
    dtype : str
        NumPy dtype name of the output.
    """

    name: str
    dtype: str = "float32"


class Operator:
    """Base class of brick operators; see the module docstring for the contract.

    Subclasses set ``inputs``, ``outputs``, ``halo`` and ``boundary`` (as class attributes
    or in ``__init__``), implement :meth:`compute`, and return their parameters from
    :meth:`parameters` (they go into provenance and the resume check).
    """

    inputs: tuple[str, ...] = ()
    outputs: tuple[Output, ...] = ()
    halo: tuple[int, int, int] = (0, 0, 0)
    boundary: str = "nan"
    #: Extra bytes of scratch per voxel of the grown input while computing (accumulators).
    scratch_bytes_per_voxel: int = 0
    #: Inputs and outputs span the whole sample axis (see the module docstring); the sample-axis halo must be 0.
    whole_traces: bool = False

    def compute(self, inputs: Mapping[str, Any], xp) -> dict[str, Any]:
        """Compute the outputs of one brick.

        Parameters
        ----------
        inputs : mapping of str to array
            Every name of ``self.inputs``, grown by ``self.halo`` on each side.
        xp : module
            ``numpy`` or ``cupy``, the module owning the arrays.

        Returns
        -------
        dict of str to array
            Every output, with shape ``input.shape - 2 * halo``.
        """
        raise NotImplementedError

    def parameters(self) -> dict:
        """What determines this operator's results (JSON-able)."""
        return {}

    def describe(self) -> dict:
        """Name, parameters, halo and boundary, for provenance and the ledger."""
        return {"operator": type(self).__name__, **self.parameters(),
                "halo": list(self.halo), "boundary": self.boundary}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({params})"


def pad_boundary(array, pad: Sequence[tuple[int, int]], boundary: str, xp):
    """Fill ``pad`` voxels before/after each axis by the boundary rule (``xp.pad``).

    The padded array equals the same region cut from the whole survey padded by the same rule,
    provided ``array`` reaches the survey edge on every padded side and either spans the axis
    or holds at least as many voxels as are padded there (true for a brick's read region).
    """
    if boundary == "nan" and array.dtype.kind != "f":
        array = array.astype(xp.float32)  # always, padded or not, so every brick sees the same dtype
    if not any(before or after for before, after in pad):
        return array
    if boundary == "nan":
        return xp.pad(array, pad, mode="constant", constant_values=xp.nan)
    return xp.pad(array, pad, mode=_NUMPY_PAD_MODE[boundary])


def check_operator(op: Operator) -> None:
    """Raise FaciesError when an operator's declarations are malformed."""
    if op.boundary not in BOUNDARIES:
        raise FaciesError(f"{op!r} has boundary {op.boundary!r}; use one of {', '.join(BOUNDARIES)}")
    if len(op.halo) != 3 or any(int(h) < 0 for h in op.halo):
        raise FaciesError(f"{op!r} has halo {op.halo}; it must be 3 non-negative integers")
    if not op.outputs:
        raise FaciesError(f"{op!r} declares no outputs")
    if op.whole_traces and int(op.halo[2]) != 0:
        raise FaciesError(f"{op!r} works on whole traces, so its halo along the samples must be 0, not {op.halo[2]}")


class RegionPlan(NamedTuple):
    """What one output region of a :class:`Chain` needs (:meth:`Chain.plan_regions`).

    Attributes
    ----------
    reads : dict of str to Region
        Per store input, the region to read (clipped to the survey).
    operators : list of Region or None
        Per operator, the region of its outputs (inside the survey), or None for an operator none
        of the wanted outputs depends on (it is not run).
    """

    reads: dict[str, Region]
    operators: list[Region | None]


class Chain:
    """Operators run one after another on the same brick.

    Parameters
    ----------
    operators : sequence of Operator
        In execution order; an operator may read outputs of earlier ones.
    shape : tuple of int
        Survey shape (where the boundary rules start).
    """

    def __init__(self, operators: Sequence[Operator], shape: tuple[int, ...]):
        if not operators:
            raise FaciesError("a run needs at least one operator")
        self.operators = tuple(operators)
        self.shape = tuple(int(n) for n in shape)
        produced: dict[str, Output] = {}
        sources: list[str] = []
        for op in self.operators:
            check_operator(op)
            for name in op.inputs:
                if name not in produced and name not in sources:
                    sources.append(name)
            for out in op.outputs:
                if out.name in produced or out.name in sources:
                    raise FaciesError(f"output {out.name!r} of the {type(op).__name__} operator is produced twice or "
                                      "shadows an input; give the outputs other names")
                produced[out.name] = out
        self.sources: tuple[str, ...] = tuple(sources)
        self.produced: dict[str, Output] = produced
        self._check_halo()

    def _check_halo(self) -> None:
        """Refuse a halo wider than the survey: the window would reach past it on every side (pointless,
        and its brick would not fit in memory)."""
        for axis, (halo, size) in enumerate(zip(self.total_halo(), self.shape)):
            if halo > size:
                raise FaciesError(f"the operators reach {halo} voxels around each voxel along "
                                  f"{('inline', 'crossline', 'sample')[axis]}, more than the survey's {size}: "
                                  "choose a smaller radius or window")

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of all outputs of the operators (intermediates included)."""
        return tuple(self.produced)

    def total_halo(self) -> tuple[int, ...]:
        """Halo of the chain: the deepest sum of halos from a store input to an output."""
        depth: dict[str, tuple[int, ...]] = {name: (0, 0, 0) for name in self.sources}
        whole: set[str] = set()  # arrays computed from whole traces: they already span the sample axis
        for op in self.operators:
            inner = tuple(max(depth[i][a] for i in op.inputs) if op.inputs else 0 for a in range(3))
            from_whole = op.whole_traces or any(name in whole for name in op.inputs)
            for out in op.outputs:
                reach = tuple(d + h for d, h in zip(inner, op.halo))
                if from_whole:  # the full sample axis is read, and no more: as if the halo were the trace length
                    whole.add(out.name)
                    reach = (reach[0], reach[1], self.shape[2])
                depth[out.name] = reach
        return tuple(max(d[a] for d in depth.values()) for a in range(3))

    def bytes_per_voxel(self, source_itemsize: Mapping[str, int]) -> float:
        """Rough working-set bytes per voxel of a brick grown by its halo: inputs, outputs, scratch."""
        total = sum(source_itemsize.values())
        for op in self.operators:
            total += sum(np.dtype(o.dtype).itemsize for o in op.outputs)
            total += op.scratch_bytes_per_voxel
        return float(total)

    def plan_regions(self, out_region: Region, wanted: Sequence[str]) -> RegionPlan:
        """Regions each array must cover so that ``wanted`` outputs cover ``out_region``.

        Returns the regions by array name (store inputs clipped to the survey: that is what
        to read) and, per operator, the region of its outputs (inside the survey), or None
        for an operator none of the wanted outputs depends on (it is not run). Plan a region
        once and pass the plan to :meth:`run`: the scheduler reads and computes from one plan.
        """
        need: dict[str, Region | None] = {name: out_region for name in wanted}
        op_regions: list[Region | None] = [None] * len(self.operators)
        for k in range(len(self.operators) - 1, -1, -1):
            op = self.operators[k]
            region = None
            for out in op.outputs:
                needed = need.get(out.name)
                if needed is not None:
                    region = bounding_box(region, needed)
            if region is None:  # nothing wanted depends on this operator
                continue
            region = clip(region, self.shape)
            if op.whole_traces:  # computed (and its inputs needed) over the full sample axis
                region = (region[0], region[1], (0, self.shape[2]))
            op_regions[k] = region
            grown = clip(grow(region, op.halo), self.shape)
            for name in op.inputs:
                need[name] = bounding_box(need.get(name), grown)
        return RegionPlan({name: needed for name in self.sources if (needed := need.get(name)) is not None},
                          op_regions)

    def run(self, out_region: Region, sources: Mapping[str, tuple[Any, Region]], xp,
            wanted: Sequence[str], plan: RegionPlan | None = None) -> dict[str, Any]:
        """Compute the chain on one brick.

        Parameters
        ----------
        out_region : Region
            The brick's output region.
        sources : mapping of str to (array, Region)
            Every store input with the region it covers (at least what :meth:`plan_regions` asked).
        xp : module
            Array module of the arrays.
        wanted : sequence of str
            Outputs to return over ``out_region``.
        plan : RegionPlan, optional
            :meth:`plan_regions` of ``out_region`` and ``wanted``, when the caller has it already.

        Returns
        -------
        dict of str to array
            The wanted outputs cut to ``out_region``.
        """
        op_regions = (plan or self.plan_regions(out_region, wanted)).operators
        have: dict[str, tuple[Any, Region]] = dict(sources)
        for op, region in zip(self.operators, op_regions):
            if region is None:
                continue
            target = grow(region, op.halo)
            inside = clip(target, self.shape)
            pad = outside(target, self.shape)
            arrays = {}
            for name in op.inputs:
                array, covers = have[name]
                part = cut(array, inside, covers)  # lateral inputs (trace_mask) use the first axes only
                arrays[name] = pad_boundary(part, pad[:part.ndim], op.boundary, xp)
            result = op.compute(arrays, xp)
            for out in op.outputs:
                value = result[out.name]
                if tuple(value.shape) != region_shape(region):
                    raise RuntimeError(f"{op!r} returned {out.name!r} of shape {tuple(value.shape)}, "
                                       f"expected {region_shape(region)} (input minus 2 x halo)")
                have[out.name] = (value.astype(out.dtype, copy=False), region)
        return {name: cut(have[name][0], out_region, have[name][1]) for name in wanted}

    def run_whole(self, volumes: Mapping[str, Any], xp=np, wanted: Sequence[str] | None = None) -> dict[str, Any]:
        """The chain on whole in-memory volumes (the reference the brick engine must equal)."""
        wanted = tuple(wanted or self.output_names)
        full = tuple((0, n) for n in self.shape)
        return self.run(full, {name: (volumes[name], full[:volumes[name].ndim]) for name in self.sources}, xp, wanted)

    def describe(self) -> list[dict]:
        return [op.describe() for op in self.operators]
