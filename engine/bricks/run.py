"""Resumable runs of operator chains over a survey store: :func:`run_bricks`.

The driver ties the pieces together: it checks the inputs and outputs, sizes the bricks from
the memory budget, takes the run's :class:`~facies.engine.ledger.Ledger` (lock + done flags),
creates the outputs *incomplete*, streams the pending bricks through the
:class:`~facies.engine.bricks.scheduler.LocalScheduler` and records each brick only after all
its chunks are written, then marks the outputs complete. A run killed at any moment (even
SIGKILL) and resumed with ``resume=True`` gives a bit-identical result: done bricks are skipped,
the others are rewritten whole, and each output chunk belongs to exactly one brick.

The run's parameters (operators, outputs, brick, device) are the ledger's, and they are also
kept in each output's provenance. ``resume=True`` never replaces an array this run did not make
(:func:`resume_applies`): it continues outputs that a run with the same result parameters left
unfinished, finds outputs already complete with them ("nothing to do"), and refuses any other
existing array (made by another command, with other parameters, or rewritten since the
interruption) unless ``overwrite`` is given too. Every output state is checked again once the
locks are held, so a command that wrote an output meanwhile cannot be overwritten either.

The output set-up (:func:`check_outputs`, :func:`lock_outputs`, :func:`create_outputs`) is shared
with the Dask runner, and :func:`run_operators` picks one runner or the other as a command asks.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from facies.engine.backend import Backend, get_backend
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.plan import BrickPlan, align_brick, brick_for_budget, region_slices
from facies.engine.bricks.scheduler import LocalScheduler, SchedulerStats
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger, LedgerRecord, describe_names, find_ledger, parameter_diff, truncate_utf8
from facies.engine.memory import DEFAULT_FRACTION, brick_budget, gpu_memory, host_memory
from facies.engine.progress import WorkProgress, human_rate
from facies.engine.provenance import jsonable, make_provenance
from facies.engine.store import check_array_name

log = logging.getLogger("facies")

#: The run parameters that determine the values of the outputs. Brick shape and device do not
#: (every brick computes exact values), so a finished output made with another brick or on
#: another device is still "already complete" for ``resume``.
RESULT_PARAMETERS = ("operators", "outputs")

#: States of an output array before a run (:func:`output_states`).
MISSING, FINISHED, UNFINISHED, OTHER = "missing", "finished", "unfinished", "other"


class RunInterrupted(FaciesError):
    """Ctrl-C stopped a run cleanly; the message says how to resume it."""


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    outputs : dict of str to str
        Operator output -> store array.
    brick : tuple of int
        Brick shape (Dask runs: the store's chunks).
    device : str
        ``cpu``, ``gpu``, ``dask`` or ``dask-gpu``.
    bricks_total, bricks_skipped : int
        Bricks of the run, and those an earlier, interrupted run had already written.
    stats : SchedulerStats
    summary : str
        The final line for people.
    already_complete : bool
        ``resume`` found every output finished with the same parameters: nothing was computed.
    """

    outputs: dict[str, str]
    brick: tuple[int, ...]
    device: str
    bricks_total: int
    bricks_skipped: int
    stats: SchedulerStats
    summary: str
    already_complete: bool = False


def default_outputs(chain: Chain) -> dict[str, str]:
    """Outputs no later operator reads, each stored under its own name."""
    read = {name for op in chain.operators for name in op.inputs}
    return {name: name for name in chain.output_names if name not in read}


def choose_brick(shape, chunks, chain: Chain, itemsizes: Mapping[str, int], backend: Backend, *,
                 memory_fraction: float, in_flight: int, lanes: int) -> tuple[int, ...]:
    """Brick shape from free memory: ``memory_fraction`` of free host memory shared by the
    bricks in flight, and on the GPU of free device memory shared by the lanes
    (``memory_fraction`` as checked by :func:`check_memory_fraction`)."""
    budget = brick_budget(host_memory()[1], memory_fraction) // in_flight
    if backend.is_gpu:
        budget = min(budget, brick_budget(gpu_memory(backend.xp)[1], memory_fraction) // lanes)
    return brick_for_budget(shape, chunks, budget, chain.bytes_per_voxel(itemsizes), chain.total_halo())


def check_memory_fraction(memory_fraction: float) -> None:
    """Raise FaciesError unless ``0 < memory_fraction <= 1``."""
    if not 0 < memory_fraction <= 1:
        raise FaciesError(f"--memory-fraction must be in (0, 1], not {memory_fraction}")


# ---------------------------------------------------------------------- outputs (local and Dask runs)
def check_outputs(survey, chain: Chain, outputs: Mapping[str, str], *, resume: bool = False,
                  overwrite: bool = False) -> None:
    """Check a run's output arrays before it starts.

    Output names follow the store's rule (its length limit included), name
    outputs of the operators, are neither inputs nor repeated. An existing array that no run
    computed (an ingested original, a synthetic volume) is never an output. Without ``resume``,
    existing arrays need ``overwrite``; with it, :func:`resume_applies` decides once the parameters
    are known.

    Raises
    ------
    FaciesError
        Naming the first output that breaks a rule, and what to pass instead.
    """
    for store_name in outputs.values():
        check_array_name(store_name)  # the store's rule, length included
    for name in outputs:
        if name not in chain.produced:
            raise FaciesError(f"{name!r} is not an output of the operators ({', '.join(chain.output_names)})")
    clash = set(outputs.values()) & set(chain.sources)
    if clash:
        raise FaciesError(f"output {sorted(clash)[0]!r} is also an input; choose another --output name")
    if len(set(outputs.values())) != len(outputs):
        raise FaciesError("two outputs would be written to the same array; give them different names")
    existing = [name for name in outputs.values() if survey.has(name)]
    for name in existing:
        made_by = _computed_by_a_run(survey, name)
        if made_by is not None:
            raise FaciesError(f"output {name!r} already exists in {survey.path} and was made by {made_by!r}, not "
                              "computed by a facies run: runs replace only arrays they computed; choose another "
                              "output name (--output/--suffix/--name)")
    if existing and not (resume or overwrite):
        hint = "" if survey.is_complete(existing[0]) else " or --resume to continue the interrupted run"
        raise FaciesError(f"output {existing[0]!r} already exists in {survey.path}; pass --overwrite to replace it"
                          + hint)


def _computed_by_a_run(survey, name: str) -> str | None:
    """None when array ``name`` was computed by a brick run (its provenance names operators); else its maker.

    An ingested original, the synthetic survey's volumes and labels, or an array written through
    the Python API are never an output of a run, whatever ``--overwrite`` or ``--resume`` say.
    """
    provenance = survey.provenance(name)
    if "operators" in (provenance.get("parameters") or {}):
        return None
    return str(provenance.get("command") or "an unknown command")


def output_states(survey, outputs: Mapping[str, str], parameters: Mapping) -> dict[str, str]:
    """What each output array is before a run with ``parameters``: store name -> state.

    :data:`MISSING`; :data:`FINISHED` or :data:`UNFINISHED` (complete or not) when its provenance
    holds the same :data:`RESULT_PARAMETERS` (so a run of the same outputs, the same ledger key,
    made it); :data:`OTHER` for anything else: an ingested original, another command's output,
    an output made with other parameters.
    """
    wanted = _result_parameters(parameters)
    states = {}
    for name in outputs.values():
        if not survey.has(name):
            states[name] = MISSING
        elif _result_parameters(survey.provenance(name).get("parameters") or {}) != wanted:
            states[name] = OTHER
        else:
            states[name] = FINISHED if survey.is_complete(name) else UNFINISHED
    return states


def _result_parameters(parameters: Mapping) -> dict:
    return {k: v for k, v in jsonable(dict(parameters)).items() if k in RESULT_PARAMETERS}


def resume_applies(survey, outputs: Mapping[str, str], parameters: Mapping, states: Mapping[str, str],
                   previous: LedgerRecord | None, *, overwrite: bool = False) -> bool:
    """Whether a ``resume`` run continues its ledger (True) or starts afresh (False).

    It continues only when the ledger has done tasks and every output is one this run made
    (:data:`FINISHED` or :data:`UNFINISHED`); a missing output means the done tasks are lost, so the
    run starts afresh and recreates its outputs. An :data:`OTHER` array is never written without
    ``overwrite``.

    Raises
    ------
    FaciesError
        Naming the first :data:`OTHER` output, why it is not this run's, and what to do.
    """
    interrupted = previous is not None and previous.n_done > 0
    other = [name for name, state in states.items() if state == OTHER]
    if other and not overwrite:
        name = other[0]
        why = _made_how(survey, name, parameters)
        replace = "run again without --resume (add --overwrite) to replace it"
        started = _result_parameters(previous.parameters) if interrupted else {}
        if interrupted and started != _result_parameters(parameters):
            reason = (f"the interrupted run that made it used other parameters "
                      f"({parameter_diff(started, _result_parameters(parameters))}); {replace}")
        elif interrupted:
            reason = f"it was rewritten by another run since this one was interrupted ({why}); {replace}"
        elif survey.is_complete(name):
            reason = f"it was made with other parameters ({why}); {replace}"
        else:
            reason = f"it is the unfinished output of another run ({why}); resume that run, or {replace}"
        raise FaciesError(f"cannot resume {name!r}: {reason}, or choose other output names to keep it")
    return interrupted and all(state in (FINISHED, UNFINISHED) for state in states.values())


def _made_how(survey, name: str, parameters: Mapping) -> str:
    """How array ``name`` differs from this run's outputs, in a few words."""
    provenance = survey.provenance(name)
    made = _result_parameters(provenance.get("parameters") or {})
    if not made:
        return f"by {provenance.get('command') or 'an unknown command'}"
    return parameter_diff(made, _result_parameters(parameters))


def run_key(outputs: Mapping[str, str]) -> str:
    """The ledger key of a run: ``run-<first output>-<hash of all outputs>``.

    Bounded in length however many outputs the run has (a folder name holds at most 255 bytes);
    the ledger itself keeps the full names.
    """
    names = sorted(outputs.values())
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return f"run-{truncate_utf8(names[0], 40)}-{digest}"


def lock_outputs(survey, outputs: Mapping[str, str], grid: tuple[int, ...], parameters: Mapping, *,
                 resume: bool = False, states: Mapping[str, str] | None = None,
                 reads: Sequence[str] = ()) -> Ledger:
    """The run's ledger, holding one lock per output array (so runs with other output sets
    sharing one of these arrays still exclude each other) and a shared lock on each array in
    ``reads`` (the run's inputs: nobody replaces them while it reads).

    ``states`` (:func:`output_states` as the run checked them) are checked again under the locks:
    a command that created or replaced an output since would otherwise be overwritten. So are the
    inputs: each must still be complete (a writer may have started, and died, since they were checked).

    Raises
    ------
    FaciesError
        Another run holds a lock, the ledger refuses ``resume``, or an output changed meanwhile.
    """
    ledger = Ledger.start(survey, run_key(outputs), grid, parameters, resume=resume, locks=list(outputs.values()),
                          reads=reads)
    try:
        for name in reads:
            survey.array(name)  # still complete and readable, now that nobody can replace it
        if states is not None:
            now = output_states(survey, outputs, parameters)
            changed = [name for name in outputs.values() if now[name] != states[name]]
            if changed:
                raise FaciesError(f"{describe_names(changed)} changed while this run was starting (another "
                                  "command wrote it); check it, then run the command again")
    except BaseException:
        ledger.close()
        raise
    return ledger


def create_outputs(survey, chain: Chain, outputs: Mapping[str, str], *, kind: str, provenance: dict) -> dict:
    """Create every output array anew and incomplete (NaN-filled when float, else 0); store name -> array."""
    targets = {}
    for name, store_name in outputs.items():
        dtype = chain.produced[name].dtype
        targets[store_name] = survey.create_volume(store_name, dtype=dtype, kind=kind, provenance=provenance,
                                                   overwrite=True,
                                                   fill_value=float("nan") if dtype.startswith("float") else 0)
    return targets


# ---------------------------------------------------------------------- the local run
def _previous_brick(previous: LedgerRecord | None) -> tuple[int, ...] | None:
    """The brick shape an interrupted run used (so ``--resume`` keeps its grid)."""
    brick = previous.parameters.get("brick") if previous is not None else None
    return tuple(brick) if brick else None


def run_bricks(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None, *,
               command: str = "facies.engine.bricks.run_bricks", device: str = "auto",
               brick: Sequence[int] | None = None, memory_fraction: float = DEFAULT_FRACTION,
               resume: bool = False, overwrite: bool = False, kind: str = "result",
               progress: bool | None = None, readers: int = 2, writers: int = 2,
               lanes: int | None = None) -> RunResult:
    """Run ``operators`` over every brick of ``survey`` and store their outputs.

    Parameters
    ----------
    survey : Survey
        The store; inputs are read from it and outputs written to it.
    operators : sequence of Operator
        Chained on each brick in this order.
    outputs : mapping of str to str, optional
        Operator output -> store array name; default: the final outputs under their own names.
    command : str
        For provenance (e.g. ``"facies filter mean"``).
    device : {"auto", "cpu", "gpu"}
    brick : sequence of int, optional
        Brick shape ``(IL, XL[, S])``, rounded up to whole chunks; default: from the memory budget.
    memory_fraction : float
        Share of free host (and GPU) memory the bricks may use.
    resume : bool
        Continue an interrupted run with the same parameters (skips its done bricks); outputs
        already complete with the same parameters: nothing to do. Any other existing output
        array is refused (see :func:`resume_applies`).
    overwrite : bool
        Replace existing output arrays (with ``resume``: those the run cannot continue).
    kind : str
        Kind of the output arrays in the store.
    progress : bool, optional
        Show the progress bar (default: when stderr is a terminal).
    readers, writers, lanes : int
        Stage concurrency (lanes: CUDA streams, or NumPy threads; default 2 on GPU, 1 on CPU).

    Returns
    -------
    RunResult

    Raises
    ------
    FaciesError
        Bad inputs or outputs, another run holding the lock, ``resume`` with other parameters, or
        ``resume`` over an array this run did not make (without ``overwrite``).
    RunInterrupted
        On Ctrl-C, after in-flight writes finish; done bricks stay recorded for ``resume``.
    """
    check_memory_fraction(memory_fraction)
    backend = get_backend(device)
    chain = Chain(operators, survey.shape)
    outputs = dict(outputs) if outputs is not None else default_outputs(chain)
    check_outputs(survey, chain, outputs, resume=resume, overwrite=overwrite)
    sources = {name: survey.array(name) for name in chain.sources}
    lanes = int(lanes or (2 if backend.is_gpu else 1))
    in_flight = readers + lanes + writers
    chunks = survey.chunks
    previous = find_ledger(survey, run_key(outputs)) if resume else None
    previous_brick = _previous_brick(previous)

    if brick is not None:
        brick_shape = align_brick(tuple(brick), survey.shape, chunks)
    elif previous_brick is not None:
        brick_shape = previous_brick
    else:
        itemsizes = {name: a.dtype.itemsize for name, a in sources.items()}
        brick_shape = choose_brick(survey.shape, chunks, chain, itemsizes, backend,
                                   memory_fraction=memory_fraction, in_flight=in_flight, lanes=lanes)
    plan = BrickPlan(survey.shape, chunks, brick_shape)
    parameters = {"operators": chain.describe(), "outputs": outputs, "brick": list(brick_shape),
                  "device": backend.name}
    states = output_states(survey, outputs, parameters)
    if resume and previous is None and all(state == FINISHED for state in states.values()):
        log.info("outputs %s are already complete; nothing to resume", ", ".join(outputs.values()))
        return RunResult(outputs, brick_shape, backend.name, len(plan), len(plan), SchedulerStats(),
                         "already complete", already_complete=True)
    # Continue writing into the existing arrays only when the ledger has done bricks for them and
    # this run made every one of them; otherwise (nothing done yet, an output missing, or one
    # replaced with --overwrite) make every output anew.
    resume = resume and resume_applies(survey, outputs, parameters, states, previous, overwrite=overwrite)

    ledger = lock_outputs(survey, outputs, plan.grid, parameters, resume=resume, states=states, reads=chain.sources)
    try:
        sources = {name: survey.array(name) for name in chain.sources}  # as they are under the locks
        provenance = make_provenance(command, parameters, inputs=chain.sources)
        if resume:
            targets = {name: survey.mark_incomplete(name) for name in outputs.values()}  # before any brick
        else:
            targets = create_outputs(survey, chain, outputs, kind=kind, provenance=provenance)
        log.info("device: %s; brick %s (%s) over chunks %s; %d bricks, %d done",
                 backend.reason, "x".join(map(str, brick_shape)), human_rate(math.prod(brick_shape), "vox"),
                 "x".join(map(str, chunks)), len(plan), ledger.n_done)
        scheduler = LocalScheduler(chain, backend, outputs, chunks, readers=readers, writers=writers, lanes=lanes)
        description = ", ".join(outputs.values())
        with WorkProgress(description, len(plan), unit="vox", enabled=progress) as bar:
            bar.skip(ledger.n_done)

            def done(b):
                ledger.mark_done(b.index)  # only now: every chunk of the brick is written
                bar.advance(1, b.size)

            def read(name, region):
                array = sources[name]
                return array[region_slices(region)[:array.ndim]]

            def write(name, region, array):
                targets[name][region_slices(region)] = array

            skipped = ledger.n_done
            try:
                scheduler.run((plan.brick_at(i) for i in ledger.pending()), read, write, done)
            except KeyboardInterrupt:
                raise RunInterrupted(
                    f"interrupted: {ledger.n_done} of {len(plan)} bricks are written and recorded; "
                    "run the same command again with --resume to continue") from None
            summary = (f"{description}: {len(plan) - skipped} bricks computed, {skipped} skipped, "
                       f"{bar.summary()} on {backend.name}")
        for store_name in outputs.values():
            survey.mark_complete(store_name)
        ledger.finish()
    finally:
        ledger.close()
    log.info(summary)
    return RunResult(outputs, brick_shape, backend.name, len(plan), skipped, scheduler.stats, summary)


def run_operators(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None, *,
                  command: str, device: str = "auto", brick: Sequence[int] | None = None,
                  memory_fraction: float = DEFAULT_FRACTION, resume: bool = False, overwrite: bool = False,
                  kind: str = "result", progress: bool | None = None, dask: str | None = None,
                  dask_gpu: bool = False, dask_options: Mapping | None = None) -> RunResult:
    """Run ``operators`` over ``survey`` here (:func:`run_bricks`) or on a Dask cluster (``dask``).

    What every filter command does: the options of a local run (``device``, ``brick``,
    ``memory_fraction``, ``resume``) and of a Dask run (``dask``, ``dask_gpu``, ``dask_options``)
    in one call, and a clear error for a combination that would be ignored.

    Parameters
    ----------
    dask : str, optional
        ``"local"`` or a scheduler address: run on Dask (not resumable brick by brick).
    dask_gpu : bool
        With ``dask``: compute on CuPy chunks (dask-cuda workers).
    dask_options : mapping, optional
        ``LocalCluster`` keyword arguments for ``dask="local"``.

    The other parameters are :func:`run_bricks`'s.

    Raises
    ------
    FaciesError
        ``resume``, ``brick`` or a ``device`` other than "auto" with ``dask``; ``dask_gpu`` without it.
    """
    if not dask:
        if dask_gpu:
            raise FaciesError("--dask-gpu applies to Dask runs: add --dask ADDRESS (or --dask local), "
                              "or use --device gpu for a local run")
        return run_bricks(survey, operators, outputs, command=command, device=device, brick=brick,
                          memory_fraction=memory_fraction, resume=resume, overwrite=overwrite, kind=kind,
                          progress=progress)
    if resume or brick:
        raise FaciesError("--resume and --brick apply to local runs; with --dask re-run the command instead")
    if device != "auto":
        raise FaciesError(f"--device {device} applies to local runs; with --dask the workers compute "
                          "(add --dask-gpu for CuPy chunks on dask-cuda workers)")
    from facies.engine.bricks.dask_runner import run_dask  # noqa: PLC0415 - Dask only when asked

    return run_dask(survey, operators, outputs, scheduler=dask, command=command, gpu=dask_gpu,
                    overwrite=overwrite, kind=kind, cluster_options=dask_options)
