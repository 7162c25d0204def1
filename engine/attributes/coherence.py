"""Coherence attributes: semblance and eigenstructure, plain or dip-steered (docs/attributes.md).

:class:`CoherenceOperator` wraps :func:`facies.kernels.coherence.semblance` and
:func:`~facies.kernels.coherence.eigenstructure`. The dip-steered attributes read the inline and
crossline dips of the shared structure-tensor operator (:mod:`.structure`), so asking for dips and
steered coherence together computes the tensor once.

Boundary "nan": the windows leave out samples outside the survey (and NaN samples), so they are clipped at
the survey's edge exactly as on the whole volume. Dead traces (``trace_mask`` False) are left out too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter, SurveySampling
from facies.engine.attributes.structure import STRUCTURE_PARAMETERS, check_structure, structure_operators
from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.kernels.coherence import check_max_dip, check_window, coherence_halo, eigenstructure, semblance

FAMILY = "coherence"
METHODS = {"semblance": semblance, "eigenstructure": eigenstructure}
#: The store's lateral array of live traces (True) and dead ones (False).
TRACE_MASK = "trace_mask"


class CoherenceOperator(Operator):
    """Semblance or eigenstructure coherence of ``source`` over a window, optionally steered by dips.

    Parameters
    ----------
    source : str
        The amplitude array.
    output : str
        Name of the float32 output.
    method : {"semblance", "eigenstructure"}
    window : tuple of 3 odd ints
        Inline traces, crossline traces, samples.
    dips : pair of str, optional
        Names of the inline and crossline dip arrays (samples per trace) that steer the window.
    max_dip : float
        Dips are clipped to ``[-max_dip, max_dip]``; sets the halo along the samples.
    use_mask : bool
        Read the store's ``trace_mask`` and leave dead traces out of every window.
    """

    boundary = "nan"
    # The float32 output and the masked copy of the brick; the kernels' tiles are bounded (kernels/coherence).
    scratch_bytes_per_voxel = 8

    def __init__(self, source: str, output: str, *, method: str = "semblance", window=(3, 3, 9),
                 dips: tuple[str, str] | None = None, max_dip: float = 2.0, use_mask: bool = True):
        if method not in METHODS:
            raise FaciesError(f"unknown coherence method {method!r}; use one of {', '.join(METHODS)}")
        try:
            self.window = check_window(window, eigen=method == "eigenstructure")
            self.max_dip = check_max_dip(max_dip)
        except ValueError as exc:
            raise FaciesError(str(exc)) from None
        self.source, self.method, self.use_mask = source, method, bool(use_mask)
        self.dips = None if dips is None else (str(dips[0]), str(dips[1]))
        self.inputs = (source, *((TRACE_MASK,) if self.use_mask else ()), *(self.dips or ()))
        self.outputs = (Output(output, "float32"),)
        self.halo = coherence_halo(self.window, steered=self.dips is not None, max_dip=self.max_dip)

    def parameters(self) -> dict:
        return {"input": self.source, "output": self.outputs[0].name, "method": self.method,
                "window": list(self.window), "dips": None if self.dips is None else list(self.dips),
                "max_dip": self.max_dip, "use_mask": self.use_mask}

    def compute(self, inputs, xp):
        x = inputs[self.source]
        if self.use_mask:
            # Under "nan" the bool mask arrives as float32: 1 live, 0 dead, NaN outside (where x is NaN anyway).
            x = xp.where((inputs[TRACE_MASK] == 1)[:, :, None], x, xp.nan)
        dips = None if self.dips is None else (inputs[self.dips[0]], inputs[self.dips[1]])
        interior = tuple((h, n - h) for h, n in zip(self.halo, x.shape))
        result = METHODS[self.method](x, self.window, dips=dips, max_dip=self.max_dip, out_region=interior)
        return {self.outputs[0].name: result.astype(xp.float32, copy=False)}


def check_coherence(eigen: bool, steered: bool):
    """The ``check`` of one coherence attribute: the window, and when steered ``max_dip`` and the sigmas."""
    def check(params: Mapping[str, Any], sampling: SurveySampling | None = None) -> None:
        try:
            check_window(params["window"], eigen=eigen)
            if steered:
                check_max_dip(params["max_dip"])
        except ValueError as exc:
            raise FaciesError(str(exc)) from None
        if steered:
            check_structure(params, sampling)

    return check


def _builder(method: str, steered: bool):
    def build(source: str, output: str, params: Mapping[str, Any], sampling: SurveySampling) -> list[Operator]:
        window = tuple(int(v) for v in params["window"])
        if not steered:
            return [CoherenceOperator(source, output, method=method, window=window)]
        tensor = structure_operators(source, params)
        return [tensor, CoherenceOperator(source, output, method=method, window=window,
                                          dips=(tensor.names["inline_dip"], tensor.names["crossline_dip"]),
                                          max_dip=params["max_dip"])]

    return build


WINDOW = Parameter("window", (3, 3, 9), "traces,traces,samples",
                   "analysis window: inline traces, crossline traces, samples (odd numbers)")
MAX_DIP = Parameter("max_dip", 2.0, "samples/trace", "steering dips are clipped to +-max_dip (sets the halo)")
SEMBLANCE_REFERENCE = ("Marfurt, Kirlin, Farmer and Bahorich 1998, 3-D seismic attributes using a semblance-based "
                       "coherency algorithm, Geophysics 63(4)")
EIGEN_REFERENCE = ("Gersztenkorn and Marfurt 1999, Eigenstructure-based coherence computations as an aid to 3-D "
                   "structural and stratigraphic mapping, Geophysics 64(5)")
STEERING = ("; the window follows the local reflector dip of the gradient structure tensor (neighbour traces "
            "shifted by the centre's dips, linear interpolation)")
_SEMBLANCE = ("semblance: sum over samples of (sum over traces)^2 / (traces * sum over samples and traces of "
              "amplitude^2); 1 on continuous reflectors, low across faults and chaotic zones")
_EIGEN = ("eigenstructure coherence: largest eigenvalue / trace of the window's trace covariance matrix; "
          "1 where the traces share one waveform, low across faults and chaotic zones")

SPECS: tuple[AttributeSpec, ...] = (
    AttributeSpec("semblance", FAMILY, _SEMBLANCE, SEMBLANCE_REFERENCE, (WINDOW,), _builder("semblance", False),
                  check_coherence(False, False), "1"),
    AttributeSpec("eigenstructure", FAMILY, _EIGEN, EIGEN_REFERENCE, (WINDOW,), _builder("eigenstructure", False),
                  check_coherence(True, False), "1"),
    AttributeSpec("steered_semblance", FAMILY, _SEMBLANCE + STEERING, SEMBLANCE_REFERENCE,
                  (WINDOW, MAX_DIP, *STRUCTURE_PARAMETERS), _builder("semblance", True),
                  check_coherence(False, True), "1"),
    AttributeSpec("steered_eigenstructure", FAMILY, _EIGEN + STEERING, EIGEN_REFERENCE,
                  (WINDOW, MAX_DIP, *STRUCTURE_PARAMETERS), _builder("eigenstructure", True),
                  check_coherence(True, True), "1"),
)
