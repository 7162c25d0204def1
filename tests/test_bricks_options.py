"""RunOptions (checked once, for every runner), one region plan per brick, and the run timing itself."""

from __future__ import annotations

import pytest

from facies.engine.bricks.operator import Chain
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.plan import BrickPlan
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.filtering import filter_box, filter_kuwahara
from facies.engine.operators import LocalMean
from tests.test_bricks_helpers import CHUNKS, make_survey


@pytest.mark.parametrize("kwargs, message", [
    ({"dask_gpu": True}, "--dask-gpu applies to Dask runs"),
    ({"dask": "local", "resume": True}, "--resume and --brick apply to local runs"),
    ({"dask": "local", "brick": (8, 8)}, "--resume and --brick apply to local runs"),
    ({"dask": "local", "device": "cpu"}, "--device cpu applies to local runs"),
    ({"memory_fraction": 0}, r"--memory-fraction must be in \(0, 1\], not 0"),
    ({"memory_fraction": 1.5}, r"--memory-fraction must be in \(0, 1\], not 1.5"),
    # The Dask rules come first, as the commands have always reported them.
    ({"dask_gpu": True, "memory_fraction": 2}, "--dask-gpu applies to Dask runs"),
])
def test_run_options_refuse_what_a_runner_would_ignore(kwargs, message):
    with pytest.raises(FaciesError, match=message):
        RunOptions(**kwargs)


def test_run_options_keep_what_they_are_given():
    options = RunOptions(brick=[8, 8, 16])
    assert options.brick == (8, 8, 16) and options.device == "auto" and not options.dask
    assert RunOptions(dask="tcp://h:8786", dask_gpu=True, memory_fraction=1).dask_gpu
    with pytest.raises(AttributeError):
        options.resume = True  # frozen: checked once, never changed after


def test_the_local_runner_refuses_dask_options(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="run_bricks runs on this machine"):
        run_bricks(survey, [LocalMean("amp", "m")], {"m": "out"}, RunOptions(dask="local"))
    assert not survey.has("out")


def test_each_brick_is_planned_once(tmp_path, cpu_only, monkeypatch):
    survey, _ = make_survey(tmp_path / "s.zarr")
    calls = []
    plan_regions = Chain.plan_regions

    def counted(self, region, wanted):
        calls.append(region)
        return plan_regions(self, region, wanted)

    monkeypatch.setattr(Chain, "plan_regions", counted)
    brick = (8, 8, 16)
    result = filter_box(survey, "mean", "amp", 2, options=RunOptions(device="cpu", brick=brick, progress=False))
    bricks = len(BrickPlan(survey.shape, CHUNKS, brick))
    assert result.bricks_total == bricks and len(calls) == bricks  # read and compute share one plan


def test_the_run_times_itself_and_the_workflow_reads_it(tmp_path, cpu_only):
    survey, volume = make_survey(tmp_path / "s.zarr")
    mean = filter_box(survey, "mean", "amp", 1, options=RunOptions(device="cpu", progress=False))
    assert mean.outputs == {"mean": "amp_mean_r1"}  # the workflow names the output
    assert mean.seconds > 0 and mean.rate == pytest.approx(volume.size / mean.seconds)
    assert f"in {mean.seconds:.1f} s" in mean.summary
    kuwahara = filter_kuwahara(survey, ["amp"], 1, options=RunOptions(device="cpu", progress=False))
    assert f"in {kuwahara.seconds:.1f} s" in kuwahara.summary and kuwahara.voxels == volume.size
    variance = filter_box(survey, "variance", "amp", 2, options=RunOptions(device="cpu", progress=False))
    assert variance.outputs == {"variance": "amp_var_r2"}
