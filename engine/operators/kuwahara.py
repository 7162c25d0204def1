"""The 3D adaptive Kuwahara filter as a brick operator, and the whole-survey workflow.

:class:`KuwaharaOperator` wraps :func:`facies.kernels.kuwahara.kuwahara` for the brick engine:
halo = :func:`~facies.kernels.kuwahara.kuwahara_halo` (``r`` in octant mode, ``2a`` in shifted
mode), boundary ``"nan"`` (the kernel ignores NaNs, so windows are clipped at the survey edge
exactly as on the whole volume), and the store's ``trace_mask`` as a lateral input (dead traces
are left out of every window and keep their stored value). The kernel computes every output
voxel from its own window alone (fixed-order box sums), so any brick split equals the whole
volume bit for bit.

:func:`filter_kuwahara` filters several attributes of a survey in one run: a chain of one
operator per input on the same brick (each brick read once, each output written once), local
and resumable, or on Dask.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.engine.memory import DEFAULT_FRACTION
from facies.engine.progress import human_rate
from facies.kernels.kuwahara import kuwahara
from facies.kernels.kuwahara.windows import check_box_size, check_mode, check_stat, kuwahara_halo, normalise_radius

#: The store's lateral array of live traces (True) and dead ones (False).
TRACE_MASK = "trace_mask"
#: What ``provenance["command"]`` says for arrays this module writes.
COMMAND = "facies filter kuwahara"


def _checked(function, *args):
    """Call a kernel helper; its ValueError becomes a one-line FaciesError."""
    try:
        return function(*args)
    except ValueError as exc:
        raise FaciesError(str(exc).splitlines()[0]) from None


class KuwaharaOperator(Operator):
    """Adaptive 3D Kuwahara filter of one input array (see ``docs/kuwahara.md``).

    Parameters
    ----------
    input_name : str
        Array to filter (a store array or an earlier operator's output).
    radius : int or tuple of 3 int
        ``r`` (octant) or ``a`` (shifted) per axis (inline, crossline, sample), each >= 0.
    mode : {"octant", "shifted"}
    stat : {"mean", "median"}
    output_name : str
        Name of the float32 output.
    use_mask : bool
        Read the store's ``trace_mask`` and leave dead traces out of every window.

    Raises
    ------
    FaciesError
        A negative or malformed radius, windows of more than 65,535 voxels, an unknown mode or
        statistic. (A radius too large for the GPU kernel's shared memory is refused by
        :meth:`compute` on the first GPU brick, where the device is known.)
    """

    boundary = "nan"
    # The kernel's own output (float32) and the live-trace mask; on the CPU its box sums work in
    # tiles of bounded size (TILE_VOXELS in kernels/kuwahara/_numpy.py), so their scratch does not
    # grow with the brick. On the GPU the box statistics take 16 bytes per box.
    scratch_bytes_per_voxel = 4 + 16

    def __init__(self, input_name: str, radius=2, mode: str = "octant", stat: str = "mean",
                 output_name: str | None = None, use_mask: bool = True):
        self.radius = _checked(normalise_radius, radius)
        self.mode = _checked(check_mode, mode)
        self.stat = _checked(check_stat, stat)
        _checked(check_box_size, self.radius, self.mode)  # refused before any brick is read
        self.use_mask = bool(use_mask)
        self.input_name = input_name
        self.output_name = output_name or f"{input_name}_kuw"
        self.inputs = (input_name, TRACE_MASK) if self.use_mask else (input_name,)
        self.outputs = (Output(self.output_name, "float32"),)
        self.halo = kuwahara_halo(self.radius, self.mode)

    def parameters(self) -> dict:
        return {"input": self.input_name, "output": self.output_name, "radius": list(self.radius),
                "mode": self.mode, "stat": self.stat, "use_mask": self.use_mask}

    def compute(self, inputs, xp):
        x = inputs[self.input_name]
        mask = None
        if self.use_mask:
            # Under the "nan" boundary the bool mask arrives as float32: 1 live, 0 dead, NaN
            # outside the survey (where x is NaN too, so False there changes nothing).
            mask = inputs[TRACE_MASK] == 1
        try:
            filtered = kuwahara(x, self.radius, mode=self.mode, stat=self.stat, mask=mask)
        except ValueError as exc:
            raise FaciesError(f"kuwahara on {self.input_name!r}: {str(exc).splitlines()[0]}") from None
        # The brick arrives grown by the halo: keep the interior ("valid" output).
        interior = tuple(slice(h, n - h) for h, n in zip(self.halo, filtered.shape))
        return {self.output_name: filtered[interior].astype(xp.float32, copy=False)}


@dataclass
class KuwaharaResult:
    """What :func:`filter_kuwahara` wrote and how fast."""

    outputs: dict[str, str]      # input -> output array
    device: str
    seconds: float
    voxels: int                  # voxels of the survey computed by this call (per input)
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
                    suffix: str = "_kuw", device: str = "auto", brick: Sequence[int] | None = None,
                    memory_fraction: float = DEFAULT_FRACTION, resume: bool = False, overwrite: bool = False,
                    dask: str | None = None, dask_gpu: bool = False, progress: bool | None = None,
                    use_mask: bool = True, dask_options: dict | None = None) -> KuwaharaResult:
    """Kuwahara-filter whole attribute volumes of a survey into ``<input><suffix>`` arrays.

    All inputs are filtered in one run: a chain of one :class:`KuwaharaOperator` per input on
    the same brick. The outputs are float32 arrays of kind ``"attribute"`` (candidates for
    classification) with provenance (command, operators, radius, mode, statistic).

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
    device : {"auto", "cpu", "gpu"}
        Local runs only.
    brick : sequence of int, optional
        Brick shape ``(IL, XL[, S])`` rounded up to whole chunks; default from free memory.
    memory_fraction : float
        Share of free host (and GPU) memory the bricks may use.
    resume : bool
        Continue an interrupted run with the same inputs and parameters.
    overwrite : bool
        Replace existing output arrays.
    dask : str, optional
        ``"local"`` or a scheduler address: run on Dask instead (not resumable).
    dask_gpu : bool
        With ``dask``: compute on CuPy chunks (dask-cuda workers).
    progress : bool, optional
        Show the progress bar (default: when stderr is a terminal).
    use_mask : bool
        Leave the dead traces of ``trace_mask`` out of every window.
    dask_options : dict, optional
        ``LocalCluster`` keyword arguments for ``dask="local"``.

    Returns
    -------
    KuwaharaResult

    Raises
    ------
    FaciesError
        Unknown inputs, bad radius, mode or statistic, existing outputs without ``overwrite``,
        local-run options with ``dask``...
    """
    from facies.engine.bricks.run import run_operators  # noqa: PLC0415 - keep operator imports light
    from facies.engine.store import Survey  # noqa: PLC0415

    if not isinstance(survey, Survey):
        survey = Survey.open(survey)
    names = resolve_inputs(survey, inputs, suffix)
    operators = [KuwaharaOperator(name, radius, mode, stat, f"{name}{suffix}", use_mask=use_mask)
                 for name in names]
    outputs = {op.output_name: op.output_name for op in operators}
    start = time.perf_counter()
    result = run_operators(survey, operators, outputs, command=COMMAND, device=device, brick=brick,
                           memory_fraction=memory_fraction, resume=resume, overwrite=overwrite, kind="attribute",
                           progress=progress, dask=dask, dask_gpu=dask_gpu, dask_options=dask_options)
    computed = result.stats.voxels
    seconds = time.perf_counter() - start
    op = operators[0]
    what = (f"kuwahara {op.mode} {op.stat} radius {','.join(map(str, op.radius))}: "
            + ", ".join(f"{name} -> {name}{suffix}" for name in names))
    if result.already_complete:
        summary = f"{what}: already complete, nothing to do"
    else:
        rate = computed * len(names) / seconds if seconds > 0 else 0.0
        summary = (f"{what}; {human_rate(computed, 'vox')} x {len(names)} input(s) in {seconds:.1f} s "
                   f"= {human_rate(rate, 'vox')}/s on {result.device}"
                   + (f" ({result.bricks_skipped} of {result.bricks_total} bricks resumed)"
                      if result.bricks_skipped else ""))
    return KuwaharaResult({name: f"{name}{suffix}" for name in names}, result.device, seconds, computed, summary)
