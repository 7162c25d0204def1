"""Resumable local runs of operator chains over a survey store: :func:`run_bricks`.

The local runner ties the pieces together: it checks the inputs and outputs
(:mod:`~facies.engine.bricks.outputs`), sizes the bricks from the memory budget, takes the run's
:class:`~facies.engine.ledger.Ledger` (locks + done flags), creates the outputs *incomplete*,
streams the pending bricks through the :class:`~facies.engine.bricks.scheduler.LocalScheduler`
into a :class:`BrickSink` that records each brick only after all its chunks are written, then marks
the outputs complete. A run killed at any moment (even SIGKILL) and resumed with ``resume`` gives a
bit-identical result: done bricks are skipped, the others are rewritten whole, and each output chunk
belongs to exactly one brick.

The run's parameters (operators, outputs, brick, device) are the ledger's, and they are also kept
in each output's provenance; what ``resume`` continues or refuses is
:func:`~facies.engine.bricks.outputs.resume_applies`'s. The Dask runner is
:mod:`~facies.engine.bricks.dask_runner`; :func:`~facies.engine.bricks.dispatch.run_operators`
picks one or the other as the options ask.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence

from facies.engine.backend import Backend, get_backend
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import (FINISHED, check_outputs, create_outputs, default_outputs, lock_outputs,
                                          output_states, resume_applies, run_key)
from facies.engine.bricks.plan import Brick, BrickPlan, Region, align_brick, brick_for_budget, region_slices
from facies.engine.bricks.result import RunInterrupted, RunResult
from facies.engine.bricks.scheduler import LocalScheduler, SchedulerStats
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger, LedgerRecord, find_ledger
from facies.engine.memory import brick_budget, gpu_memory, host_memory
from facies.engine.progress import WorkProgress, human_rate
from facies.engine.provenance import make_provenance

log = logging.getLogger("facies")


def choose_brick(shape, chunks, chain: Chain, itemsizes: Mapping[str, int], backend: Backend, *,
                 memory_fraction: float, in_flight: int, lanes: int) -> tuple[int, ...]:
    """Brick shape from free memory: ``memory_fraction`` of free host memory shared by the
    bricks in flight, and on the GPU of free device memory shared by the lanes
    (``memory_fraction`` as :class:`~facies.engine.bricks.options.RunOptions` checked it)."""
    budget = brick_budget(host_memory()[1], memory_fraction) // in_flight
    if backend.is_gpu:
        budget = min(budget, brick_budget(gpu_memory(backend.xp)[1], memory_fraction) // lanes)
    return brick_for_budget(shape, chunks, budget, chain.bytes_per_voxel(itemsizes), chain.total_halo())


def _previous_brick(previous: LedgerRecord | None) -> tuple[int, ...] | None:
    """The brick shape an interrupted run used (so ``--resume`` keeps its grid)."""
    brick = previous.parameters.get("brick") if previous is not None else None
    return tuple(brick) if brick else None


class BrickSink:
    """The store side of a local run, as the scheduler's :class:`~facies.engine.bricks.scheduler.BrickIO`.

    Parameters
    ----------
    sources : mapping of str to zarr.Array
        Store inputs, opened under the run's locks.
    targets : mapping of str to zarr.Array
        Output arrays by store name, incomplete until the run ends.
    ledger : Ledger
        The run's ledger: a brick is marked done there only once all its chunks are written.
    bar : WorkProgress
        Advanced by each finished brick's voxels.
    """

    def __init__(self, sources: Mapping, targets: Mapping, ledger: Ledger, bar: WorkProgress):
        self.sources, self.targets, self.ledger, self.bar = dict(sources), dict(targets), ledger, bar

    def read(self, name: str, region: Region):
        array = self.sources[name]
        return array[region_slices(region)[:array.ndim]]  # a lateral input (trace_mask) on its first axes

    def write(self, name: str, region: Region, array) -> None:
        self.targets[name][region_slices(region)] = array

    def done(self, brick: Brick) -> None:
        self.ledger.mark_done(brick.index)  # only now: every chunk of the brick is written
        self.bar.advance(1, brick.size)


def run_bricks(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None,
               options: RunOptions | None = None, *, command: str = "facies.engine.bricks.run_bricks",
               kind: str | Mapping[str, str] = "result", readers: int = 2, writers: int = 2,
               lanes: int | None = None) -> RunResult:
    """Run ``operators`` over every brick of ``survey`` on this machine and store their outputs.

    Parameters
    ----------
    survey : Survey
        The store; inputs are read from it and outputs written to it.
    operators : sequence of Operator
        Chained on each brick in this order.
    outputs : mapping of str to str, optional
        Operator output -> store array name; default: the final outputs under their own names.
    options : RunOptions, optional
        Device, brick, memory fraction, resume, overwrite, progress (default: ``RunOptions()``).
        With ``resume``, done bricks of an interrupted run with the same parameters are skipped
        and outputs already complete with them are "nothing to do"; any other existing output
        array is refused (see :func:`~facies.engine.bricks.outputs.resume_applies`) unless
        ``overwrite`` is given too. Its Dask options must be unset (see
        :func:`~facies.engine.bricks.dispatch.run_operators`).
    command : str
        For provenance (e.g. ``"facies filter mean"``).
    kind : str
        Kind of the output arrays in the store.
    readers, writers, lanes : int
        Stage concurrency (lanes: CUDA streams, or NumPy threads; default 2 on GPU, 1 on CPU).

    Returns
    -------
    RunResult
        With the run's wall time (``seconds``, ``rate``), measured here once.

    Raises
    ------
    FaciesError
        Bad inputs or outputs, another run holding the lock, ``resume`` with other parameters,
        ``resume`` over an array this run did not make (without ``overwrite``), or Dask options.
    RunInterrupted
        On Ctrl-C, after in-flight writes finish; done bricks stay recorded for ``resume``.
    """
    start = time.perf_counter()
    options = options or RunOptions()
    if options.dask:
        raise FaciesError(f"run_bricks runs on this machine, not on Dask ({options.dask}): "
                          "use run_operators to run where the options ask")
    backend = get_backend(options.device)
    chain = Chain(operators, survey.shape)
    outputs = dict(outputs) if outputs is not None else default_outputs(chain)
    check_outputs(survey, chain, outputs, resume=options.resume, overwrite=options.overwrite)
    sources = {name: survey.array(name) for name in chain.sources}
    lanes = int(lanes or (2 if backend.is_gpu else 1))
    in_flight = readers + lanes + writers
    chunks = survey.chunks
    previous = find_ledger(survey, run_key(outputs)) if options.resume else None
    previous_brick = _previous_brick(previous)

    if options.brick is not None:
        brick_shape = align_brick(options.brick, survey.shape, chunks)
    elif previous_brick is not None:
        brick_shape = previous_brick
    else:
        itemsizes = {name: a.dtype.itemsize for name, a in sources.items()}
        brick_shape = choose_brick(survey.shape, chunks, chain, itemsizes, backend,
                                   memory_fraction=options.memory_fraction, in_flight=in_flight, lanes=lanes)
    plan = BrickPlan(survey.shape, chunks, brick_shape)
    parameters = {"operators": chain.describe(), "outputs": outputs, "brick": list(brick_shape),
                  "device": backend.name}
    states = output_states(survey, outputs, parameters)
    if options.resume and previous is None and all(state == FINISHED for state in states.values()):
        log.info("outputs %s are already complete; nothing to resume", ", ".join(outputs.values()))
        return RunResult(outputs, brick_shape, backend.name, len(plan), len(plan), SchedulerStats(),
                         time.perf_counter() - start, "already complete", already_complete=True)
    # Continue writing into the existing arrays only when the ledger has done bricks for them and
    # this run made every one of them; otherwise (nothing done yet, an output missing, or one
    # replaced with --overwrite) make every output anew.
    resume = options.resume and resume_applies(survey, outputs, parameters, states, previous,
                                               overwrite=options.overwrite)

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
        skipped = ledger.n_done
        with WorkProgress(description, len(plan), unit="vox", enabled=options.progress) as bar:
            bar.skip(skipped)
            try:
                scheduler.run((plan.brick_at(i) for i in ledger.pending()), BrickSink(sources, targets, ledger, bar))
            except KeyboardInterrupt:
                raise RunInterrupted(
                    f"interrupted: {ledger.n_done} of {len(plan)} bricks are written and recorded; "
                    "run the same command again with --resume to continue") from None
        for store_name in outputs.values():
            survey.mark_complete(store_name)
        ledger.finish()
    finally:
        ledger.close()
    seconds = time.perf_counter() - start
    result = RunResult(outputs, brick_shape, backend.name, len(plan), skipped, scheduler.stats, seconds, "")
    result.summary = (f"{description}: {len(plan) - skipped} bricks computed, {skipped} skipped, "
                      f"{human_rate(result.stats.voxels, 'vox')} in {seconds:.1f} s "
                      f"({human_rate(result.rate, 'vox')}/s) on {backend.name}")
    log.info(result.summary)
    return result
