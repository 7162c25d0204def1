"""Running a checked run file: :func:`run_pipeline` decides each stage, runs its commands and keeps the state.

The commands themselves are run by an ``invoke`` callable the CLI supplies (the engine never imports the
CLI): ``invoke(invocation, resume, overwrite)`` runs one command and returns its exit status (0, or 130
when Ctrl-C stopped it), raising :class:`~facies.engine.errors.FaciesError` when it refuses.

For each stage, in order: its fingerprint is computed (after its upstream stages ran, so it sees the
files they wrote), :func:`~facies.engine.pipeline.plan.decide` says run, resume or skip, and one line
says which and why. A stage that runs is recorded ``started`` before its first command and ``done``
after its last; what each command made (store members and files that appeared or changed) is recorded
as the stage's outputs. ``--overwrite`` is passed to a command only when the stage made its outputs
before under the same names (:func:`may_replace`); anything else that exists is refused by the command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.pipeline.fingerprint import (FILE_PREFIX, STORE_PREFIX, canonical_arguments, file_outputs,
                                                fingerprint, input_identities, output_path, shown_path,
                                                stat_identity, store_members)
from facies.engine.pipeline.plan import RESUME, Decision, Facts, decide
from facies.engine.pipeline.runfile import Invocation, RunFile
from facies.engine.pipeline.stages import STAGE_NAMES, upstream
from facies.engine.pipeline.state import DONE, FAILED, STARTED, Record, State, now

#: ``invoke(invocation, resume, overwrite) -> exit status``: runs one command (supplied by the CLI).
Invoker = Callable[[Invocation, bool, bool], int]
#: Exit status of a command stopped by Ctrl-C.
INTERRUPTED = 130


def state_path(run: RunFile) -> Path:
    """Where a run file's state is kept: ``<folder>/<run file stem>.state.json``."""
    return run.folder / f"{run.path.stem}.state.json"


def check_stage_choice(run: RunFile, start: str | None, only: Sequence[str]) -> None:
    """Refuse a ``--from`` or ``--only`` that names no stage of the run file (one line listing them)."""
    present = ", ".join(run.stages)
    for option, name in [("--from", start)] * (start is not None) + [("--only", n) for n in only]:
        if name not in STAGE_NAMES:
            raise FaciesError(f"{option} {name}: no such stage; the stages are {', '.join(STAGE_NAMES)}")
        if name not in run.stages:
            raise FaciesError(f"{option} {name}: {run.path} has no [{name}] table; its stages are {present}")
    if start is not None and only:
        raise FaciesError("give --from STAGE or --only STAGE, not both")


def stage_facts(run: RunFile, name: str, fingerprints: dict[str, str]) -> Facts:
    """Stage ``name`` now: its canonical arguments, input identities, upstream fingerprints, fingerprint."""
    invocations = run.stages[name]
    arguments = canonical_arguments(run, invocations)
    inputs = input_identities(run, invocations)
    ups = {stage: fingerprints[stage] for stage in upstream(name) if stage in fingerprints}
    return Facts(name=name, fingerprint=fingerprint(arguments, inputs, ups), arguments=arguments, inputs=inputs,
                 upstream=ups, commands=[i.command.step.command for i in invocations],
                 resumable=[i.command.resumable for i in invocations])


def run_pipeline(run: RunFile, invoke: Invoker, *, start: str | None = None, only: Sequence[str] = (),
                 dry_run: bool = False, echo: Callable[[Decision], Any] = print) -> int:
    """Run (or, with ``dry_run``, only plan) the stages of ``run``; returns the exit status.

    Parameters
    ----------
    run : RunFile
        The checked run file.
    invoke : Invoker
        Runs one command.
    start, only : optional
        ``--from STAGE`` (that stage and every later one run) and ``--only STAGE...`` (those run, no other).
    dry_run : bool
        Print the plan (one line per stage) and change nothing.
    echo : callable
        Shows a stage's decision (its :meth:`~facies.engine.pipeline.plan.Decision.line`), before it runs.

    Returns
    -------
    int
        0, 130 when a command was interrupted (the stage stays ``started`` and resumes next time), or the
        exit status of a command that failed without a FaciesError.

    Raises
    ------
    FaciesError
        ``stage <name>: <the command's message>`` when a command refuses; a bad ``--from``/``--only``; a
        damaged state file; an output replaced by something else since the stage made it.
    """
    check_stage_choice(run, start, only)
    state = State.load(state_path(run), run_file=str(run.path))
    if not dry_run:
        run.folder.mkdir(parents=True, exist_ok=True)
    fingerprints: dict[str, str] = {}
    running: list[str] = []
    names = list(run.stages)
    for name in names:
        facts = stage_facts(run, name, fingerprints)
        fingerprints[name] = facts.fingerprint
        record = state.stages.get(name)
        excluded = forced = None
        if only:
            excluded, forced = (None, "--only") if name in only else ("not in --only", None)
        elif start is not None:
            before = names.index(name) < names.index(start)
            excluded, forced = (f"before --from {start}", None) if before else (None, f"--from {start}")
        decision = decide(facts, record, excluded=excluded, forced=forced,
                          upstream_running=[s for s in running if s in facts.upstream],
                          outputs_problem=outputs_problem(record, run) if record and record.status == DONE else None)
        echo(decision)
        if decision.runs:
            running.append(name)
        if dry_run or not decision.runs:
            continue
        status = _run_stage(run, state, facts, decision, invoke)
        if status:
            return status
    return 0


def outputs_problem(record: Record, run: RunFile) -> str | None:
    """``"models/rf is missing"`` when one of a done stage's outputs is gone, else None."""
    for key in record.outputs:
        path = output_path(key, run)
        if path is None or stat_identity(path) is None:
            return f"{_shown(key)} is missing"
    return None


def _shown(key: str) -> str:
    for prefix in (STORE_PREFIX, FILE_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def naming_values(run: RunFile, invocation: Invocation) -> dict[str, Any]:
    """The values of the keys naming what ``invocation`` writes (with the store), as recorded."""
    values: dict[str, Any] = {"store": shown_path(run.store, run.folder)}
    for name in invocation.command.step.names:
        key = invocation.command.key(name)
        if key is not None:
            value = invocation.value(key)
            values[name] = ([shown_path(v, run.folder) for v in value] if isinstance(value, list) and key.is_path
                            else shown_path(value, run.folder) if isinstance(value, Path) else value)
    return values


def may_replace(record: Record | None, names: list[dict]) -> bool:
    """Whether the stage made its outputs before under these names: a record that finished, was interrupted,
    or failed after making something, with the same naming values."""
    if record is None or record.names != names:
        return False
    return record.status in (DONE, STARTED) or bool(record.outputs)


def _run_stage(run: RunFile, state: State, facts: Facts, decision: Decision, invoke: Invoker) -> int:
    name = facts.name
    invocations = run.stages[name]
    previous = state.stages.get(name)
    names = [naming_values(run, inv) for inv in invocations]
    ours = may_replace(previous, names)
    if ours and previous is not None:
        _refuse_replaced(run, name, previous, invocations)
    resuming = decision.action == RESUME and previous is not None
    first = previous.steps_done if resuming and previous is not None else 0
    record = Record(status=STARTED, fingerprint=facts.fingerprint, arguments=facts.arguments,
                    inputs=dict(facts.inputs), upstream=dict(facts.upstream), names=names, steps_done=first,
                    outputs=dict(previous.outputs) if ours and previous is not None else {}, started=now())
    state.stages[name] = record
    state.save()
    clock = time.perf_counter()
    watched = _path_values(run)
    for index in range(first, len(invocations)):
        invocation = invocations[index]
        overwrite = invocation.values.get("overwrite") is True or (ours and invocation.command.overwrites)
        resume = resuming and index == first and invocation.command.resumable
        exclude = set(_paths(invocation, invocation.command.step.inputs))
        before = _snapshot(run, [p for p in watched if p not in exclude])
        try:
            status = invoke(invocation, resume, overwrite)
        except KeyboardInterrupt:  # outside the command (typer turns one inside it into status 130)
            _record_outputs(run, state, name, before, watched, exclude)
            raise
        except FaciesError as exc:
            _record_outputs(run, state, name, before, watched, exclude, status=FAILED)
            hint = ""
            if not overwrite and invocation.command.overwrites and "pass --overwrite" in str(exc):
                hint = (f" (facies run passes --overwrite only for what this run file made: remove it, or set "
                        f"overwrite = true in {invocation.place})")
            raise FaciesError(f"stage {name} ({invocation.command.step.command}): {exc}{hint}") from None
        except BaseException:
            _record_outputs(run, state, name, before, watched, exclude, status=FAILED)
            raise
        _record_outputs(run, state, name, before, watched, exclude,
                        status=STARTED if status in (0, INTERRUPTED) else FAILED)
        if status:
            return status
        record.steps_done = index + 1
        state.save()
    record.status, record.finished = DONE, now()
    record.seconds = round(time.perf_counter() - clock, 3)
    state.save()
    return 0


def _refuse_replaced(run: RunFile, name: str, record: Record, invocations: Sequence[Invocation]) -> None:
    """Refuse to pass --overwrite for an output something else replaced since the stage made it."""
    if all(inv.values.get("overwrite") is True for inv in invocations):
        return
    for key, identity in record.outputs.items():
        path = output_path(key, run)
        current = stat_identity(path) if path is not None else None
        if current is not None and current != identity:
            place = invocations[0].place
            raise FaciesError(f"stage {name}: {_shown(key)} was replaced since this run file made it (by another "
                              f"command?); remove it, or set overwrite = true in {place} to let facies run replace it")


def _path_values(run: RunFile) -> list[Path]:
    """Every path the run file names (where stages may write files), without repeats."""
    seen: dict[Path, None] = {}
    for invocations in run.stages.values():
        for invocation in invocations:
            paths = [k.name for k in invocation.command.keys if k.is_path]
            for path in _paths(invocation, paths):
                seen.setdefault(path, None)
    return list(seen)


def _paths(invocation: Invocation, keys: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for name in keys:
        value = invocation.values.get(name)
        found.extend(value if isinstance(value, list) else [value] if isinstance(value, Path) else [])
    return found


def _snapshot(run: RunFile, paths: list[Path]) -> dict[str, str]:
    return {**store_members(run.store), **file_outputs(paths, run.folder)}


def _record_outputs(run: RunFile, state: State, name: str, before: dict[str, str], watched: list[Path],
                    exclude: set[Path], *, status: str = STARTED) -> None:
    """Add what a command made to its stage's outputs; follow other stages' outputs it replaced; save."""
    after = _snapshot(run, [p for p in watched if p not in exclude])
    made = {key: identity for key, identity in after.items() if before.get(key) != identity}
    record = state.stages[name]
    record.outputs.update(made)
    record.status = status
    for other, other_record in state.stages.items():
        if other != name:
            for key in made.keys() & other_record.outputs.keys():
                other_record.outputs[key] = made[key]  # this run file replaced it: still one of ours
    state.save()
