"""``facies filter mean|variance`` through Typer's CliRunner (registered on a local app as cli/app.py will)."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from facies.cli import filter as filter_cli
from facies.cli.app import _FaciesGroup
from facies.engine.bricks.operator import Chain
from facies.engine.operators import LocalMean, LocalVariance
from facies.engine.store import Survey
from tests.test_bricks_helpers import make_survey

app = typer.Typer(cls=_FaciesGroup)
app.add_typer(filter_cli.app, name="filter")


@app.callback()
def _root() -> None:
    """Test root."""


runner = CliRunner()


def test_mean_and_variance_commands_write_outputs_with_provenance(tmp_path, cpu_only):
    survey, volume = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "amp", "--radius", "2",
                                 "--brick", "8,8"])
    assert result.exit_code == 0, result.output
    assert "amp_mean_r2" in result.output and "bricks computed" in result.output
    result = runner.invoke(app, ["filter", "variance", str(survey.path), "-i", "amp", "-o", "v", "--boundary", "reflect",
                                 "--memory-fraction", "0.1"])
    assert result.exit_code == 0, result.output
    survey = Survey.open(survey.path)
    mean = Chain([LocalMean("amp", "x", radius=2)], volume.shape).run_whole({"amp": volume})["x"]
    var = Chain([LocalVariance("amp", "x", boundary="reflect")], volume.shape).run_whole({"amp": volume})["x"]
    assert np.array_equal(survey.read("amp_mean_r2"), mean, equal_nan=True)
    assert np.array_equal(survey.read("v"), var, equal_nan=True)
    assert survey.provenance("v")["command"] == "facies filter variance"


@pytest.mark.parametrize("args,message", [
    (["--brick", "8"], "--brick must be 2 or 3 comma-separated positive integers"),
    (["--boundary", "wrap"], "boundary must be one of"),
    (["--memory-fraction", "1.5"], "--memory-fraction must be in"),
    (["--dask", "local", "--resume"], "--resume and --brick apply to local runs"),
])
def test_bad_options_are_one_line_errors(tmp_path, cpu_only, args, message):
    survey, _ = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "amp", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_input_names_the_arrays(tmp_path, cpu_only):
    survey, _ = make_survey(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "mean", str(survey.path), "--input", "nope"])
    assert result.exit_code == 2 and "has no array 'nope'" in result.output
