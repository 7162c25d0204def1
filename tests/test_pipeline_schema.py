"""The run file's keys are the commands' options, and a bad run file is one line naming its place.

Every key of every stage round-trips: the command line :func:`facies.cli.run.command_line` builds for a
value of the key, parsed by the command itself, gives that value back under the option the key mirrors,
whose default is the key's. No store is made: these tests are fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.cli.run import command_at, command_line, key_name, schema
from facies.engine.pipeline.example import INACTIVE, example_text
from facies.engine.pipeline.lines import Lines
from facies.engine.pipeline.runfile import Invocation, read_run_file
from facies.engine.pipeline.stages import EXECUTION_KEYS, STAGE_NAMES, STAGES, stage
from tests.helpers import one_line_error

runner = CliRunner()


def _commands():
    return [pytest.param(name, command, id=f"{name}:{command.step.command}")
            for name, commands in schema().items() for command in commands]


def _sample(key):
    """A value of ``key`` unlike its default, as the run file would hold it (paths absolute)."""
    return {"string": "x1", "integer": 7, "float": 0.25, "boolean": not key.default,
            "path": Path("/tmp/some where/p.out"), "strings": ["a", "b c"],
            "paths": [Path("/tmp/a.sgy"), Path("/tmp/b.sgy")],
            "integers": list(range(3, 3 + (key.length or 2)))}[key.kind]


def _required(command):
    return {key.name: _sample(key) for key in command.keys if key.required}


@pytest.mark.parametrize("name, command", _commands())
def test_every_key_round_trips_to_its_option(name, command):
    click_command = command_at(command.step.words)
    params = {key_name(p): p for p in click_command.params}
    assert {key.name for key in command.keys} == set(params) - {command.step.store, "resume"}
    for key in command.keys:
        param = params[key.name]
        flag = next((o for o in param.opts if o.startswith("--")), "")
        assert key.name == (param.name if param.param_type_name == "argument" else flag[2:].replace("-", "_"))
        default = param.default if not isinstance(param.default, tuple) else list(param.default)
        assert key.default == (default or None if isinstance(default, list) else default), key.name
        assert key.required == bool(param.required), key.name
        # The command line built for a sample value, parsed by the command itself, gives the value back.
        values = {**_required(command), key.name: _sample(key)}
        invocation = Invocation(stage=name, command=command, place=f"[{name}]", values=values)
        args = command_line(invocation, Path("/tmp/s.zarr"), resume=False, overwrite=False)
        ctx = click_command.make_context(command.step.command, list(args), resilient_parsing=False)
        got = ctx.params[param.name]
        want = values[key.name]
        got = list(got) if isinstance(got, tuple) else got
        assert got == want, (key.name, args)
        assert ctx.params[command.step.store] == Path("/tmp/s.zarr")


@pytest.mark.parametrize("name, command", _commands())
def test_resume_and_overwrite_are_passed_as_chosen(name, command):
    click_command = command_at(command.step.words)
    invocation = Invocation(stage=name, command=command, place=f"[{name}]", values=_required(command))
    for flag in (False, True):
        ctx = click_command.make_context(command.step.command, command_line(
            invocation, Path("/tmp/s.zarr"), resume=flag, overwrite=flag))
        if command.resumable:
            assert ctx.params["resume"] is flag
        if command.overwrites:
            assert ctx.params["overwrite"] is flag


def test_the_stages_name_keys_their_commands_have():
    """The keys a stage lists as inputs and output names exist on its command (they cannot drift)."""
    for name, commands in schema().items():
        for command in commands:
            keys = {key.name for key in command.keys}
            assert set(command.step.inputs) <= keys, (name, command.step.inputs)
            assert set(command.step.names) <= keys, (name, command.step.names)
            assert set(command.step.example) <= keys, (name, dict(command.step.example))
            for key in command.step.inputs:
                assert command.key(key).is_path
    assert list(schema()) == list(STAGE_NAMES)


def test_the_example_parses_validates_and_shows_every_key(tmp_path):
    text = example_text(schema())
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    run = read_run_file(path, schema())
    assert list(run.stages) == [name for name in STAGE_NAMES if name not in INACTIVE]
    assert run.store == tmp_path / "survey.zarr"
    for name, commands in schema().items():
        for command in commands:
            table = f"[{name}]" if not command.step.table else f"[{name}.{command.step.table}]"
            assert re.search(rf"^(# )?{re.escape(table)} ", text, re.M), table
            for key in command.keys:
                assert re.search(rf"^(# )*{key.name} = ", text, re.M), (table, key.name)
    # Uncommenting the inactive stages (ingest instead of synth) gives a valid file too.
    inactive = "\n".join(line[2:] if line.startswith("# [ingest]") or line.startswith("# files =") else line
                         for line in text.splitlines()).replace("\n[synth]", "\n#[synth]").replace(
        '\nsize = "tiny"', '\n#size = "tiny"')
    path.write_text(inactive)
    assert "ingest" in read_run_file(path, schema()).stages


def test_cli_prints_the_example():
    result = runner.invoke(app, ["run", "--example"])
    assert result.exit_code == 0, result.output
    assert result.stdout == example_text(schema())


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


HEAD = 'store = "s.zarr"\n\n[synth]\nsize = "tiny"\n'


@pytest.mark.parametrize("text, fragments", [
    (HEAD + "seed = tiny\n", ["p.toml: not valid TOML", "line 5, column 8"]),
    (HEAD + "\n[flter]\nradius = \"1\"\n", ["p.toml line 6: unknown table [flter] (did you mean [filter]?)",
                                            "the stages are synth, ingest"]),
    (HEAD + "sede = 1\n", ["p.toml line 5: [synth] has no key 'sede' (did you mean seed?)", "facies synth --help"]),
    (HEAD + "\n[filter]\ninput = [\"envelope\"]\n\nradius = 1\n", ["p.toml line 9: [filter] radius must be a string",
                                                                   'radius = "2"', "--radius", "not an integer (1)"]),
    (HEAD + "\n[rf]\n# note\ntrees = \"5\"\n", ["p.toml line 6: [rf] needs name (--name)"]),
    (HEAD + "\n[evaluate.show]\nout = 3\n", ["p.toml line 7: [evaluate.show] out must be a path string (--out)"]),
    (HEAD + "\n[[export]]\narray = \"a\"\nout = \"a.sgy\"\n[[export]]\narray = \"b\"\nformat = \"ibm\"\n",
     ["p.toml line 9: [[export]] #2 needs out (the argument OUT)"]),
    (HEAD + "\n[evaluate]\n", ["p.toml line 6: [evaluate] runs nothing: add [evaluate.rf] or [evaluate.gtm]"]),
    (HEAD + "\n[evaluate.rf]\nmodel = \"rf\"\nlabels = 3\n", ["line 8: [evaluate.rf] labels must be a string"]),
    (HEAD + "shape = [1, 2]\n", ["line 5: [synth] shape must be an array of 3 integers"]),
    (HEAD + "store = \"x.zarr\"\n", ["line 5: [synth] cannot set store", "at the top of the file"]),
    (HEAD + "\n[filter]\nall = true\nresume = true\n", ["line 8: [filter] cannot set resume"]),
    (HEAD + "\n[ingest]\nfiles = [\"a.sgy\"]\n", ["line 6: [synth] and [ingest] both make the store"]),
    ('stor = "s.zarr"\n', ["line 1: unknown key 'stor' at the top of the file (did you mean store?)"]),
    ('[synth]\nsize = "tiny"\n', ["p.toml: no store"]),
    ('store = 3\n', ["line 1: store must be a path"]),
    ('store = "s.zarr"\nrf = 3\n', ["line 2: rf must be a table [rf] or tables [[rf]], not an integer"]),
    ('store = "s.zarr"\nexport = [1]\n', ["line 2: export must be a table [export] or tables [[export]], not an "
                                           "array"]),
])
def test_bad_run_files_are_one_line_naming_the_line(tmp_path, text, fragments):
    path = _write(tmp_path, text)
    one_line_error(runner.invoke(app, ["run", str(path), "--dry-run"]), *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["--from", "rff"], ["--from rff: no such stage; the stages are synth, ingest, attributes, filter"]),
    (["--only", "gtm"], ["--only gtm: ", "has no [gtm] table; its stages are synth"]),
    (["--from", "synth", "--only", "synth"], ["--from STAGE or --only STAGE, not both"]),
    (["--set", "synth.seed"], ["--set synth.seed: write --set STAGE.KEY=VALUE"]),
    (["--set", "synth.sed=2"], ["--set synth.sed=2: [synth] has no key 'sed' (did you mean seed?)"]),
    (["--set", "synth.seed=x"], ["--set synth.seed=x: [synth] seed must be an integer"]),
    (["--set", "export.0.out=a"], ["numbered from 1"]),
    (["--set", "store.x=a"], ["--set store.x=a: store is not a table"]),
])
def test_bad_options_are_one_line(tmp_path, args, fragments):
    path = _write(tmp_path, HEAD)
    result = runner.invoke(app, ["run", str(path), *args])
    one_line_error(result, *fragments)
    assert not (tmp_path / "p.state.json").exists() and not (tmp_path / "s.zarr").exists()


def test_missing_and_bad_files(tmp_path):
    one_line_error(runner.invoke(app, ["run", str(tmp_path / "nope.toml")]), "nope.toml does not exist")
    one_line_error(runner.invoke(app, ["run"]), "give a run file", "--example")
    (tmp_path / "b.toml").write_bytes(b'store = "\xff"\n')
    one_line_error(runner.invoke(app, ["run", str(tmp_path / "b.toml")]), "not UTF-8")


def test_paths_are_taken_from_the_folder_and_overrides_from_the_current_folder(tmp_path, monkeypatch):
    sub = tmp_path / "runs"
    sub.mkdir()
    path = sub / "p.toml"
    path.write_text('store = "s.zarr"\nfolder = "../out"\n\n[report]\nout = "r.html"\n\n[[export]]\narray = "a"\n'
                    'out = "~/a.sgy"\n')
    monkeypatch.chdir(tmp_path)
    run = read_run_file(path, schema(), overrides=["export.1.format=ibm", "report.inline=1010",
                                                   "report.out=elsewhere/r.html"])
    assert run.folder == tmp_path / "out" and run.store == tmp_path / "out/s.zarr"
    assert run.stages["report"][0].values == {"out": tmp_path / "elsewhere/r.html", "inline": 1010.0}
    export = run.stages["export"][0].values
    assert export["out"] == Path.home() / "a.sgy" and export["format"] == "ibm"
    again = read_run_file(path, schema(), overrides=["folder=x", "store=other.zarr"])
    assert again.folder == tmp_path / "x" and again.store == tmp_path / "other.zarr"
    # A string key takes the text as written; a list key a comma list; a quoted TOML string stays a string.
    path.write_text('store = "s.zarr"\n[filter]\nall = true\n')
    run = read_run_file(path, schema(), overrides=["filter.radius=2", "filter.suffix=\"_f\"",
                                                   "filter.input=a, b", "filter.all=false", "rf.name=rf"])
    assert run.stages["filter"][0].values == {"all": False, "radius": "2", "suffix": "_f", "input": ["a", "b"]}
    assert run.stages["rf"][0].values == {"name": "rf"}


def test_lines_finds_tables_keys_and_array_elements():
    text = ('store = "s"\n[gtm]\ngrid = 3\nshow.out = "x"\n"quoted" = 1\n[[export]]\nout = "a"\n[[export]]\n'
            'x = """\n[rf]\ny = 1\n"""\nout = "b"\n[ gtm . show ]\nat = 2\n')
    lines = Lines(text)
    assert lines.line(("store",)) == 1 and lines.line(("gtm",)) == 2 and lines.line(("gtm", "grid")) == 3
    assert lines.line(("gtm", "show", "out")) == 4 and lines.line(("gtm", "quoted")) == 5
    assert lines.line(("export", 0, "out")) == 7 and lines.line(("export", 1)) == 8
    assert lines.line(("export", 1, "out")) == 13 and lines.line(("rf",)) is None  # inside a string
    assert lines.line(("gtm", "show", "at")) == 15 and lines.line(("gtm", "nope")) == 2


def test_every_stage_depends_only_on_earlier_ones():
    for position, item in enumerate(STAGES):
        assert set(item.after or ()) <= set(STAGE_NAMES[:position]), item.name
    assert stage("report").after is None and "select" not in EXECUTION_KEYS
    with pytest.raises(KeyError):
        stage("nope")


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.toml")), ids=lambda p: p.name)
def test_the_repository_run_files_are_valid(path):
    run = read_run_file(path, schema(), overrides=["folder=demo", "synth.size=tiny"], cwd=REPO)
    assert run.folder == REPO / "demo" and run.store.parent == REPO / "demo"
    assert "synth" in run.stages and "report" in run.stages


def test_demo_runs_the_demo_run_file():
    script = (REPO / "scripts" / "demo.sh").read_text()
    assert 'run_file=pipelines/demo.toml' in script
    assert '$facies run "$run_file" --set folder="$demo" --set synth.size="$size"' in script
    assert "FACIES=$(BIN)/facies bash scripts/demo.sh $(DEMO) $(SIZE)" in (REPO / "Makefile").read_text()
