"""The state file of a run file: what each stage last did, with which fingerprint, and what it made.

``<folder>/<run file name without .toml>.state.json``, written whole (a temporary file renamed over it)
after every change, so a crash or Ctrl-C leaves the last complete state. A stage is recorded
``started`` before its first command runs and ``done`` after its last; ``failed`` when a command
refused or stopped with an error. Deleting the file makes every stage run again, and then facies run
no longer knows what it made: outputs that exist are refused (docs/pipeline.md).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.paths import written_then_moved

#: The ``format`` field of a state file.
STATE_FORMAT = "facies-run-state/1"
STARTED, DONE, FAILED = "started", "done", "failed"


def now() -> str:
    """The time (UTC, seconds) as a state file records it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Record:
    """What a stage last did.

    Attributes
    ----------
    status : {"started", "done", "failed"}
    fingerprint : str
        The stage's fingerprint when it ran.
    arguments : list
        Its canonical arguments (one mapping per command), to say what changed since.
    inputs : dict
        The identities of the files it read.
    upstream : dict
        The fingerprints of the stages it reads from.
    names : list
        Per command, the values of the keys that name what it writes (the overwrite rule).
    steps_done : int
        How many of its commands finished (an interrupted stage resumes after them).
    outputs : dict
        What it made: ``store:<member>`` or ``file:<path>`` -> identity when it made it.
    started, finished : str
        When it started and finished (UTC).
    seconds : float, optional
        How long it took.
    """

    status: str
    fingerprint: str
    arguments: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)
    upstream: dict = field(default_factory=dict)
    names: list = field(default_factory=list)
    steps_done: int = 0
    outputs: dict = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    seconds: float | None = None


class State:
    """The records of a run file's stages, read from and saved to its state file."""

    def __init__(self, path: Path, stages: dict[str, Record] | None = None, run_file: str = "") -> None:
        self.path = Path(path)
        self.stages: dict[str, Record] = dict(stages or {})
        self.run_file = run_file

    @classmethod
    def load(cls, path: Path, run_file: str = "") -> State:
        """The state at ``path``; an empty one when there is no file.

        Raises
        ------
        FaciesError
            When the file exists but is not a state file facies run wrote (one line: move it away).
        """
        path = Path(path)
        if not path.exists():
            return cls(path, run_file=run_file)
        try:
            document = json.loads(path.read_bytes())
            if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
                raise ValueError(f"its format is not {STATE_FORMAT}")
            known = {f.name for f in fields(Record)}
            stages = {str(name): Record(**{k: v for k, v in record.items() if k in known})
                      for name, record in document.get("stages", {}).items()}
            for record in stages.values():
                if record.status not in (STARTED, DONE, FAILED) or not isinstance(record.outputs, dict):
                    raise ValueError("a stage's record is damaged")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise FaciesError(f"the state file {path} cannot be read ({' '.join(str(exc).split())[:120]}); move it "
                              "away to run every stage again (existing outputs are then refused, not replaced)") \
                from None
        return cls(path, stages, run_file=str(document.get("run_file", run_file)))

    def save(self) -> None:
        """Write the state whole (through a temporary file renamed over the old one)."""
        document: dict[str, Any] = {"format": STATE_FORMAT, "run_file": self.run_file,
                                    "stages": {name: asdict(record) for name, record in self.stages.items()}}
        text = json.dumps(document, indent=1, sort_keys=False) + "\n"
        written_then_moved(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
