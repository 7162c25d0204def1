"""``facies run`` with the real commands on the tiny synthetic survey: a full run, a rerun that runs nothing, a
changed key that reruns exactly the stages after it, a dry run that changes nothing, a stage interrupted
by Ctrl-C that resumes to the uninterrupted result, and an output the run file did not make, refused.

One full run is shared by the module (small settings: about ten seconds of CPU on two cores).
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine import Survey
from facies.engine.operators import KuwaharaOperator
from tests.helpers import one_line_error

pytestmark = pytest.mark.usefixtures("cpu_only")
runner = CliRunner()

PIPELINE = """\
store = "s.zarr"

[synth]
size = "tiny"

[filter]
input = ["envelope", "similarity", "reflection_strength"]
radius = "1"

[training]
polygons = "s.polygons.json"
attributes = "envelope_kuw,similarity_kuw,reflection_strength_kuw"

[select]
training = "picks"
dims = "2"
sem_iter = 5
workers = 1
out = "selection"

[gtm]
selection = "selection"
grid = 4
basis = 3
iterations = 5
sample = 2000

[rf]
name = "rf"
attributes = "envelope_kuw,similarity_kuw,reflection_strength_kuw"
trees = "3"
max_depth = 4
out = "rf_report"

[apply]
gtm = "gtm"
rf = "rf"

[evaluate.rf]
model = "rf"

[[export]]
array = "facies_rf"
out = "facies_rf.sgy"

[report]
out = "report.html"
"""
STAGES = ["synth", "filter", "training", "select", "gtm", "rf", "apply", "evaluate", "export", "report"]
_LINE = re.compile(r"^(?:== )?(\w+): (run|resume|skip) \((.*)\)$", re.M)


def plan(output: str) -> dict[str, tuple[str, str]]:
    """The stage lines of facies run's output: stage -> (action, why)."""
    return {stage: (action, why) for stage, action, why in _LINE.findall(output)}


def facies_run(*args):
    return runner.invoke(app, ["run", *map(str, args)])


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A folder where the whole pipeline ran once: (folder, run file, output of the run)."""
    folder = tmp_path_factory.mktemp("pipeline")
    path = folder / "p.toml"
    path.write_text(PIPELINE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACIES_DEVICE", "cpu")
        result = facies_run(path)
    assert result.exit_code == 0, result.output
    return folder, path, result.output


def test_a_full_run_runs_every_stage_and_makes_their_outputs(done):
    folder, _, output = done
    assert plan(output) == {stage: ("run", "not run before") for stage in STAGES}
    assert re.search(r"^\$ facies rf train \S*s.zarr --name=rf --attributes=", output, re.M)  # then its output
    survey = Survey.open(folder / "s.zarr")
    for name in ("envelope_kuw", "facies_rf", "facies_gtm", "confidence_rf"):
        assert survey.is_complete(name), name
    for name in ("facies_rf.sgy", "report.html", "selection/summary.json", "p.state.json"):
        assert (folder / name).is_file(), name


def test_a_rerun_runs_nothing(done):
    folder, path, _ = done
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and p.name != "p.state.json"}
    result = facies_run(path)
    assert result.exit_code == 0, result.output
    assert plan(result.output) == {stage: ("skip", "done, unchanged") for stage in STAGES}
    assert "$ facies" not in result.output
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_dry_run_prints_the_plan_and_changes_nothing(done):
    folder, path, _ = done
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    result = facies_run(path, "--dry-run", "--set", "gtm.grid=5")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[4:7] == ["gtm: run (changed: grid 4 -> 5)", "rf: skip (done, unchanged)",
                                               "apply: run (upstream gtm runs)"]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before


def test_an_output_the_run_file_did_not_make_is_refused(done):
    folder, _, _ = done
    other = folder / "other.toml"  # another run file: its state knows nothing of facies_rf.sgy
    other.write_text('store = "s.zarr"\n\n[[export]]\narray = "facies_rf"\nout = "facies_rf.sgy"\n')
    before = (folder / "facies_rf.sgy").stat().st_mtime_ns
    one_line_error(facies_run(other), "stage export (facies export): ", "facies_rf.sgy already exists",
                   "set overwrite = true in [[export]] #1")
    assert (folder / "facies_rf.sgy").stat().st_mtime_ns == before


def test_a_changed_key_reruns_exactly_the_stages_after_it(done):
    folder, path, _ = done
    model = (folder / "s.zarr" / "models" / "rf" / "zarr.json").stat().st_mtime_ns
    result = facies_run(path, "--set", "rf.trees=2,3")
    assert result.exit_code == 0, result.output
    ran = [stage for stage, (action, _) in plan(result.output).items() if action == "run"]
    assert ran == ["rf", "apply", "evaluate", "export", "report"]
    assert plan(result.output)["rf"] == ("run", 'changed: trees "3" -> "2,3"')
    assert "--overwrite" in re.search(r"^\$ facies rf train .*$", result.output, re.M).group(0)
    assert (folder / "s.zarr" / "models" / "rf" / "zarr.json").stat().st_mtime_ns != model
    again = facies_run(path, "--set", "rf.trees=2,3")
    assert {action for action, _ in plan(again.output).values()} == {"skip"}


def test_an_interrupted_stage_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    path = tmp_path / "p.toml"
    path.write_text('store = "s.zarr"\n\n[synth]\nsize = "tiny"\nchunks = "8,8,64"\n\n[filter]\n'
                    'input = ["envelope", "similarity"]\nradius = "1"\nbrick = "8,8"\n')
    compute, calls = KuwaharaOperator.compute, []

    def interrupt_on_the_fifth_brick(self, inputs, xp):
        calls.append(1)
        if len(calls) == 2 * 5:  # two operators per brick
            raise KeyboardInterrupt  # as Ctrl-C would
        return compute(self, inputs, xp)

    monkeypatch.setattr(KuwaharaOperator, "compute", interrupt_on_the_fifth_brick)
    result = facies_run(path)
    assert result.exit_code == 130, result.output
    assert f"facies run: interrupted; run facies run {path} again to resume" in result.stderr
    monkeypatch.setattr(KuwaharaOperator, "compute", compute)
    assert not Survey.open(tmp_path / "s.zarr").is_complete("envelope_kuw")
    state = json.loads((tmp_path / "p.state.json").read_text())["stages"]
    assert state["synth"]["status"] == "done" and state["filter"]["status"] == "started"
    result = facies_run(path)
    assert result.exit_code == 0, result.output
    assert plan(result.output) == {"synth": ("skip", "done, unchanged"), "filter": (
        "resume", "interrupted in facies filter kuwahara: continues it with --resume")}
    assert re.search(r"^\$ facies filter kuwahara \S*s.zarr .*--resume", result.output, re.M)
    resumed = re.search(r"\((\d+) of 30 bricks resumed\)", result.output)
    assert resumed and 0 < int(resumed.group(1)) < 30, result.output
    # The same filter, uninterrupted, into other arrays: equal bit for bit.
    reference = runner.invoke(app, ["filter", "kuwahara", str(tmp_path / "s.zarr"), "-i", "envelope", "-i",
                                    "similarity", "--radius", "1", "--suffix", "_ref"])
    assert reference.exit_code == 0, reference.output
    survey = Survey.open(tmp_path / "s.zarr")
    for name in ("envelope", "similarity"):
        np.testing.assert_array_equal(survey.read(f"{name}_kuw"), survey.read(f"{name}_ref"))
    assert {action for action, _ in plan(facies_run(path).output).values()} == {"skip"}
    shutil.rmtree(tmp_path / "s.zarr")
