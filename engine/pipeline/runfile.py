"""Reading a run file: TOML in, checked :class:`RunFile` out, every mistake one line naming its place.

A run file holds ``store`` (and optionally ``folder``) at the top, then one table per stage
(:mod:`facies.engine.pipeline.stages`) whose keys are the options of the command the stage runs
(:class:`~facies.engine.pipeline.schema.Command`). ``--set stage.key=VALUE`` overrides change the
parsed file before it is checked. Relative paths in the file are taken from ``folder`` (itself taken
from the run file's folder, which is its default); paths given with ``--set`` from the current folder.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.pipeline.lines import Lines
from facies.engine.pipeline.schema import Command, Key, Schema, check_value, toml_type
from facies.engine.pipeline.stages import EXCLUSIVE, MANAGED_KEYS, STAGE_NAMES, stage

#: The keys at the top of a run file (every other top-level entry is a stage's table).
TOP_KEYS = ("store", "folder")


@dataclass(frozen=True)
class Invocation:
    """One command a stage runs, with the values its table gives.

    Attributes
    ----------
    stage : str
        The stage's name.
    command : Command
        The command and its keys.
    place : str
        Its table as written in the file (``[evaluate.show]``, ``[[export]] #2``), for messages.
    values : mapping
        The keys the table gives, checked; paths made absolute (``Path``, or a list of them).
    """

    stage: str
    command: Command
    place: str
    values: Mapping[str, Any]

    def value(self, key: Key) -> Any:
        """The key's value: given, else its default."""
        return self.values.get(key.name, key.default)


@dataclass(frozen=True)
class RunFile:
    """A checked run file.

    Attributes
    ----------
    path : Path
        The run file.
    folder : Path
        The folder its relative paths are taken from (absolute).
    store : Path
        The survey store every stage works on (absolute).
    stages : mapping
        Stage name -> its invocations, in the order they run, for the stages the file has.
    """

    path: Path
    folder: Path
    store: Path
    stages: Mapping[str, tuple[Invocation, ...]]


class _Where:
    """How to name a place of the run file in a message: ``p.toml line 12`` or ``--set rf.trees=5``."""

    def __init__(self, path: Path, text: str, overrides: Mapping[tuple, str]) -> None:
        self.path, self.lines, self.overrides = path, Lines(text), overrides

    def __call__(self, place: tuple) -> str:
        for length in range(len(place), 0, -1):  # the override that set this key or a table above it
            if place[:length] in self.overrides:
                return f"--set {self.overrides[place[:length]]}"
        line = self.lines.line(place)
        return f"{self.path} line {line}" if line else str(self.path)

    def fail(self, place: tuple, message: str) -> FaciesError:
        return FaciesError(f"{self(place)}: {message}")


def read_run_file(path, schema: Schema, *, overrides: Sequence[str] = (), cwd=None) -> RunFile:
    """Read, override and check the run file at ``path``.

    Parameters
    ----------
    path : path-like
        The TOML run file.
    schema : Schema
        The commands of every stage with their keys (built by the CLI from the commands themselves).
    overrides : sequence of str
        ``stage.key=VALUE`` (``store=PATH``, ``evaluate.show.out=DIR``, ``export.1.out=F``), applied in order.
        VALUE is read as a TOML value; for a string or path key it is taken as written unless quoted, and
        a list key also takes a comma list.
    cwd : path-like, optional
        Where relative paths of ``overrides`` are taken from (default: the current folder).

    Raises
    ------
    FaciesError
        One line naming the file and line (or the override) and what is wrong: a syntax error, an unknown
        table or key (with the closest name), a value of the wrong type, a missing required key.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FaciesError(f"{path}: not valid TOML: {exc}") from None
    given = _apply_overrides(data, overrides)
    where = _Where(path, text, given)
    cwd = Path.cwd() if cwd is None else Path(cwd)
    base = path.resolve().parent

    def absolute(value: str, place: tuple, folder: Path) -> Path:
        # normpath: "pipelines/../demo" is shown and recorded as "demo" (links are not resolved)
        return Path(os.path.normpath((cwd if place in given else folder) / Path(value).expanduser()))

    for name, value in data.items():
        if name not in TOP_KEYS and name not in STAGE_NAMES:
            raise _unknown_top(where, name, value)
    folder = base
    if "folder" in data:
        folder = absolute(_top_path(where, data, "folder"), ("folder",), base)
    if "store" not in data:
        raise FaciesError(f"{path}: no store: put store = \"PATH\" at the top of the file (the survey store every "
                          "stage works on; see facies run --example)")
    store = absolute(_top_path(where, data, "store"), ("store",), folder)
    stages: dict[str, tuple[Invocation, ...]] = {}
    for name in STAGE_NAMES:
        if name in data:
            stages[name] = _read_stage(where, name, data[name], schema[name], given,
                                       lambda value, place: absolute(value, place, folder))
    for exclusive in EXCLUSIVE:
        present = [name for name in exclusive if name in stages]
        if len(present) > 1:
            raise where.fail((present[-1],), f"[{present[0]}] and [{present[1]}] both make the store; keep one")
    return RunFile(path=path, folder=folder, store=store, stages=stages)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FaciesError(f"run file {path} does not exist" if not path.exists() else
                          f"run file {path} is not a file; give a .toml file (facies run --example shows one)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FaciesError(f"{path}: not UTF-8 text (byte {exc.start}); a run file is TOML, in UTF-8") from None


def _top_path(where: _Where, data: Mapping, name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise where.fail((name,), f"{name} must be a path (a string), not {toml_type(value)}")
    return value


def _unknown_top(where: _Where, name: str, value: Any) -> FaciesError:
    """An entry at the top of the file that is neither a top key nor a stage."""
    if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
        hint = _close(name, STAGE_NAMES, "[{}]")
        return where.fail((name,), f"unknown table [{name}]{hint}; the stages are {', '.join(STAGE_NAMES)}")
    hint = _close(name, TOP_KEYS, "{}")
    return where.fail((name,), f"unknown key {name!r} at the top of the file{hint}; the top holds store and folder, "
                               "every option belongs in its stage's table")


def _close(name: str, choices: Iterable[str], form: str) -> str:
    """`` (did you mean [filter]?)`` for the closest of ``choices``, or nothing."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {form.format(match[0])}?)" if match else ""


def _read_stage(where: _Where, name: str, value: Any, commands: tuple[Command, ...], given: Mapping[tuple, str],
                absolute) -> tuple[Invocation, ...]:
    """The invocations of stage ``name`` from its table (or array of tables)."""
    repeatable = stage(name).repeatable
    entries: list[tuple[tuple, str, Mapping]]
    if isinstance(value, list) and repeatable and value and all(isinstance(v, dict) for v in value):
        entries = [((name, i), f"[[{name}]] #{i + 1}", v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        entries = [((name,), f"[{name}]", value)]
    else:
        form = f"a table [{name}]" + (f" or tables [[{name}]]" if repeatable else "")
        raise where.fail((name,), f"{name} must be {form}, not {toml_type(value)}")
    invocations: list[Invocation] = []
    for place, label, table in entries:
        invocations.extend(_read_entry(where, name, place, label, table, commands, given, absolute))
    return tuple(invocations)


def _read_entry(where: _Where, name: str, place: tuple, label: str, table: Mapping, commands: tuple[Command, ...],
                given: Mapping[tuple, str], absolute) -> list[Invocation]:
    main = next((c for c in commands if not c.step.table), None)
    subs = {c.step.table: c for c in commands if c.step.table}
    main_values: dict[str, Any] = {}
    sub_tables: dict[str, Mapping] = {}
    for key, value in table.items():
        if key in subs:
            if not isinstance(value, dict):
                raise where.fail((*place, key), f"{key} in {label} must be the table [{name}.{key}] "
                                                f"({subs[key].step.command}), not {toml_type(value)}")
            sub_tables[key] = value
        elif main is not None:
            main_values[key] = value
        else:
            tables = " and ".join(f"[{name}.{c.step.table}] ({c.step.command})" for c in subs.values())
            raise where.fail((*place, key), f"{label} has no key {key!r}: its tables are {tables}")
    invocations = []
    if main is not None:
        invocations.append(_invocation(where, name, place, label, main_values, main, given, absolute))
    for sub, command in subs.items():
        if sub in sub_tables:
            invocations.append(_invocation(where, name, (*place, sub), f"[{name}.{sub}]", sub_tables[sub], command,
                                           given, absolute))
    if not invocations:
        tables = " or ".join(f"[{name}.{c.step.table}]" for c in subs.values())
        raise where.fail(place, f"{label} runs nothing: add {tables}")
    return invocations


def _invocation(where: _Where, name: str, place: tuple, label: str, table: Mapping, command: Command,
                given: Mapping[tuple, str], absolute) -> Invocation:
    values: dict[str, Any] = {}
    for key_name, raw in table.items():
        key_place = (*place, key_name)
        key = command.key(key_name)
        if key is None:
            raise where.fail(key_place, _no_such_key(label, key_name, command))
        value = _from_command_line(key, raw, given.get(key_place))
        try:
            value = check_value(key, value)
        except FaciesError as exc:
            raise where.fail(key_place, f"{label} {key_name} {exc}") from None
        if key.kind == "path":
            value = absolute(value, key_place)
        elif key.kind == "paths":
            value = [absolute(v, key_place) for v in value]
        values[key_name] = value
    missing = [key for key in command.keys if key.required and key.name not in values]
    if missing:
        needs = ", ".join(f"{key.name} ({key.describe()})" for key in missing)
        raise where.fail(place, f"{label} needs {needs}: {command.step.command} requires it")
    return Invocation(stage=name, command=command, place=label, values=values)


def _no_such_key(label: str, key: str, command: Command) -> str:
    if key == command.step.store:
        return f"{label} cannot set {key}: the store is set once, at the top of the file (store = \"PATH\")"
    if key in MANAGED_KEYS:
        return f"{label} cannot set {key}: facies run resumes an interrupted stage by itself"
    hint = _close(key, [k.name for k in command.keys], "{}")
    return (f"{label} has no key {key!r}{hint}; its keys are the options of {command.step.command} "
            f"({command.step.command} --help), written with _ for -")


def _from_command_line(key: Key, value: Any, assignment: str | None) -> Any:
    """A ``--set`` value as ``key`` wants it: its text for a string key, a comma list for a list key."""
    if assignment is None:
        return value
    text = assignment.split("=", 1)[1]
    if key.kind in ("string", "path") and not isinstance(value, str):
        return text
    if key.kind in ("strings", "paths") and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if key.kind == "integers" and isinstance(value, str):
        try:
            return [int(part) for part in value.replace(" ", ",").split(",") if part]
        except ValueError:
            return value
    return value


def _apply_overrides(data: dict, overrides: Sequence[str]) -> dict[tuple, str]:
    """Apply ``stage.key=VALUE`` overrides to ``data``; returns each set place -> its assignment."""
    given: dict[tuple, str] = {}
    for assignment in overrides:
        name, sep, text = assignment.partition("=")
        parts = [part.strip() for part in name.split(".")]
        if not sep or not all(parts):
            raise FaciesError(f"--set {assignment}: write --set STAGE.KEY=VALUE (e.g. --set rf.trees=50,100), or "
                              "--set store=PATH")
        place: tuple = tuple(int(part) - 1 if part.isdigit() else part for part in parts)
        if any(isinstance(p, int) and p < 0 for p in place):
            raise FaciesError(f"--set {assignment}: tables of an array are numbered from 1 (export.1.out)")
        _set(data, place, _toml_value(text), assignment)
        given[place] = assignment
    return given


def _toml_value(text: str) -> Any:
    """``text`` read as a TOML value; as written when it is not one (``tiny``, ``25,50``)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _set(data: dict, place: tuple, value: Any, assignment: str) -> None:
    node: Any = data
    for depth, part in enumerate(place[:-1]):
        following = place[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                count = len(node) if isinstance(node, list) else 0
                raise FaciesError(f"--set {assignment}: there is no table {part + 1} (the file has {count})")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise FaciesError(f"--set {assignment}: {'.'.join(map(str, place[:depth]))} is not a table")
        child = node.setdefault(part, {} if not isinstance(following, int) else [])
        if isinstance(child, list) and not isinstance(following, int):
            raise FaciesError(f"--set {assignment}: [[{part}]] has {len(child)} tables; say which, e.g. "
                              f"--set {part}.1.{'.'.join(map(str, place[depth + 1:]))}=...")
        node = child
    last = place[-1]
    if not isinstance(node, dict):
        raise FaciesError(f"--set {assignment}: {'.'.join(map(str, place[:-1]))} is not a table")
    if isinstance(last, int):
        raise FaciesError(f"--set {assignment}: name a key, e.g. --set rf.trees=50,100")
    node[last] = value
