"""What an attribute is: the contract between the attribute families and the ``facies attributes`` workflow.

Each family module of this package (``complex_trace``, ``windowed``, ``spectral``, ``structure``,
``coherence``, ``texture``) exports ``SPECS: tuple[AttributeSpec, ...]``, one per attribute it computes.
The registry (``registry.py``) gathers them; the workflow builds each requested attribute's operators
with :meth:`AttributeSpec.build` and runs them in one brick-engine chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from facies.engine.bricks.operator import Operator


@dataclass(frozen=True)
class SurveySampling:
    """The survey's sampling, for parameters given in samples and traces and for physical units.

    Attributes
    ----------
    sample_interval : float
        Sample interval in ``sample_unit`` (e.g. 4.0 for 4 ms).
    sample_unit : str
        "ms", "m" or "ft".
    inline_spacing, crossline_spacing : float or None
        Distance between neighbouring inlines and crosslines in metres, when the store knows the
        bin-centre coordinates; None otherwise.
    samples : int or None
        Samples per trace (the survey's last axis), which bounds parameters in samples (a window
        longer than the trace); None when unknown (the checks then use fixed bounds).
    """

    sample_interval: float
    sample_unit: str = "ms"
    inline_spacing: float | None = None
    crossline_spacing: float | None = None
    samples: int | None = None


@dataclass(frozen=True)
class Parameter:
    """One parameter of an attribute.

    Attributes
    ----------
    name : str
        Key in the parameter mapping (snake_case), e.g. ``"window"``.
    default : int, float, str, bool or tuple
        Default value; its type is the parameter's type (a tuple of ints for windows per axis).
    unit : str
        "samples", "traces", "Hz", "levels", "" ... What the value counts; the workflow prints the
        physical equivalent (ms, m) from :class:`SurveySampling` where it has one.
    help : str
        One line for ``facies attributes --list``.
    """

    name: str
    default: Any
    unit: str = ""
    help: str = ""


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute computed from an input volume (amplitude).

    Attributes
    ----------
    name : str
        The attribute's name and its default output array name, e.g. ``"envelope"``.
    family : str
        "complex-trace", "windowed", "spectral", "structure", "coherence" or "texture".
    definition : str
        One line: what is computed (the formula in words), for ``--list`` and the array's provenance.
    reference : str
        The publication that defines it (author, year), for docs/attributes.md and provenance.
    parameters : tuple of Parameter
    build : callable
        ``build(source, output, params, sampling) -> list[Operator]``: the operators that compute the
        attribute of array ``source`` into the output named ``output``, in execution order, the last one
        producing ``output``. ``params`` holds every parameter (defaults filled in, already checked by
        :attr:`check`). Operators that compute a shared intermediate (the analytic signal, the structure
        tensor) name their outputs deterministically from ``source`` and their parameters, so that the
        workflow can run one copy when several requested attributes need the same intermediate (it keeps
        the first of operators with equal type, outputs and :meth:`Operator.parameters`).
    check : callable, optional
        ``check(params, sampling) -> None``: raise :class:`~facies.engine.errors.FaciesError` with one
        line naming the parameter when a value is out of range.
    units : str
        Units of the output ("amplitude", "Hz", "degrees", "1", ...).
    """

    name: str
    family: str
    definition: str
    reference: str
    parameters: tuple[Parameter, ...]
    build: Callable[[str, str, Mapping[str, Any], SurveySampling], list[Operator]]
    check: Callable[[Mapping[str, Any], SurveySampling], None] | None = None
    units: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """Every parameter with its default value."""
        return {p.name: p.default for p in self.parameters}
