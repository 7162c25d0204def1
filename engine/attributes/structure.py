"""Structure attributes: reflector dips and chaos from the gradient structure tensor (docs/attributes.md).

:class:`StructureTensorOperator` computes the shared intermediate, the inline and crossline dips and the
chaos of one source array for one pair of sigmas, under names made from the source and the sigmas
(:func:`structure_names`), so the workflow runs it once for every attribute that needs it (the dips,
their magnitude and azimuth, the chaos, and the dip-steered coherence of :mod:`.coherence`).
:class:`StructurePointOperator` then takes each requested attribute from it voxel by voxel (no halo).

Boundary "reflect": the filters see the survey mirrored at its edges (with NaN there, a halo-wide band
of the survey's edge would be lost). A NaN inside the survey makes every voxel whose filters reach it
NaN (the halo box around it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.kernels.structure import (DERIVATIVE_SIGMA_RANGE, SIGMA_RANGE, check_sigma, structure_attributes,
                                      structure_halo)

FAMILY = "structure"
#: The intermediate outputs of :class:`StructureTensorOperator`, in order.
INTERMEDIATES = ("inline_dip", "crossline_dip", "chaos")
#: The attributes of this family, and the intermediates each reads.
POINT_INPUTS = {"inline_dip": ("inline_dip",), "crossline_dip": ("crossline_dip",),
                "dip_magnitude": ("inline_dip", "crossline_dip"), "dip_azimuth": ("inline_dip", "crossline_dip"),
                "chaos": ("chaos",)}
STRUCTURE_REFERENCE = ("Bakker 2002, Image structure analysis for seismic interpretation, PhD thesis, TU Delft; "
                       "Randen et al. 2000, Three-dimensional texture attributes for seismic data analysis, "
                       "SEG Expanded Abstracts")


def structure_names(source: str, derivative_sigma: float, sigma: float) -> dict[str, str]:
    """The intermediate names of the structure tensor of ``source`` for these sigmas, by :data:`INTERMEDIATES`."""
    tag = f"{source}@structure_tensor(derivative_sigma={float(derivative_sigma):g},sigma={float(sigma):g})"
    return {kind: f"{tag}.{kind}" for kind in INTERMEDIATES}


class StructureTensorOperator(Operator):
    """Inline dip, crossline dip and chaos of ``source`` from its gradient structure tensor.

    Parameters
    ----------
    source : str
        The amplitude array (or an earlier operator's output).
    derivative_sigma, sigma : float
        Gaussians of the derivative filters and of the tensor smoothing, in samples and traces
        (:func:`facies.kernels.structure.structure_tensor`).

    Outputs are float32, named by :func:`structure_names`; halo
    :func:`~facies.kernels.structure.structure_halo` on every axis.
    """

    boundary = "reflect"
    # Three float32 gradients and six float32 tensor components beside the brick, and one filter pass's copy.
    scratch_bytes_per_voxel = 4 * (3 + 6 + 3)

    def __init__(self, source: str, *, derivative_sigma: float = 1.0, sigma: float = 2.0):
        self.source = source
        self.derivative_sigma = float(derivative_sigma)
        self.sigma = float(sigma)
        self.names = structure_names(source, self.derivative_sigma, self.sigma)
        self.inputs = (source,)
        self.outputs = tuple(Output(self.names[kind], "float32") for kind in INTERMEDIATES)
        h = structure_halo(self.derivative_sigma, self.sigma)
        self.halo = (h, h, h)

    def parameters(self) -> dict:
        return {"input": self.source, "derivative_sigma": self.derivative_sigma, "sigma": self.sigma}

    def compute(self, inputs, xp):
        x = inputs[self.source]
        interior = tuple((h, n - h) for h, n in zip(self.halo, x.shape))
        result = structure_attributes(x, derivative_sigma=self.derivative_sigma, sigma=self.sigma,
                                      out_region=interior)
        return {self.names[kind]: value for kind, value in zip(INTERMEDIATES, result)}


class StructurePointOperator(Operator):
    """One structure attribute from the intermediates of a :class:`StructureTensorOperator`, voxel by voxel.

    ``inline_dip``, ``crossline_dip`` and ``chaos`` are taken as they are; ``dip_magnitude`` is
    ``hypot(inline_dip, crossline_dip)``; ``dip_azimuth`` is ``degrees(atan2(crossline_dip, inline_dip))``.
    """

    boundary = "nan"
    halo = (0, 0, 0)

    def __init__(self, kind: str, names: Mapping[str, str], output: str):
        if kind not in POINT_INPUTS:
            raise FaciesError(f"unknown structure attribute {kind!r}; use one of {', '.join(POINT_INPUTS)}")
        self.kind = kind
        self.inputs = tuple(names[name] for name in POINT_INPUTS[kind])
        self.outputs = (Output(output, "float32"),)

    def parameters(self) -> dict:
        return {"attribute": self.kind, "inputs": list(self.inputs), "output": self.outputs[0].name}

    def compute(self, inputs, xp):
        values = [inputs[name] for name in self.inputs]
        if self.kind == "dip_magnitude":
            result = xp.hypot(*values)
        elif self.kind == "dip_azimuth":
            result = xp.degrees(xp.arctan2(values[1], values[0]))
        else:
            result = values[0]
        return {self.outputs[0].name: result.astype(xp.float32, copy=False)}


def check_structure(params: Mapping[str, Any], sampling: SurveySampling | None = None) -> None:
    """Raise FaciesError (one line naming the parameter) for a sigma out of range."""
    try:
        check_sigma("derivative_sigma", params["derivative_sigma"], DERIVATIVE_SIGMA_RANGE)
        check_sigma("sigma", params["sigma"], SIGMA_RANGE)
    except ValueError as exc:
        raise FaciesError(str(exc)) from None


STRUCTURE_PARAMETERS = (
    Parameter("derivative_sigma", 1.0, "voxels", "Gaussian of the derivative filters, in samples and traces"),
    Parameter("sigma", 2.0, "voxels", "Gaussian smoothing of the gradient products (the analysis scale)"),
)


def structure_operators(source: str, params: Mapping[str, Any]) -> StructureTensorOperator:
    """The shared structure-tensor operator of ``source`` for the sigmas in ``params``."""
    return StructureTensorOperator(source, derivative_sigma=params["derivative_sigma"], sigma=params["sigma"])


def _builder(kind: str):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        tensor = structure_operators(source, params)
        return [tensor, StructurePointOperator(kind, tensor.names, output)]

    return build


_DEFINITIONS = {
    "inline_dip": ("reflector dip along the inline axis, samples (time or depth) per inline step: -v_il / v_t of the "
                   "dominant eigenvector v of the gradient structure tensor", "samples/trace"),
    "crossline_dip": ("reflector dip along the crossline axis, samples (time or depth) per crossline step: -v_xl / v_t "
                      "of the dominant eigenvector v of the gradient structure tensor", "samples/trace"),
    "dip_magnitude": ("true dip, sqrt(inline_dip^2 + crossline_dip^2), from the gradient structure tensor",
                      "samples/trace"),
    "dip_azimuth": ("direction in which reflectors deepen, atan2(crossline_dip, inline_dip): 0 towards higher "
                    "inlines, 90 towards higher crosslines (survey grid, not geographic)", "degrees"),
    "chaos": ("2 l2 / (l1 + l3) - 1 of the eigenvalues l1 >= l2 >= l3 of the gradient structure tensor: -1 on "
              "planar reflectors, 0 where gradients point every way, up to 1 on linear features", "1"),
}

SPECS: tuple[AttributeSpec, ...] = tuple(
    AttributeSpec(name=kind, family=FAMILY, definition=definition, reference=STRUCTURE_REFERENCE,
                  parameters=STRUCTURE_PARAMETERS, build=_builder(kind), check=check_structure, units=units)
    for kind, (definition, units) in _DEFINITIONS.items())
