"""``facies run PIPELINE.toml``: run a run file's stages, each one facies command run in this process.

The keys of a stage's table are read off the command it runs (:func:`schema`): each option's first long
name without its dashes, ``-`` as ``_``, with the option's type, default and help, so a key cannot drift
from its option. A stage runs its command with arguments built from its table (:func:`command_line`).
What runs, what is skipped and why, the fingerprints and the state file are the engine's
(:mod:`facies.engine.pipeline`); docs/pipeline.md describes the file.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import types
import typing
from pathlib import Path
from typing import Any

import typer

from facies.cli.console import console
from facies.engine.errors import FaciesError
from facies.engine.pipeline.example import example_text
from facies.engine.pipeline.execute import INTERRUPTED, check_stage_choice, run_pipeline, state_path
from facies.engine.pipeline.plan import Decision
from facies.engine.pipeline.runfile import Invocation, read_run_file
from facies.engine.pipeline.schema import Command, Key, Schema
from facies.engine.pipeline.stages import MANAGED_KEYS, STAGES, Step

try:  # typer >= 0.20 carries its own copy of click (as cli/app.py)
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import UsageError

#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@functools.cache
def facies_command():
    """The ``facies`` command tree (click), whose commands the stages run."""
    from facies.cli.app import app as facies_app  # noqa: PLC0415 - cli/app.py imports this module

    return typer.main.get_command(facies_app)


def command_at(words: tuple[str, ...]):
    """The click command ``facies <words>``, or None when this facies has none."""
    command = facies_command()
    for word in words:
        children = getattr(command, "commands", None)
        if not children or word not in children:
            return None
        command = children[word]
    return None if hasattr(command, "commands") else command


def key_name(param) -> str:
    """The run-file key of a click parameter: an option's first long name without dashes, ``-`` as ``_``."""
    if param.param_type_name == "argument":
        return param.name
    flag = next(opt for opt in param.opts if opt.startswith("--"))
    return flag[2:].replace("-", "_")


def _kind(annotation) -> tuple[str, int | None]:
    """A parameter's Python annotation -> (key kind, length of a fixed tuple)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # Optional[X]
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return ("paths" if args[0] is Path else "strings"), None
    if origin is tuple and args and all(a is int for a in args):
        return "integers", len(args)
    simple = {bool: "boolean", int: "integer", float: "float", str: "string", Path: "path"}
    if annotation in simple:
        return simple[annotation], None
    raise TypeError(f"no run-file kind for the annotation {annotation!r}")


def keys_of(command, step: Step) -> tuple[Key, ...]:
    """The keys of ``command``'s table: its parameters but the store and ``--resume``."""
    hints = typing.get_type_hints(command.callback)
    keys = []
    for param in command.params:
        name = key_name(param)
        if param.name == step.store or name in MANAGED_KEYS:
            continue
        kind, length = _kind(hints[param.name])
        flag = "" if param.param_type_name == "argument" else next(o for o in param.opts if o.startswith("--"))
        default = param.default
        if isinstance(default, tuple) or (isinstance(default, list) and not default):
            default = list(default) or None
        keys.append(Key(name=name, kind=kind, default=default, required=bool(param.required),
                        help=" ".join((getattr(param, "help", None) or "").split()), flag=flag, length=length))
    return tuple(keys)


def _build_command(step: Step) -> Command:
    command = command_at(step.words)
    if command is None:
        raise RuntimeError(f"{step.command} does not exist, but a stage of facies run uses it")
    return Command(step=step, keys=keys_of(command, step), resumable=any(p.name == "resume" for p in command.params))


@functools.cache
def schema() -> Schema:
    """Every stage's commands with their keys, read off the commands."""
    return types.MappingProxyType({stage.name: tuple(_build_command(step) for step in stage.steps)
                                   for stage in STAGES})


def command_line(invocation: Invocation, store: Path, *, resume: bool, overwrite: bool) -> list[str]:
    """The arguments of ``facies <words>`` for ``invocation``: its table's values, the store, and the
    ``--resume`` and ``--overwrite`` facies run chose: the positional arguments (after ``--`` when one starts
    with ``-``) and the options, written ``--name=value`` so that no value is read as an option."""
    command = command_at(invocation.command.step.words)
    options: list[str] = []
    positional: list[str] = []
    for param in command.params:
        name = key_name(param)
        if param.name == invocation.command.step.store:
            value: Any = store
        elif name == "resume":
            value = resume or None
        elif name == "overwrite":
            value = (overwrite or invocation.values.get("overwrite") is True) or None
        elif name in invocation.values:
            value = invocation.values[name]
        else:
            continue  # the command's own default
        if param.param_type_name == "argument":
            positional.extend(str(v) for v in (value if isinstance(value, list) else [value]))
            continue
        flag = next(o for o in param.opts if o.startswith("--"))
        if getattr(param, "is_flag", False):
            if value is True:
                options.append(flag)
            elif value is False and param.secondary_opts:
                options.append(param.secondary_opts[0])
        elif param.nargs > 1:
            options.extend([flag, *(str(v) for v in value)])
        elif isinstance(value, list):
            options.extend(f"{flag}={v}" for v in value)
        elif value is not None:
            options.append(f"{flag}={value}")
    if any(arg.startswith("-") for arg in positional):
        return [*options, "--", *positional]  # no value may be read as an option
    return [*positional, *options]


def _shown(args: list[str]) -> str:
    """A command line to print: paths under the current folder made relative (the run uses absolute ones)."""
    here = os.getcwd() + os.sep

    def short(arg: str) -> str:
        flag, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value.startswith(here):
            value = value[len(here):]
        return f"{flag}{sep}{value}"

    return shlex.join(short(a) for a in args)


def _invoker(store: Path):
    def invoke(invocation: Invocation, resume: bool, overwrite: bool) -> int:
        args = command_line(invocation, store, resume=resume, overwrite=overwrite)
        console.print(f"$ {invocation.command.step.command} {_shown(args)}", style="dim", markup=False)
        command = command_at(invocation.command.step.words)
        try:
            status = command.main(args=args, prog_name=invocation.command.step.command, standalone_mode=False)
        except UsageError as exc:  # a value the command's own parser refuses (a range, a choice)
            message = " ".join(exc.format_message().split())
            raise FaciesError(f"{message} (check {invocation.place})") from None
        sys.stdout.flush()
        return status if isinstance(status, int) else 0
    return invoke


@app.command("run")
def run(pipeline: Path = typer.Argument(None, metavar="PIPELINE.toml",
                                        help="The run file (TOML); facies run --example writes one."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (run, resume or skip each stage, "
                                                              "and why) and change nothing."),
        start: str = typer.Option(None, "--from", metavar="STAGE", help="Run STAGE and every later stage, done "
                                                                        "or not."),
        only: list[str] = typer.Option(None, "--only", metavar="STAGE", help="Run only STAGE, done or not "
                                                                             "(repeatable)."),
        overrides: list[str] = typer.Option(None, "--set", metavar="STAGE.KEY=VALUE",
                                            help="Override a key of the file (a TOML value, or text): "
                                                 "--set rf.trees=50,100, --set store=other.zarr (repeatable)."),
        example: bool = typer.Option(False, "--example", help="Print a commented example run file (every stage "
                                                              "and key) and exit.")) -> None:
    """Run a run file's stages in order: skip what is done and unchanged, rerun what changed and what follows
    from it, resume what was interrupted. See docs/pipeline.md."""
    if example:
        typer.echo(example_text(schema()), nl=False)
        return
    if pipeline is None:
        raise FaciesError("give a run file: facies run PIPELINE.toml (facies run --example > pipeline.toml "
                          "writes one)")
    run_file = read_run_file(pipeline, schema(), overrides=overrides or ())
    check_stage_choice(run_file, start, only or ())
    if not dry_run:
        console.print(f"facies run {pipeline}: state in {_shown([str(state_path(run_file))])}", markup=False)

    def show(decision: Decision) -> None:
        if dry_run:
            console.print(decision.line(), markup=False)
        else:
            console.print(("\n" if decision.runs else "") + "== " + decision.line(), style="bold", markup=False)

    try:
        status = run_pipeline(run_file, _invoker(run_file.store), start=start, only=only or (), dry_run=dry_run,
                              echo=show)
    except KeyboardInterrupt:
        status = INTERRUPTED
    if status == INTERRUPTED:
        typer.echo(f"facies run: interrupted; run facies run {pipeline} again to resume", err=True)
    if status:
        raise typer.Exit(status)
