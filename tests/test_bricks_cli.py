"""``facies filter mean|variance`` through Typer's CliRunner, on the real app."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.bricks.operator import Chain
from facies.engine.operators import LocalMean, LocalVariance
from facies.engine.store import Survey
from tests.test_bricks_helpers import make_survey

runner = CliRunner()


def test_mean_and_variance_commands_write_outputs_with_provenance(tmp_path, cpu_only):
    survey, volume = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "amp", "--radius", "2",
                                 "--brick", "8,8"])
    assert result.exit_code == 0, result.output
    assert "amp_mean_r2" in result.output and "bricks computed" in result.output
    result = runner.invoke(app, ["filter", "variance", str(survey.path), "-i", "amp", "-o", "v",
                                 "--boundary", "reflect", "--memory-fraction", "0.1"])
    assert result.exit_code == 0, result.output
    survey = Survey.open(survey.path)
    mean = Chain([LocalMean("amp", "x", radius=2)], volume.shape).run_whole({"amp": volume})["x"]
    var = Chain([LocalVariance("amp", "x", boundary="reflect")], volume.shape).run_whole({"amp": volume})["x"]
    assert np.array_equal(survey.read("amp_mean_r2"), mean, equal_nan=True)
    assert np.array_equal(survey.read("v"), var, equal_nan=True)
    assert survey.provenance("v")["command"] == "facies filter variance"


@pytest.mark.parametrize("args,message", [
    (["--brick", "8"], "--brick must be 2 or 3 comma-separated positive integers"),
    (["--boundary", "wrap"], "has boundary 'wrap'; use one of nan, reflect, nearest"),
    (["--memory-fraction", "1.5"], "--memory-fraction must be in"),
    (["--memory-fraction", "0", "--brick", "8,8"], "--memory-fraction must be in"),
    (["--output", "bad/name"], "array name 'bad/name' is not valid"),
    (["--output", "inline"], "'inline' is a coordinate name of the store"),
    (["--dask", "local", "--resume"], "--resume and --brick apply to local runs"),
    (["--dask", "local", "--device", "cpu"], "--device cpu applies to local runs"),
    (["--dask-gpu"], "--dask-gpu applies to Dask runs"),
])
def test_bad_options_are_one_line_errors(tmp_path, cpu_only, args, message):
    survey, _ = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "amp", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not Survey.open(survey.path).has("amp_mean_r1")


def test_missing_input_names_the_arrays(tmp_path, cpu_only):
    survey, _ = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "nope"])
    assert result.exit_code == 2 and "has no array 'nope'" in result.output


def test_resume_of_a_finished_output_made_with_another_radius_is_refused(tmp_path, cpu_only):
    survey, _ = make_survey(tmp_path / "s.zarr")
    assert runner.invoke(app, ["filter", "mean", str(survey.path), "-i", "amp"]).exit_code == 0
    args = ["filter", "mean", str(survey.path), "-i", "amp", "-o", "amp_mean_r1", "--resume"]
    result = runner.invoke(app, [*args, "--radius", "3"])
    assert result.exit_code == 2, result.output
    assert "cannot resume 'amp_mean_r1': it was made with other parameters" in result.output
    assert "--overwrite" in result.output
    result = runner.invoke(app, [*args, "--radius", "1"])
    assert result.exit_code == 0 and "already complete" in result.output


def test_ctrl_c_exits_130_with_the_resume_hint(tmp_path, cpu_only, monkeypatch):
    from facies.engine import filtering
    from facies.engine.bricks.result import RunInterrupted

    def interrupted(*args, **kwargs):
        raise RunInterrupted("interrupted: 2 of 9 bricks are written and recorded; run the same command "
                             "again with --resume to continue")

    monkeypatch.setattr(filtering, "run_operators", interrupted)  # the runner stops, as on Ctrl-C
    survey, _ = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "-i", "amp"])
    assert result.exit_code == 130, result.output
    assert "again with --resume" in result.output and "error:" not in result.output
