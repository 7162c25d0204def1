"""Resumable runs of operator chains over a survey store: :func:`run_bricks`.

The driver ties the pieces together: it checks the inputs and outputs, sizes the bricks from
the memory budget, takes the run's :class:`~facies.engine.ledger.Ledger` (lock + done flags),
creates the outputs *incomplete*, streams the pending bricks through the
:class:`~facies.engine.bricks.scheduler.LocalScheduler` and records each brick only after all
its chunks are written, then marks the outputs complete. A run killed at any moment (even
SIGKILL) and resumed with ``resume=True`` gives a bit-identical result: done bricks are skipped,
the others are rewritten whole, and each output chunk belongs to exactly one brick.

The run's parameters (operators, outputs, brick, device) are the ledger's, and they are also
kept in each output's provenance: ``resume=True`` on outputs that are already complete compares
them (same values -> nothing to do; others -> an error), and a resumed run refuses an output
that another run has rewritten since the interruption.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from facies.engine.backend import Backend, get_backend
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.plan import BrickPlan, align_brick, brick_for_budget, region_slices
from facies.engine.bricks.scheduler import LocalScheduler, SchedulerStats
from facies.engine.errors import FaciesError
from facies.engine.ledger import RUNS_GROUP, Ledger, parameter_diff
from facies.engine.memory import DEFAULT_FRACTION, brick_budget, gpu_memory, host_memory
from facies.engine.progress import WorkProgress, human_rate
from facies.engine.provenance import jsonable, make_provenance
from facies.engine.store import check_array_name

log = logging.getLogger("facies")

#: The run parameters that determine the values of the outputs. Brick shape and device do not
#: (every brick computes exact values), so a finished output made with another brick or on
#: another device is still "already complete" for ``resume``.
RESULT_PARAMETERS = ("operators", "outputs")


class RunInterrupted(FaciesError):
    """Ctrl-C stopped a run cleanly; the message says how to resume it."""


@dataclass
class RunResult:
    """What a run did."""

    outputs: dict[str, str]
    brick: tuple[int, ...]
    device: str
    bricks_total: int
    bricks_skipped: int
    stats: SchedulerStats
    summary: str
    per_brick: list = field(default_factory=list)


def default_outputs(chain: Chain) -> dict[str, str]:
    """Per-voxel outputs no later operator reads, each stored under its own name."""
    read = {name for op in chain.operators for name in op.inputs}
    return {name: name for name in chain.voxel_outputs if name not in read}


def choose_brick(shape, chunks, chain: Chain, itemsizes: Mapping[str, int], backend: Backend, *,
                 memory_fraction: float, in_flight: int, lanes: int) -> tuple[int, ...]:
    """Brick shape from free memory: ``memory_fraction`` of free host memory shared by the
    bricks in flight, and on the GPU of free device memory shared by the lanes."""
    check_memory_fraction(memory_fraction)
    per_brick = brick_budget(host_memory()[1], memory_fraction) // in_flight
    if backend.is_gpu:
        per_brick = min(per_brick, brick_budget(gpu_memory(backend.xp)[1], memory_fraction) // lanes)
    return brick_for_budget(shape, chunks, per_brick, chain.bytes_per_voxel(itemsizes), chain.total_halo())


def check_memory_fraction(memory_fraction: float) -> None:
    """Raise FaciesError unless ``0 < memory_fraction <= 1``."""
    if not 0 < memory_fraction <= 1:
        raise FaciesError(f"--memory-fraction must be in (0, 1], not {memory_fraction}")


def _previous_brick(survey, key: str) -> tuple[int, ...] | None:
    """The brick shape an interrupted run of ``key`` used (so ``--resume`` keeps its grid)."""
    runs = survey.group.get(RUNS_GROUP)
    if runs is None or key not in runs:
        return None
    brick = runs[key].attrs.get("parameters", {}).get("brick")
    return tuple(brick) if brick else None


def run_bricks(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None, *,
               command: str = "facies.engine.bricks.run_bricks", device: str = "auto",
               brick: Sequence[int] | None = None, memory_fraction: float = DEFAULT_FRACTION,
               resume: bool = False, overwrite: bool = False, kind: str = "result",
               progress: bool | None = None, on_brick: Callable | None = None,
               readers: int = 2, writers: int = 2, lanes: int | None = None) -> RunResult:
    """Run ``operators`` over every brick of ``survey`` and store their outputs.

    Parameters
    ----------
    survey : Survey
        The store; inputs are read from it and outputs written to it.
    operators : sequence of Operator
        Chained on each brick in this order.
    outputs : mapping of str to str, optional
        Per-voxel output -> store array name; default: the final outputs under their own names.
    command : str
        For provenance (e.g. ``"facies filter mean"``).
    device : {"auto", "cpu", "gpu"}
    brick : sequence of int, optional
        Brick shape ``(IL, XL[, S])``, rounded up to whole chunks; default: from the memory budget.
    memory_fraction : float
        Share of free host (and GPU) memory the bricks may use.
    resume : bool
        Continue an interrupted run with the same parameters (skips its done bricks).
    overwrite : bool
        Replace existing output arrays.
    kind : str
        Kind of the output arrays in the store.
    progress : bool, optional
        Show the progress bar (default: when stderr is a terminal).
    on_brick : callable, optional
        ``on_brick(region, per_brick_outputs)`` for operators with per-brick outputs
        (only bricks computed by this call; done bricks of a resumed run are not revisited).
    readers, writers, lanes : int
        Stage concurrency (lanes: CUDA streams, or NumPy threads; default 2 on GPU, 1 on CPU).

    Returns
    -------
    RunResult

    Raises
    ------
    FaciesError
        Bad inputs or outputs, another run holding the lock, or ``resume`` with other parameters.
    RunInterrupted
        On Ctrl-C, after in-flight writes finish; done bricks stay recorded for ``resume``.
    """
    check_memory_fraction(memory_fraction)
    backend = get_backend(device)
    chain = Chain(operators, survey.shape)
    outputs = dict(outputs) if outputs is not None else default_outputs(chain)
    _check_names(survey, chain, outputs)
    sources = {name: survey.array(name) for name in chain.sources}
    lanes = int(lanes or (2 if backend.is_gpu else 1))
    in_flight = readers + lanes + writers
    key = "+".join(sorted(outputs.values()))
    chunks = survey.chunks

    if brick is not None:
        brick_shape = align_brick(tuple(brick), survey.shape, chunks)
    elif resume and _previous_brick(survey, key):
        brick_shape = _previous_brick(survey, key)
    else:
        itemsizes = {name: a.dtype.itemsize for name, a in sources.items()}
        brick_shape = choose_brick(survey.shape, chunks, chain, itemsizes, backend,
                                   memory_fraction=memory_fraction, in_flight=in_flight, lanes=lanes)
    plan = BrickPlan(survey.shape, chunks, brick_shape)

    existing = [name for name in outputs.values() if survey.has(name)]
    if resume and len(existing) < len(outputs):
        resume = False  # an output is missing: nothing to continue, start afresh
    if existing and not (resume or overwrite):
        raise FaciesError(f"output {existing[0]!r} already exists in {survey.path}; pass --overwrite to replace it"
                          + ("" if survey.is_complete(existing[0]) else " or --resume to continue the interrupted run"))
    parameters = {"operators": chain.describe(), "outputs": outputs, "brick": list(brick_shape),
                  "device": backend.name}
    if resume and all(survey.is_complete(n) for n in outputs.values()) and _previous_brick(survey, key) is None:
        _check_made_with(survey, outputs.values(), parameters, RESULT_PARAMETERS,
                         "it was made with other parameters")
        log.info("outputs %s are already complete; nothing to resume", ", ".join(outputs.values()))
        return RunResult(outputs, brick_shape, backend.name, len(plan), len(plan), SchedulerStats(),
                         "already complete")

    # One lock per output array: runs with different output sets still exclude each other.
    ledger = Ledger.start(survey, key, plan.grid, parameters, resume=resume, locks=sorted(outputs.values()))
    try:
        provenance = make_provenance(command, parameters, inputs=chain.sources)
        # Continue writing into the existing arrays only when the ledger has done bricks for them;
        # with none done (e.g. an --overwrite run killed before it created its outputs), an
        # existing array may be an older, complete one: make every output anew.
        reuse = resume and ledger.n_done > 0
        if reuse:
            _check_made_with(survey, outputs.values(), parameters, tuple(parameters),
                             "it was rewritten by another run since this one was interrupted")
        targets = {}
        for name, store_name in outputs.items():
            if reuse:
                targets[store_name] = survey.mark_incomplete(store_name)  # before any brick is written
            else:
                targets[store_name] = survey.create_volume(store_name, dtype=chain.produced[name].dtype, kind=kind,
                                                           provenance=provenance, overwrite=True,
                                                           fill_value=float("nan") if chain.produced[name].dtype.startswith("float") else 0)
        log.info("device: %s; brick %s (%s) over chunks %s; %d bricks, %d done",
                 backend.reason, "x".join(map(str, brick_shape)), human_rate(math.prod(brick_shape), "vox"),
                 "x".join(map(str, chunks)), len(plan), ledger.n_done)
        scheduler = LocalScheduler(chain, backend, outputs, chunks, readers=readers, writers=writers, lanes=lanes)
        per_brick: list = []
        description = ", ".join(outputs.values())
        with WorkProgress(description, len(plan), unit="vox", enabled=progress) as bar:
            bar.skip(ledger.n_done)

            def done(b, extras):
                ledger.mark_done(b.index)  # only now: every chunk of the brick is written
                bar.advance(1, b.size)
                for region, values in extras:
                    per_brick.append((region, values))
                    if on_brick is not None:
                        on_brick(region, values)

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
    return RunResult(outputs, brick_shape, backend.name, len(plan), skipped, scheduler.stats, summary, per_brick)


def _check_made_with(survey, names, parameters: Mapping, keys: Sequence[str], reason: str) -> None:
    """Raise FaciesError unless each array's provenance holds ``parameters`` (compared on ``keys``)."""
    wanted = {k: v for k, v in jsonable(dict(parameters)).items() if k in keys}
    for name in names:
        made = survey.provenance(name).get("parameters") or {}
        made = {k: v for k, v in made.items() if k in keys}
        if made != wanted:
            raise FaciesError(f"cannot resume {name!r}: {reason} ({parameter_diff(made, wanted)}); "
                              "run again without --resume (add --overwrite)")


def _check_names(survey, chain: Chain, outputs: Mapping[str, str]) -> None:
    for store_name in outputs.values():
        check_array_name(store_name)
    for name in outputs:
        if name not in chain.produced or not chain.produced[name].per_voxel:
            raise FaciesError(f"{name!r} is not a per-voxel output of the operators "
                              f"({', '.join(chain.voxel_outputs)})")
    clash = set(outputs.values()) & set(chain.sources)
    if clash:
        raise FaciesError(f"output {sorted(clash)[0]!r} is also an input; choose another --output name")
    if len(set(outputs.values())) != len(outputs):
        raise FaciesError("two outputs would be written to the same array; give them different names")
