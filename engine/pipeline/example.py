"""``facies run --example``: a commented run file written from the schema, so it shows every key there is.

Each stage's table gives the values of its :attr:`~facies.engine.pipeline.stages.Step.example` and lists
every other key commented out at its default, with its help. The stages the example does not run (those
that exclude one it runs, such as ``[ingest]`` beside ``[synth]``, and ``[attributes]``) are shown
commented out whole. As written it runs on the built-in synthetic survey at size tiny in a minute or two.
"""

from __future__ import annotations

from facies.engine.pipeline.schema import Command, Key, Schema, format_value
from facies.engine.pipeline.stages import EXCLUSIVE, STAGES, EXECUTION_KEYS, Stage

#: Stages the example shows commented out: exclusive with one it runs, or needing what the synthetic
#: survey already has.
INACTIVE = frozenset({*(names[1] for names in EXCLUSIVE), "attributes"})

_HEADER = """\
# A facies run file. `facies run THIS.toml` runs its stages in order; run it again and it skips what is done and
# unchanged, reruns what changed and everything downstream of it, and resumes a stage that was interrupted.
# `facies run THIS.toml --dry-run` prints the plan; --from STAGE and --only STAGE choose stages;
# --set STAGE.KEY=VALUE overrides a key. The state is kept beside the outputs, in THIS.state.json.
#
# Each table is a stage. Its keys are the options of the facies command it runs, with the same names (written
# with _ for -: --sem-iter is sem_iter), types and defaults; see `facies <command> --help`. A key commented
# out is at its default. Relative paths are taken from `folder`. The options that only say where and how fast
# a command runs never make a stage run again:
# {execution}. See docs/pipeline.md.

# The survey store every stage works on (made by [synth] or [ingest], else an existing one).
store = "survey.zarr"
# The folder relative paths are taken from (itself relative to this file; default: this file's folder).
# folder = "."
"""

#: Column of the comment after a key.
_COLUMN = 40


def example_text(schema: Schema) -> str:
    """The commented example run file (TOML) for ``schema``."""
    execution = ", ".join(sorted(EXECUTION_KEYS))
    parts = [_HEADER.format(execution=execution)]
    for stage in STAGES:
        parts.append(_stage_text(stage, schema[stage.name], active=stage.name not in INACTIVE))
    return "\n".join(parts)


def _stage_text(stage: Stage, commands: tuple[Command, ...], *, active: bool) -> str:
    lines = ["", f"# {'-' * 110}", f"# {stage.name}: {stage.what}"]
    if not active:
        lines.append("# (not run by this example: remove the # of its lines to run it)")
    for command in commands:
        table = f"[{stage.name}]" if not command.step.table else f"[{stage.name}.{command.step.table}]"
        lines.append(_comment_out(_pad(table, f"{command.step.command}"), not active))
        given = dict(command.step.example)
        for key in sorted(command.keys, key=lambda k: (k.name not in given, k.required is False)):
            if key.name in given:
                lines.append(_comment_out(_key_line(key, given[key.name]), not active))
            else:
                lines.append("# " + _key_line(key, key.default))
    return "\n".join(lines)


def _key_line(key: Key, value) -> str:
    shown = format_value(value) if value is not None else _placeholder(key)
    about = " ".join(key.help.split()) or key.describe()
    if key.required:
        about += " (required)"
    return _pad(f"{key.name} = {shown}", f"{about} [{key.describe()}]")


def _placeholder(key: Key) -> str:
    """What a key without a default holds, for a commented-out line (``<integer>``)."""
    if key.kind == "integers" and key.length:
        return "[" + ", ".join(["<integer>"] * key.length) + "]"
    return {"strings": '["<string>"]', "paths": '["<path>"]', "integers": "[<integer>]", "path": '"<path>"',
            "string": '"<string>"'}.get(key.kind, f"<{key.kind}>")


def _pad(code: str, comment: str) -> str:
    return f"{code:<{_COLUMN}}# {comment}" if len(code) < _COLUMN else f"{code}  # {comment}"


def _comment_out(line: str, inactive: bool) -> str:
    return "# " + line if inactive else line
