"""facies bench: a quick run's report, the projection's arithmetic, --compare, and its one-line errors."""

from __future__ import annotations

import json
import tempfile

import pytest
from typer.testing import CliRunner

from facies.cli.app import USER_ERROR, app
from facies.engine.benchmark import project_workflow
from facies.engine.errors import FaciesError

runner = CliRunner()
STAGES = {"store", "kuwahara", "gtm", "forest", "selection"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """One quick CPU run for the whole module (a few seconds): its --json output and its --out file."""
    out = tmp_path_factory.mktemp("bench") / "a.json"
    result = runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--json", "--out", str(out),
                                 "--survey", "100,200,300", "--attributes", "4"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_quick_run_reports_every_stage_and_a_projection(quick_report):
    printed, out = quick_report
    written = json.loads(out.read_text())
    assert written["stages"] == printed["stages"]
    assert written["facies_bench"] == 1 and written["interrupted"] is None
    assert {s["name"] for s in written["stages"]} == STAGES
    for stage in written["stages"]:
        assert stage["device"] == "cpu" and stage["rate"] > 0 and stage["bound"] in ("storage", "compute")
        assert stage["timing"]["clock"] == "wall" and len(stage["timing"]["seconds"]) == 1  # --quick: one repeat
        if stage["name"] != "selection":
            assert stage["baseline_rate"] > 0 and stage["ratio"] == pytest.approx(
                stage["rate"] / stage["baseline_rate"])
    projection = written["projection"]
    assert projection["survey"] == [100, 200, 300] and projection["attributes"] == 4
    assert set(projection["stages"]) == STAGES and projection["wall"] in STAGES
    assert projection["total_seconds"] == pytest.approx(sum(s["seconds"] for s in projection["stages"].values()))
    machine = written["machine"]
    assert machine["cpus"] >= 1 and machine["cpu_model"] and machine["memory_bytes"] > 0
    assert written["load_average_before"] is not None and written["backend"]["tier"] == "none"


def test_projection_arithmetic_by_hand():
    rates = {"store": 1e6, "kuwahara": 2e6, "gtm": 5e5, "forest": 1e7, "selection": 100.0}
    p = project_workflow(rates, (10, 20, 50), 3, fits_per_combination=54)
    voxels = 10 * 20 * 50  # 10 000
    assert p["voxels"] == voxels
    assert p["stages"]["store"]["seconds"] == pytest.approx(3 * voxels / 1e6)  # 0.03 s: once per attribute
    assert p["stages"]["kuwahara"]["seconds"] == pytest.approx(3 * voxels / 2e6)  # 0.015 s
    assert p["stages"]["gtm"]["seconds"] == pytest.approx(voxels / 5e5)  # 0.02 s: all attributes in one pass
    assert p["stages"]["forest"]["seconds"] == pytest.approx(voxels / 1e7)  # 0.001 s
    assert p["stages"]["selection"]["seconds"] == pytest.approx((2 ** 3 - 1) * 54 / 100)  # 3.78 s
    assert p["total_seconds"] == pytest.approx(0.03 + 0.015 + 0.02 + 0.001 + 3.78)
    assert p["wall"] == "selection"
    without = project_workflow({"gtm": 5e5}, (10, 20, 50), 3)
    assert without["wall"] == "gtm" and set(without["stages"]) == {"gtm"}
    with pytest.raises(FaciesError):
        project_workflow({"gtm": 0.0}, (10, 20, 50), 3)


def test_compare_prints_ratios(quick_report, tmp_path):
    _, out = quick_report
    report = json.loads(out.read_text())
    for stage in report["stages"]:
        stage["rate"] *= 2
    faster = tmp_path / "b.json"
    faster.write_text(json.dumps(report))
    result = runner.invoke(app, ["bench", "--compare", str(out), str(faster), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["stages"]
    assert {r["name"] for r in rows} == STAGES and all(r["ratio"] == pytest.approx(2.0) for r in rows)
    table = runner.invoke(app, ["bench", "--compare", str(out), str(faster)])
    assert table.exit_code == 0 and table.stdout.count("x2.00") == len(STAGES)


def _one_line_error(result, *words):
    assert result.exit_code == USER_ERROR, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("survey", ["2900,2930", "a,b,c", "0,10,10", "1,2,3,4"])
def test_bad_survey_is_one_line(survey):
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--survey", survey]), "--survey")


def test_bad_attributes_is_one_line():
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--attributes", "0"]), "--attributes")


def test_compare_refuses_files_that_are_not_reports(quick_report, tmp_path):
    _, good = quick_report
    not_json = tmp_path / "notes.json"
    not_json.write_text("hello")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"machine": {}, "rows": []}))
    missing = tmp_path / "missing.json"
    for bad in (not_json, other, missing, tmp_path):
        _one_line_error(runner.invoke(app, ["bench", "--compare", str(good), str(bad)]), str(bad))


def test_existing_out_is_refused_without_overwrite_and_never_someone_elses(quick_report, tmp_path):
    _, good = quick_report
    theirs = tmp_path / "theirs.json"
    theirs.write_text("precious")
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--out", str(theirs)]),
                    "--overwrite")
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--out", str(theirs),
                                        "--overwrite"]), "not a facies bench report")
    assert theirs.read_text() == "precious"
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--out", str(good)]), "--overwrite")
    _one_line_error(runner.invoke(app, ["bench", "--quick", "--device", "cpu",
                                        "--out", str(tmp_path / "no" / "r.json")]), "does not exist")


def test_ctrl_c_reports_what_was_measured_and_exits_130(monkeypatch, tmp_path):
    from facies.engine.benchmark import stages

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "measure_gtm", interrupted)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the synthetic store goes
    out = tmp_path / "partial.json"
    result = runner.invoke(app, ["bench", "--quick", "--device", "cpu", "--json", "--out", str(out)])
    assert result.exit_code == 130, result.output
    report = json.loads(out.read_text())
    assert report["interrupted"] == "gtm" and [s["name"] for s in report["stages"]] == ["store", "kuwahara"]
    assert set(report["projection"]["stages"]) == {"store", "kuwahara"}
    assert list(scratch.iterdir()) == []  # the temporary store is gone
