"""The filter workflows behind ``facies filter``: Kuwahara, local mean and local variance of whole surveys.

Each workflow checks the filter's parameters once, builds the operators
(:mod:`facies.engine.operators`), names the output arrays, and runs them with
:func:`~facies.engine.bricks.dispatch.run_operators` (local and resumable, or on Dask, as its
:class:`~facies.engine.bricks.options.RunOptions` ask). The run times itself: the summaries read the
elapsed time and the rate from its :class:`~facies.engine.bricks.result.RunResult`.

``filter_kuwahara(..., virtual=True)`` runs nothing: after the same checks it records each output as a
virtual array (:mod:`facies.engine.virtual`), computed where it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facies.engine.bricks.dispatch import run_operators
from facies.engine.bricks.operator import Chain
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import check_outputs
from facies.engine.bricks.result import RunResult
from facies.engine.errors import FaciesError
from facies.engine.operators import KuwaharaOperator, KuwaharaSettings, LocalMean, LocalVariance
from facies.engine.progress import human_rate
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey

#: What ``provenance["command"]`` says for the Kuwahara outputs.
KUWAHARA_COMMAND = "facies filter kuwahara"
#: The operator name of a Kuwahara virtual array's recipe (:data:`facies.engine.virtual.OPERATORS`).
KUWAHARA_OPERATOR = "kuwahara"


@dataclass
class KuwaharaResult:
    """What :func:`filter_kuwahara` wrote and how fast.

    Attributes
    ----------
    outputs : dict of str to str
        Input -> output array.
    device : str
        Where the run computed (``cpu``, ``gpu``, ``dask``, ``dask-gpu``).
    seconds : float
        The run's wall time (:attr:`RunResult.seconds`).
    voxels : int
        Voxels of the survey computed by this call (per input; resumed bricks not included).
    summary : str
        The final line for people.
    """

    outputs: dict[str, str]
    device: str
    seconds: float
    voxels: int
    summary: str


def resolve_inputs(survey, inputs: Sequence[str] | str, suffix: str) -> list[str]:
    """The attributes to filter: the given names, or ``"all"`` = every attribute not named ``*suffix``.

    Raises
    ------
    FaciesError
        No input, an unknown or incomplete attribute, or an empty suffix.
    """
    if not suffix:
        raise FaciesError("--suffix must not be empty: the filtered arrays need new names")
    if isinstance(inputs, str) and inputs == "all":
        # The arrays a previous run filtered are attributes too: --all leaves them alone.
        names = [a for a in survey.resolve_attributes() if not a.endswith(suffix)]
        if not names:
            raise FaciesError(f"survey {survey.path} has no attribute volumes to filter "
                              f"(every attribute is named *{suffix})")
        return names
    return survey.resolve_attributes([inputs] if isinstance(inputs, str) else inputs)


def filter_kuwahara(survey, inputs: Sequence[str] | str, radius=2, *, mode: str = "octant", stat: str = "mean",
                    suffix: str = "_kuw", use_mask: bool = True, options: RunOptions | None = None,
                    virtual: bool = False) -> KuwaharaResult:
    """Kuwahara-filter whole attribute volumes of a survey into ``<input><suffix>`` arrays.

    All inputs are filtered in one run: a chain of one
    :class:`~facies.engine.operators.KuwaharaOperator` per input on the same brick (each brick read
    once, each output written once), all from one :class:`~facies.engine.operators.KuwaharaSettings`.
    The outputs are float32 arrays of kind ``"attribute"`` (candidates for classification) with
    provenance (command, operators, radius, mode, statistic).

    Parameters
    ----------
    survey : Survey or path
    inputs : str or sequence of str
        Attribute names, or ``"all"``: every attribute volume whose name does not end with ``suffix``.
    radius : int or tuple of 3 int
        Per axis (inline, crossline, sample): ``r`` in octant mode, ``a`` in shifted mode.
    mode : {"octant", "shifted"}
    stat : {"mean", "median"}
    suffix : str
        Output name = input name + suffix.
    use_mask : bool
        Leave the dead traces of ``trace_mask`` out of every window.
    options : RunOptions, optional
        Device, brick, memory fraction, resume, overwrite, progress, Dask (default: a local run).
    virtual : bool
        Compute nothing: record the outputs as virtual arrays (:func:`declare_kuwahara`), instantly.

    Returns
    -------
    KuwaharaResult

    Raises
    ------
    FaciesError
        Unknown inputs, bad radius, mode or statistic, existing outputs (stored or virtual) without
        ``overwrite``, ``virtual`` with ``resume`` or Dask...
    """
    if not isinstance(survey, Survey):
        survey = Survey.open(survey)
    options = options or RunOptions()
    if virtual and (options.resume or options.dask):
        flag = "--resume" if options.resume else "--dask"
        raise FaciesError(f"--virtual records recipes and computes nothing, so {flag} does not apply; run without it")
    names = resolve_inputs(survey, inputs, suffix)
    settings = KuwaharaSettings(radius, mode, stat)  # checked once, for every input
    outputs = {name: f"{name}{suffix}" for name in names}
    operators = [KuwaharaOperator(name, output_name=output, use_mask=use_mask, settings=settings)
                 for name, output in outputs.items()]
    if virtual:
        return declare_kuwahara(survey, operators, suffix, overwrite=options.overwrite)
    result = run_operators(survey, operators, {out: out for out in outputs.values()}, options,
                           command=KUWAHARA_COMMAND, kind="attribute")
    what = (f"kuwahara {settings.mode} {settings.stat} radius {','.join(map(str, settings.radius))}: "
            + ", ".join(f"{name} -> {output}" for name, output in outputs.items()))
    computed = result.stats.voxels
    if result.already_complete:
        summary = f"{what}: already complete, nothing to do"
    else:
        summary = (f"{what}; {human_rate(computed, 'vox')} x {len(names)} input(s) in {result.seconds:.1f} s "
                   f"= {human_rate(result.rate * len(names), 'vox')}/s on {result.device}"
                   + (f" ({result.bricks_skipped} of {result.bricks_total} bricks resumed)"
                      if result.bricks_skipped else ""))
    return KuwaharaResult(outputs, result.device, result.seconds, computed, summary)


def declare_kuwahara(survey: Survey, operators: Sequence[KuwaharaOperator], suffix: str, *,
                     overwrite: bool = False) -> KuwaharaResult:
    """Record each operator's output as a virtual array of ``survey`` (its recipe: source, radius, mode, stat).

    The same checks as a run, before anything is recorded: the output names follow the store's rule,
    are not inputs nor repeated, the windows fit the survey; an existing array of an output's name,
    stored or virtual, needs ``overwrite``, and a stored one must have been computed by a run (an
    ingested original never is replaced). A stored array replaced by a recipe is deleted.

    Returns
    -------
    KuwaharaResult
        Device ``"virtual"``, nothing computed.
    """
    outputs = {op.output_name: op.output_name for op in operators}
    check_outputs(survey, Chain(operators, survey.shape), outputs, overwrite=overwrite)
    for op in operators:
        parameters = {k: v for k, v in op.parameters().items() if k not in ("input", "output")}
        radius = ",".join(map(str, op.radius))
        survey.declare_virtual(
            op.output_name, source=op.input_name, operator=KUWAHARA_OPERATOR, parameters=parameters,
            provenance=make_provenance(f"{KUWAHARA_COMMAND} --virtual", {"operator": op.describe()},
                                       inputs=[op.input_name]),
            write_with={"command": KUWAHARA_COMMAND,
                        "arguments": f"--input {op.input_name} --radius {radius} --mode {op.mode} --stat {op.stat} "
                                     f"--suffix {suffix}"},
            overwrite=overwrite)
    first = operators[0]
    what = (f"kuwahara {first.mode} {first.stat} radius {','.join(map(str, first.radius))}: "
            + ", ".join(f"{op.input_name} -> {op.output_name}" for op in operators))
    summary = (f"{what}: virtual (recorded, computed where it is read; run the command without --virtual to "
               "write the data)")
    return KuwaharaResult({op.input_name: op.output_name for op in operators}, "virtual", 0.0, 0, summary)


# ---------------------------------------------------------------------- box statistics
#: Statistic -> (operator, infix of the default output name ``<input>_<infix>_r<radius>``).
_BOX_FILTERS = {"mean": (LocalMean, "mean"), "variance": (LocalVariance, "var")}


def filter_box(survey, statistic: str, input: str, radius: int = 1, *, output: str | None = None,
               boundary: str = "nan", options: RunOptions | None = None) -> RunResult:
    """Local mean or variance of ``input`` over a ``(2 radius + 1)^3`` box, ignoring NaNs, into ``output``.

    Parameters
    ----------
    survey : Survey or path
    statistic : {"mean", "variance"}
        :class:`~facies.engine.operators.LocalMean` or :class:`~facies.engine.operators.LocalVariance`.
    input : str
        Array to filter.
    radius : int
        Half-width of the box (1: 3x3x3).
    output : str, optional
        Array to write; default ``<input>_mean_r<radius>`` or ``<input>_var_r<radius>``.
    boundary : {"nan", "reflect", "nearest"}
        Outside the survey: ignored, mirrored, or the edge value repeated.
    options : RunOptions, optional
        Device, brick, memory fraction, resume, overwrite, progress, Dask (default: a local run).

    Returns
    -------
    RunResult
        Its ``summary`` is the command's final line.

    Raises
    ------
    FaciesError
        A bad radius, boundary or output name, an unknown input, existing outputs without ``overwrite``...
    """
    if not isinstance(survey, Survey):
        survey = Survey.open(survey)
    operator_class, infix = _BOX_FILTERS[statistic]
    operator = operator_class(input, statistic, radius=radius, boundary=boundary)
    output = output or f"{input}_{infix}_r{radius}"
    return run_operators(survey, [operator], {statistic: output}, options, command=f"facies filter {statistic}")
