"""What a run file's key may hold: :class:`Key`, a key described as plain data, and :func:`check_value`.

The keys of a stage's table are the options of the facies command it runs. The CLI reads them off the
command itself (name, type, default, help), so a key and its option cannot drift apart, and hands them
here as :class:`Key` objects: the engine validates run files against them without knowing the CLI.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.pipeline.stages import Step

#: What a key holds, as a TOML value: a string, an integer, a float (an integer is accepted), a boolean, a
#: path (a string, relative to the run file's folder), or an array of strings, paths or integers (a
#: repeatable option, a variadic argument, or a fixed-size tuple such as ``synth --shape``).
KINDS = ("string", "integer", "float", "boolean", "path", "strings", "paths", "integers")

#: The TOML name of a Python value tomllib returns, for messages.
_TOML_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
               (list, "an array"), (dict, "a table"), (_dt.datetime, "a date-time"), (_dt.date, "a date"),
               (_dt.time, "a time"))


@dataclass(frozen=True)
class Key:
    """One key of a stage's table: a command-line option (or argument) of the command the stage runs.

    Attributes
    ----------
    name : str
        The key: the option's first long name without its dashes, ``-`` turned into ``_`` (``--sem-iter``
        is ``sem_iter``); an argument's own name (``polygons``).
    kind : str
        One of :data:`KINDS`.
    default : object
        The option's default (None: the option is not passed unless the key is given).
    required : bool
        The command needs it (an argument, or an option without a default).
    help : str
        The option's help text.
    flag : str
        How the option is written on the command line (``--sem-iter``); empty for an argument.
    length : int, optional
        The number of values of a fixed-size ``integers`` key.
    """

    name: str
    kind: str
    default: Any = None
    required: bool = False
    help: str = ""
    flag: str = ""
    length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r} of key {self.name!r}")

    @property
    def is_path(self) -> bool:
        """Whether the key names files (its values are relative to the run file's folder)."""
        return self.kind in ("path", "paths")

    def describe(self) -> str:
        """What the key mirrors, for messages: ``--sem-iter`` or ``the argument POLYGONS``."""
        return self.flag or f"the argument {self.name.upper()}"


def toml_type(value: Any) -> str:
    """The TOML type of a value read by tomllib, with its article ("an integer")."""
    for python, name in _TOML_TYPES:
        if isinstance(value, python):
            return name
    return type(value).__name__


def expected(key: Key) -> str:
    """What ``key`` takes, in words, with an example (``a string, e.g. trees = "50,100,200"``)."""
    words = {"string": "a string", "integer": "an integer", "float": "a number", "boolean": "true or false",
             "path": "a path string", "strings": "an array of strings", "paths": "an array of paths",
             "integers": "an array of integers"}[key.kind]
    if key.kind == "integers" and key.length:
        words = f"an array of {key.length} integers"
    if key.default is not None and key.kind != "boolean":
        words += f", e.g. {key.name} = {format_value(key.default)}"
    return words


def check_value(key: Key, value: Any) -> Any:
    """``value`` (as tomllib read it) if ``key`` may hold it, floats made float; else FaciesError.

    The message is the part after the key's name and place, e.g. ``must be a string, e.g. trees =
    "50,100,200" (--trees), not an integer (25)``; the caller adds which file, line and table.
    """
    ok = _fits(key, value)
    if ok is None:
        raise FaciesError(f"must be {expected(key)} ({key.describe()}), not {toml_type(value)} ({_show(value)})")
    return ok


def _fits(key: Key, value: Any) -> Any:
    """The checked value, or None when it does not fit."""
    kind = key.kind
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "float":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind in ("string", "path"):
        return value if isinstance(value, str) and (kind == "string" or value) else None
    if not isinstance(value, list):
        return None
    if kind == "integers":
        good = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return value if good and (key.length is None or len(value) == key.length) else None
    return value if all(isinstance(v, str) and v for v in value) else None


def _show(value: Any) -> str:
    """A short rendering of a wrong value for a message."""
    text = format_value(value) if isinstance(value, (bool, int, float, str, list)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_value(value: Any) -> str:
    """``value`` written as TOML (strings quoted, booleans lower case, arrays bracketed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Command:
    """A stage's command with its keys, as the CLI read them off the command.

    Attributes
    ----------
    step : Step
        The command's place in its stage (:mod:`facies.engine.pipeline.stages`).
    keys : tuple of Key
        The keys its table may hold: its options and arguments but the store (set once, at the top of
        the run file) and ``--resume`` (facies run's own).
    resumable : bool
        It takes ``--resume``: an interrupted run of it continues where it stopped.
    """

    step: Step
    keys: tuple[Key, ...]
    resumable: bool = False

    def key(self, name: str) -> Key | None:
        """The key called ``name``, or None."""
        return next((key for key in self.keys if key.name == name), None)

    @property
    def overwrites(self) -> bool:
        """It takes ``--overwrite``."""
        return self.key("overwrite") is not None


#: What the CLI hands the engine: for each stage, the commands it runs.
Schema = Mapping[str, tuple[Command, ...]]
