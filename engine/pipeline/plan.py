"""Whether a stage runs, resumes or is skipped, and why: :func:`decide`, one rule list for the plan and the run.

The rules, first match wins (docs/pipeline.md, "Fingerprints and the plan"):

1. a stage left out by ``--only`` or before ``--from`` is skipped;
2. a stage never run, runs;
3. an interrupted stage with the same fingerprint resumes (``--resume`` where its command has it);
4. a stage that was interrupted and changed since, or failed last time, or whose fingerprint changed, runs,
   saying what changed (a key, an input file, an upstream stage);
5. a stage whose upstream stage runs in this run, runs;
6. a done stage one of whose outputs is gone, runs (one replaced by another command is left alone: the
   stages reading it see a changed input file, and store members are the user's to rerun with --from);
7. a stage named by ``--only`` or at or after ``--from`` runs anyway;
8. everything else is done and unchanged: skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from facies.engine.pipeline.state import DONE, FAILED, STARTED, Record

RUN, RESUME, SKIP = "run", "resume", "skip"


@dataclass(frozen=True)
class Facts:
    """What a stage is now: from the run file and the files it reads.

    Attributes
    ----------
    name : str
    fingerprint : str
    arguments : list
        Canonical arguments, one mapping per command (:func:`~facies.engine.pipeline.fingerprint.canonical_arguments`).
    inputs : mapping
        Identities of the files it reads.
    upstream : mapping
        Fingerprints of the stages it reads from (those the run file has).
    commands : sequence of str
        Its commands (``facies gtm fit``), in order.
    resumable : sequence of bool
        Per command: it takes ``--resume``.
    """

    name: str
    fingerprint: str
    arguments: list
    inputs: Mapping[str, str]
    upstream: Mapping[str, str]
    commands: Sequence[str]
    resumable: Sequence[bool]


@dataclass(frozen=True)
class Decision:
    """What happens to a stage: ``action`` is run, resume or skip; ``why`` says why, in a few words."""

    stage: str
    action: str
    why: str

    @property
    def runs(self) -> bool:
        return self.action != SKIP

    def line(self) -> str:
        """``rf: run (changed: trees "25" -> "50")``."""
        return f"{self.stage}: {self.action} ({self.why})"


def decide(facts: Facts, record: Record | None, *, excluded: str | None = None, forced: str | None = None,
           upstream_running: Sequence[str] = (), outputs_problem: str | None = None) -> Decision:
    """Apply the rules of this module's docstring to one stage.

    Parameters
    ----------
    facts : Facts
        The stage now.
    record : Record, optional
        What it last did (None: never run).
    excluded : str, optional
        Why ``--only`` / ``--from`` leave it out (``"not in --only"``).
    forced : str, optional
        Why ``--only`` / ``--from`` run it (``"--from gtm"``).
    upstream_running : sequence of str
        Its upstream stages that run (or resume) in this run.
    outputs_problem : str, optional
        Why its recorded outputs are not as it left them (``"models/rf is missing"``).
    """
    name = facts.name
    if excluded:
        return Decision(name, SKIP, excluded)
    if record is None:
        return Decision(name, RUN, "not run before" + (f"; {forced}" if forced else ""))
    changes = describe_changes(record, facts, upstream=not upstream_running)
    if record.status == STARTED and record.fingerprint == facts.fingerprint:
        step = min(record.steps_done, len(facts.commands) - 1)
        done = f"{record.steps_done} of {len(facts.commands)} commands done; " if record.steps_done else ""
        how = "continues it with --resume" if facts.resumable[step] else "runs it again"
        return Decision(name, RESUME, f"interrupted in {facts.commands[step]}: {done}{how}")
    after = f"upstream {', '.join(upstream_running)} {'runs' if len(upstream_running) == 1 else 'run'}"
    if record.status == STARTED:
        return Decision(name, RUN, "interrupted, and changed since: " + (changes or after))
    if record.status == FAILED:
        return Decision(name, RUN, "failed last time" + (f"; changed: {changes}" if changes else ""))
    if changes:
        return Decision(name, RUN, "changed: " + changes)
    if upstream_running:
        return Decision(name, RUN, after)
    if outputs_problem:
        return Decision(name, RUN, outputs_problem)
    if forced:
        return Decision(name, RUN, f"done and unchanged; {forced}")
    assert record.status == DONE
    return Decision(name, SKIP, "done, unchanged")


def describe_changes(record: Record, facts: Facts, *, upstream: bool = True, most: int = 4) -> str:
    """What differs between a stage's record and its facts, in words; empty when the fingerprints agree.

    With ``upstream`` False, changed upstream fingerprints are left out (the caller says which upstream
    stages run instead).
    """
    if record.fingerprint == facts.fingerprint:
        return ""
    changes: list[str] = []
    old, new = record.arguments, facts.arguments
    if [a.get("command") for a in old] != [a.get("command") for a in new]:
        changes.append("its commands")
    else:
        for before, after in zip(old, new):
            if before.get("store") != after.get("store"):
                changes.append(f"store {before.get('store')} -> {after.get('store')}")
            keys = sorted(set(before.get("values", {})) | set(after.get("values", {})))
            for key in keys:
                a, b = before.get("values", {}).get(key), after.get("values", {}).get(key)
                if a != b:
                    prefix = f"{after.get('table')} " if len(new) > 1 else ""
                    changes.append(f"{prefix}{key} {_short(a)} -> {_short(b)}")
    for path in sorted(set(record.inputs) | set(facts.inputs)):
        a, b = record.inputs.get(path), facts.inputs.get(path)
        if a != b:
            changes.append(f"{path} {'is new' if a is None else 'is gone' if b in (None, 'absent') else 'changed'}")
    for stage in sorted(set(record.upstream) | set(facts.upstream)):
        a, b = record.upstream.get(stage), facts.upstream.get(stage)
        if a != b and (upstream or a is None or b is None):
            changes.append(f"upstream {stage} {'added' if a is None else 'removed' if b is None else 'changed'}")
    if not changes and upstream:
        return "the facies run format"  # same arguments, inputs and upstream: only the hashing differs
    shown = changes[:most]
    more = f" and {len(changes) - most} more" if len(changes) > most else ""
    return "; ".join(shown) + more


def _short(value: Any) -> str:
    if value is None:
        return "(not set)"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."
