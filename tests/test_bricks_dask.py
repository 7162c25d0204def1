"""The same operators on Dask (LocalCluster, one in-process worker) give the local scheduler's result."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.operators import LocalMean, LocalVariance
from facies.engine.store import Survey
from tests.test_bricks_helpers import make_survey

pytest.importorskip("distributed")

LIGHT = {"processes": False, "n_workers": 1, "threads_per_worker": 2, "dashboard_address": None}


def _ops():
    # Halo 9 > chunk 8 on axis 0 (Dask must rechunk), a chained variance, and two boundary rules.
    return [LocalMean("amp", "m", radius=(9, 1, 2)), LocalVariance("m", "v", radius=1, boundary="reflect"),
            LocalVariance("amp", "w", radius=(1, 2, 1), boundary="nearest")]


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")  # tiny arrays: one chunk per axis
def test_dask_equals_local_scheduler(tmp_path):
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    outputs = {"m": "mean", "v": "var_of_mean", "w": "var"}
    run_bricks(survey, _ops(), {k: f"local_{v}" for k, v in outputs.items()}, device="cpu", brick=(8, 8, 16),
               progress=False)
    result = run_dask(survey, _ops(), outputs, scheduler="local", cluster_options=LIGHT)
    survey = Survey.open(survey.path)
    for name in outputs.values():
        assert survey.is_complete(name)
        assert np.array_equal(survey.read(name), survey.read(f"local_{name}"), equal_nan=True), name
    assert result.device == "dask"
    with pytest.raises(FaciesError, match="already exists"):
        run_dask(survey, _ops(), outputs, scheduler="local", cluster_options=LIGHT)


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="cannot reach the Dask scheduler"):
        run_dask(survey, [LocalMean("amp", "m")], {"m": "out"}, scheduler="tcp://127.0.0.1:9",
                 connect_timeout="1s")
    assert not survey.has("out")
