"""What runs, what is skipped, what resumes and what may be replaced, with the commands replaced by a recorder.

:func:`facies.engine.pipeline.execute.run_pipeline` takes the command runner as an argument; here a fake
one records each call (stage, command, --resume, --overwrite) and makes an output (a file at the
command's ``out``, a store member named after the stage), so the rules of the plan and of the state are
checked in milliseconds. The real commands run in tests/test_pipeline_run.py.
"""

from __future__ import annotations

import json
import os

import pytest

from facies.cli.run import schema
from facies.engine.errors import FaciesError
from facies.engine.pipeline.execute import INTERRUPTED, run_pipeline, state_path
from facies.engine.pipeline.runfile import read_run_file
from facies.engine.pipeline.state import State

PIPELINE = """\
store = "s.zarr"

[synth]
size = "tiny"

[filter]
input = ["envelope"]

[training]
polygons = "s.polygons.json"
all = true

[training.export]
out = "picks.csv"

[rf]
name = "rf"
trees = "5"
out = "rf_report"

[apply]
rf = "rf"

[evaluate.rf]
model = "rf"

[[export]]
array = "facies_rf"
out = "facies_rf.sgy"

[report]
out = "report.html"
"""
STAGES = ["synth", "filter", "training", "rf", "apply", "evaluate", "export", "report"]


class Recorder:
    """Stands in for the commands: records each call, makes the outputs, fails or stops where told (an
    exception is raised before anything is made; a status, 130 for Ctrl-C, is returned after)."""

    def __init__(self, folder):
        self.folder, self.calls, self.outcomes = folder, [], {}

    def __call__(self, invocation, resume, overwrite):
        command = invocation.command.step.command
        self.calls.append((invocation.stage, command, resume, overwrite))
        outcome = self.outcomes.pop(command, 0)
        if isinstance(outcome, BaseException):
            raise outcome
        member = self.folder / "s.zarr" / f"{invocation.stage}_{invocation.command.step.words[-1]}"
        member.mkdir(parents=True, exist_ok=True)
        (member / "zarr.json").write_text(json.dumps({"node_type": "array", "call": len(self.calls)}))
        out = invocation.values.get("out")
        if out is not None:
            if invocation.command.key("out").kind == "path" and out.suffix == "":
                out.mkdir(exist_ok=True)
                out = out / "table.csv"
            out.write_text(f"{command} {len(self.calls)}")
        if invocation.stage == "synth":
            (self.folder / "s.polygons.json").write_text("{}")
        return outcome

    def stages(self):
        return list(dict.fromkeys(call[0] for call in self.calls))


@pytest.fixture
def pipeline(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PIPELINE)
    return path


def _run(path, recorder, *overrides, **options):
    recorder.calls.clear()
    lines = []
    status = run_pipeline(read_run_file(path, schema(), overrides=overrides), recorder, echo=lines.append, **options)
    return status, {d.stage: d for d in lines}


def test_a_rerun_skips_everything_and_a_change_reruns_exactly_what_follows(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    status, plan = _run(pipeline, recorder)
    assert status == 0 and recorder.stages() == STAGES
    assert all(not resume and not overwrite for _, _, resume, overwrite in recorder.calls)  # nothing to replace
    assert [call[1] for call in recorder.calls][2:4] == ["facies training extract", "facies training export"]
    assert {d.why for d in plan.values()} == {"not run before"}
    state = json.loads(state_path(read_run_file(pipeline, schema())).read_text())
    assert {name: r["status"] for name, r in state["stages"].items()} == dict.fromkeys(STAGES, "done")
    assert "file:report.html" in state["stages"]["report"]["outputs"]
    assert set(state["stages"]["rf"]["outputs"]) == {"store:rf_train", "file:rf_report/table.csv"}

    status, plan = _run(pipeline, recorder)
    assert status == 0 and recorder.calls == []
    assert {d.line() for d in plan.values()} == {f"{s}: skip (done, unchanged)" for s in STAGES}

    status, plan = _run(pipeline, recorder, "rf.trees=5,10")
    assert recorder.stages() == ["rf", "apply", "evaluate", "export", "report"]
    assert plan["rf"].why == 'changed: trees "5" -> "5,10"' and plan["apply"].why == "upstream rf runs"
    assert plan["gtm" if "gtm" in plan else "training"].action == "skip"
    # What the run file made before, under the same names, is replaced: --overwrite where a command has it.
    assert [call[3] for call in recorder.calls] == [True, True, False, True, True]

    # An execution option changes nothing; an edited input file reruns its reader and what follows.
    status, plan = _run(pipeline, recorder, "rf.trees=5,10", "apply.device=cpu", "filter.brick=8,8")
    assert recorder.calls == []
    (tmp_path / "s.polygons.json").write_text('{"edited": 1}')
    os.utime(tmp_path / "s.polygons.json", ns=(0, 0))
    status, plan = _run(pipeline, recorder, "rf.trees=5,10")
    assert recorder.stages() == ["training", "rf", "apply", "evaluate", "export", "report"]
    assert plan["training"].why == "changed: s.polygons.json changed" and plan["synth"].action == "skip"
    # Touching it (same content) reruns nothing.
    os.utime(tmp_path / "s.polygons.json")
    assert _run(pipeline, recorder, "rf.trees=5,10")[0] == 0 and recorder.calls == []


def test_a_missing_output_reruns_its_stage_and_what_follows(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    _run(pipeline, recorder)
    (tmp_path / "picks.csv").unlink()
    status, plan = _run(pipeline, recorder)
    assert plan["training"].why == "picks.csv is missing"
    assert recorder.stages() == STAGES[2:]


def test_dry_run_changes_nothing(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    status, plan = _run(pipeline, recorder, dry_run=True)
    assert status == 0 and recorder.calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]
    assert [d.line() for d in plan.values()] == [f"{s}: run (not run before)" for s in STAGES]
    _run(pipeline, recorder)
    before = state_path(read_run_file(pipeline, schema())).read_bytes()
    status, plan = _run(pipeline, recorder, "synth.seed=3", dry_run=True)
    assert recorder.calls == [] and state_path(read_run_file(pipeline, schema())).read_bytes() == before
    assert plan["synth"].why == "changed: seed 0 -> 3" and plan["report"].action == "run"


def test_only_and_from(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    _run(pipeline, recorder)
    status, plan = _run(pipeline, recorder, only=["rf", "export"])
    assert recorder.stages() == ["rf", "export"] and plan["apply"].why == "not in --only"
    assert plan["rf"].why == "done and unchanged; --only"
    status, plan = _run(pipeline, recorder, start="apply")
    assert recorder.stages() == ["apply", "evaluate", "export", "report"]
    assert plan["rf"].why == "before --from apply" and plan["apply"].why == "done and unchanged; --from apply"
    # --only a changed stage leaves what follows for the next run, which knows it is out of date.
    _run(pipeline, recorder, "rf.seed=1", only=["rf"])
    status, plan = _run(pipeline, recorder, "rf.seed=1", dry_run=True)
    assert plan["rf"].action == "skip" and plan["apply"].why == "changed: upstream rf changed"


def test_an_interrupted_stage_resumes(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    recorder.outcomes["facies filter kuwahara"] = INTERRUPTED
    status, _ = _run(pipeline, recorder)
    assert status == INTERRUPTED and recorder.stages() == ["synth", "filter"]
    state = State.load(state_path(read_run_file(pipeline, schema())))
    assert state.stages["filter"].status == "started" and state.stages["filter"].outputs  # its partial output
    status, plan = _run(pipeline, recorder)
    assert plan["filter"].line() == ("filter: resume (interrupted in facies filter kuwahara: continues it with "
                                     "--resume)")
    # --overwrite too, since the stage made its (partial) outputs: a resume that cannot continue starts afresh.
    assert recorder.calls[0] == ("filter", "facies filter kuwahara", True, True)
    assert status == 0 and recorder.stages() == STAGES[1:]


def test_an_interrupted_stage_of_two_commands_resumes_after_the_first(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    recorder.outcomes["facies training export"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, recorder)
    status, plan = _run(pipeline, recorder)
    assert plan["training"].why == ("interrupted in facies training export: 1 of 2 commands done; runs it again")
    # training export has no --resume: it runs again, replacing what it may have begun (its own).
    assert recorder.calls[0] == ("training", "facies training export", False, True)
    assert status == 0


def test_an_interrupted_stage_that_changed_runs_from_the_start(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    recorder.outcomes["facies rf train"] = INTERRUPTED
    _run(pipeline, recorder)
    status, plan = _run(pipeline, recorder, "rf.trees=7")
    assert plan["rf"].why == 'interrupted, and changed since: trees "5" -> "7"'
    assert recorder.calls[0] == ("rf", "facies rf train", False, True)


def test_a_refusal_is_one_line_naming_the_stage_and_what_to_do(pipeline, tmp_path):
    (tmp_path / "report.html").write_text("the user's page")
    recorder = Recorder(tmp_path)
    recorder.outcomes["facies report"] = FaciesError("report.html exists; pass --overwrite to replace it")
    with pytest.raises(FaciesError, match=r"^stage report \(facies report\): report.html exists; pass --overwrite to "
                                          r"replace it \(facies run passes --overwrite only for what this run file "
                                          r"made: remove it, or set overwrite = true in \[report\]\)$"):
        _run(pipeline, recorder)
    state = State.load(state_path(read_run_file(pipeline, schema())))
    assert state.stages["report"].status == "failed" and state.stages["report"].outputs == {}
    # The next run still does not pass --overwrite: the page is not the run file's.
    status, plan = _run(pipeline, recorder)
    assert plan["report"].why == "failed last time" and recorder.calls == [("report", "facies report", False, False)]
    # overwrite = true in the table passes it.
    status, plan = _run(pipeline, recorder, "report.overwrite=true", "report.inline=3")
    assert recorder.calls == [("report", "facies report", False, True)]


def test_an_output_replaced_by_another_command_is_not_overwritten(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    _run(pipeline, recorder)
    rf_member = next(k for k in State.load(state_path(read_run_file(pipeline, schema()))).stages["rf"].outputs
                     if k.startswith("store:"))
    member = tmp_path / "s.zarr" / rf_member.split(":", 1)[1] / "zarr.json"
    member.write_text('{"node_type": "array", "remade": true}')
    status, plan = _run(pipeline, recorder, dry_run=True)
    assert plan["rf"].action == "skip"  # left alone: a replaced output is not a reason to run
    with pytest.raises(FaciesError, match=rf"^stage rf: {rf_member.split(':', 1)[1]} was replaced since this run "
                                          r"file made it .*set overwrite = true in \[rf\]"):
        _run(pipeline, recorder, "rf.trees=9")
    assert recorder.calls == []


def test_a_renamed_output_is_not_overwritten_until_the_stage_made_it(pipeline, tmp_path):
    recorder = Recorder(tmp_path)
    _run(pipeline, recorder)
    _run(pipeline, recorder, "rf.name=rf2", "apply.rf=rf2", "evaluate.rf.model=rf2")
    assert recorder.calls[0] == ("rf", "facies rf train", False, False)
    _run(pipeline, recorder, "rf.name=rf2", "apply.rf=rf2", "evaluate.rf.model=rf2", "rf.trees=3")
    assert recorder.calls[0] == ("rf", "facies rf train", False, True)


def test_the_outputs_another_stage_replaced_stay_the_run_files(pipeline, tmp_path):
    """A stage that rewrites an earlier stage's output (the same --out) updates that stage's record."""
    path = tmp_path / "p.toml"
    path.write_text(PIPELINE.replace('out = "report.html"', 'out = "rf_report/table.csv"'))
    recorder = Recorder(tmp_path)
    _run(path, recorder)
    status, plan = _run(path, recorder, "rf.trees=2")
    assert status == 0
    state = State.load(state_path(read_run_file(path, schema())))
    assert state.stages["rf"].outputs["file:rf_report/table.csv"] == \
        state.stages["report"].outputs["file:rf_report/table.csv"]


def test_a_damaged_state_file_is_one_line(pipeline, tmp_path):
    (tmp_path / "p.state.json").write_text("{not json")
    with pytest.raises(FaciesError, match=r"^the state file .*p.state.json cannot be read .*move it away"):
        _run(pipeline, Recorder(tmp_path))
    (tmp_path / "p.state.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(FaciesError, match="its format is not facies-run-state/1"):
        _run(pipeline, Recorder(tmp_path))
