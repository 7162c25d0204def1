"""The workflow behind ``facies attributes``: attributes of one source volume, computed in one brick run.

Every requested attribute's operators (:meth:`AttributeSpec.build`) go into one chain: each brick of the
source is read once (with the widest halo any attribute needs), intermediates shared by several
attributes (the analytic signal, the structure tensor) are computed once, and each attribute is written
to its own float32 array of kind ``"attribute"``, with its definition, reference and parameters in the
array's attributes and the operators in its provenance. The run is resumable and runs on Dask like the
filter (:func:`~facies.engine.bricks.dispatch.run_operators`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facies.engine.attributes.parameters import resolve_parameters
from facies.engine.attributes.registry import all_specs, attribute_spec
from facies.engine.attributes.spec import AttributeSpec, SurveySampling
from facies.engine.bricks.dispatch import run_operators
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.options import RunOptions
from facies.engine.errors import FaciesError
from facies.engine.progress import human_rate
from facies.engine.store import Survey

#: What ``provenance["command"]`` says for the attribute arrays.
COMMAND = "facies attributes"


@dataclass(frozen=True)
class PlannedAttribute:
    """One attribute of a run: its spec, its checked parameters and the array it goes to."""

    spec: AttributeSpec
    parameters: dict[str, Any]
    output: str


@dataclass
class AttributesResult:
    """What :func:`compute_attributes` wrote and how fast.

    Attributes
    ----------
    outputs : list of str
        The arrays written (or already complete).
    seconds : float
        The run's wall time.
    summary : str
        The final line for people.
    """

    outputs: list[str]
    seconds: float
    summary: str


def survey_sampling(survey: Survey) -> SurveySampling:
    """The sample interval and unit, and the inline and crossline spacing (metres) where the store has
    bin-centre coordinates (median distance between neighbouring live bins)."""
    g = survey.geometry
    cdp_x, cdp_y = np.asarray(g.cdp_x, dtype=np.float64), np.asarray(g.cdp_y, dtype=np.float64)  # NaN: no trace
    spacing = []
    for axis in (0, 1):
        x, y = np.diff(cdp_x, axis=axis), np.diff(cdp_y, axis=axis)
        d = np.hypot(x, y)
        d = d[np.isfinite(d) & (d > 0)]
        spacing.append(float(np.median(d)) if d.size else None)
    return SurveySampling(g.sample_interval, g.sample_unit, spacing[0], spacing[1], samples=int(survey.shape[2]))


def physical(value: Any, unit: str, sampling: SurveySampling) -> str:
    """A parameter's physical equivalent (``"9 samples = 36 ms"``), or "" when it has none.

    ``unit`` may name one unit per axis, comma-separated (``"traces,traces,samples"``).
    """
    values = value if isinstance(value, tuple) else (value,)
    units = [u.strip() for u in unit.split(",")] if unit else []
    if len(units) == 1 and len(values) > 1:
        units = units * len(values)
    if len(units) != len(values) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return ""
    parts = []
    for v, u in zip(values, units):
        if u == "samples" and sampling.sample_interval:
            parts.append(f"{v * sampling.sample_interval:g} {sampling.sample_unit}")
        elif u == "traces":
            spacing = sampling.inline_spacing if len(parts) == 0 else sampling.crossline_spacing
            if spacing is None:
                return ""
            parts.append(f"{v * spacing:.4g} m")
        else:
            return ""
    return " x ".join(parts)


def halo_of(spec: AttributeSpec, parameters: Mapping[str, Any] | None = None,
            sampling: SurveySampling | None = None) -> str:
    """How far the attribute reaches around a voxel, for ``--list``: ``"1, 1, 4"`` or ``"1, 1, whole trace"``."""
    params = dict(parameters) if parameters is not None else spec.defaults()
    ops = spec.build("amplitude", spec.name, params, sampling or SurveySampling(4.0))
    big = 10 ** 9
    halo = Chain(ops, (big, big, big)).total_halo()
    return ", ".join("whole trace" if axis == 2 and h >= big else str(h) for axis, h in enumerate(halo))


def plan_attributes(survey: Survey, source: str, names: Sequence[str] | str | None = None, *,
                    parameters: Mapping[str, Mapping[str, Any]] | None = None, window: Any = None,
                    suffix: str = "", sampling: SurveySampling | None = None) -> list[PlannedAttribute]:
    """The attributes of a run with their checked parameters and output names.

    Parameters
    ----------
    survey : Survey
    source : str
        The input volume (amplitude).
    names : "all", sequence of str, or None
        Attribute names; "all" or None: every attribute (on a depth survey, every one that needs no time axis).
    parameters : mapping of attribute -> mapping of parameter -> value, optional
        Values given by the user (text or typed); the rest keep their defaults.
    window : optional
        A value for the ``window`` parameter of every requested attribute that has one.
    suffix : str
        Output name = attribute name + suffix.

    Raises
    ------
    FaciesError
        An unknown attribute or parameter, a bad value, parameters for an attribute not requested,
        ``window`` when no requested attribute has one.
    """
    specs = list(all_specs().values()) if names in (None, "all") else [attribute_spec(n) for n in dict.fromkeys(names)]
    if not specs:
        raise FaciesError("no attribute requested: pass -a NAME (repeatable) or --all")
    given = {name: dict(values) for name, values in (parameters or {}).items()}
    requested = {spec.name for spec in specs}
    for name in given:
        attribute_spec(name)  # unknown name: its own error
        if name not in requested:
            raise FaciesError(f"--param for {name!r}, which is not requested; add -a {name} or drop the parameter")
    if window is not None:
        having = [spec for spec in specs if any(p.name == "window" for p in spec.parameters)]
        if not having:
            raise FaciesError("--window: none of the requested attributes has a window parameter")
        for spec in having:
            given.setdefault(spec.name, {}).setdefault("window", window)
    sampling = sampling or survey_sampling(survey)
    if names in (None, "all") and sampling.sample_unit != "ms":
        specs = [spec for spec in specs if _valid_on_this_axis(spec, sampling)]
    planned = []
    sample = None
    for spec in specs:
        params = resolve_parameters(spec, given.get(spec.name, {}))
        for key, measure in spec.extra.get("fill", {}).items():
            if params.get(key) is None:  # measured on the source, from the same traces every time (resume agrees)
                sample = volume_sample(survey, source) if sample is None else sample
                params[key] = measure(sample)
        if spec.check is not None:
            spec.check(params, sampling)
        planned.append(PlannedAttribute(spec, params, f"{spec.name}{suffix}"))
    outputs = [p.output for p in planned]
    if source in outputs:
        raise FaciesError(f"attribute {source!r} would overwrite its own source; choose another --suffix")
    return planned


def _valid_on_this_axis(spec: AttributeSpec, sampling: SurveySampling) -> bool:
    """Whether ``spec`` with its defaults can run on a depth survey (frequencies in Hz need a time axis): --all
    leaves out the attributes that cannot, instead of stopping at the first of them."""
    if spec.check is None:
        return True
    try:
        spec.check(spec.defaults(), sampling)
    except FaciesError:
        return False
    return True


def volume_sample(survey: Survey, source: str, traces: int = 8) -> np.ndarray:
    """Whole traces of ``source`` on an evenly spaced ``traces`` x ``traces`` grid of the survey: the values a
    parameter measured on the volume (a quantisation clip) is taken from. The same traces every time."""
    n_il, n_xl, _ = survey.shape
    rows = np.unique(np.linspace(0, n_il - 1, min(traces, n_il)).round().astype(int))
    cols = np.unique(np.linspace(0, n_xl - 1, min(traces, n_xl)).round().astype(int))
    return np.stack([survey.read(source, inline=slice(i, i + 1), crossline=slice(j, j + 1))[0, 0]
                     for i in rows for j in cols])


def _unique(operators: list[Operator]) -> list[Operator]:
    """One operator per computation: later copies of an operator with the same type, outputs and parameters go."""
    seen, kept = set(), []
    for op in operators:
        key = (type(op).__name__, tuple(o.name for o in op.outputs), repr(sorted(op.parameters().items())))
        if key not in seen:
            seen.add(key)
            kept.append(op)
    return kept


def compute_attributes(survey, source: str = "amplitude", names: Sequence[str] | str | None = None, *,
                       parameters: Mapping[str, Mapping[str, Any]] | None = None, window: Any = None,
                       suffix: str = "", options: RunOptions | None = None) -> AttributesResult:
    """Compute attributes of ``source`` into ``<name><suffix>`` arrays in one brick run (see the module docstring).

    Parameters
    ----------
    survey : Survey or path
    source, names, parameters, window, suffix
        As :func:`plan_attributes`.
    options : RunOptions, optional
        Device, brick, memory fraction, resume, overwrite, progress, Dask.

    Returns
    -------
    AttributesResult

    Raises
    ------
    FaciesError
        As :func:`plan_attributes`; a missing source; existing outputs without ``overwrite``.
    """
    if not isinstance(survey, Survey):
        survey = Survey.open(survey)
    options = options or RunOptions()
    survey.resolve_attributes([source])  # exists, 3D, complete, not virtual: its own one-line errors
    sampling = survey_sampling(survey)
    planned = plan_attributes(survey, source, names, parameters=parameters, window=window, suffix=suffix,
                              sampling=sampling)
    operators: list[Operator] = []
    for p in planned:
        operators.extend(p.spec.build(source, p.output, p.parameters, sampling))
    operators = _unique(operators)
    outputs = {p.output: p.output for p in planned}
    result = run_operators(survey, operators, outputs, options, command=COMMAND, kind="attribute")
    for p in planned:
        survey.set_array_attrs(p.output, {
            "long_name": p.spec.definition, "units": p.spec.units,
            "attribute": {"name": p.spec.name, "family": p.spec.family, "source": source,
                          "definition": p.spec.definition, "reference": p.spec.reference,
                          "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in p.parameters.items()}}})
    names_text = ", ".join(outputs)
    if result.already_complete:
        summary = f"attributes of {source}: {names_text}: already complete, nothing to do"
    else:
        voxels = result.stats.voxels
        rate = voxels / result.seconds if result.seconds > 0 else math.inf
        summary = (f"attributes of {source}: {names_text}: {human_rate(voxels, 'vox')} in {result.seconds:.1f} s "
                   f"({human_rate(rate, 'vox')}/s, {result.device})")
    return AttributesResult(list(outputs), result.seconds, summary)
