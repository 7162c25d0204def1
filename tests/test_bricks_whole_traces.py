"""Operators that need whole traces (``Operator.whole_traces``) give the whole-volume result on any brick.

The test operator subtracts each trace's mean (over all its samples) and then takes a cumulative
sum along time: every output voxel depends on the whole trace, so a brick that saw only part of
a trace would differ. A stencil operator downstream of it checks that chained halos still plan.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.dask_fixtures import dask_local_cluster  # noqa: F401 - the session fixture
from tests.test_bricks_exact import _bricked
from tests.test_bricks_helpers import make_survey

from facies.engine.bricks.operator import Chain, Operator, Output
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.operators import LocalMean
from facies.engine.store import Survey


class TraceAnomaly(Operator):
    """Cumulative sum along time of (x - mean of its trace), NaN treated as 0; lateral halo ``lateral``."""

    whole_traces = True
    boundary = "nan"

    def __init__(self, source: str, output: str, lateral: int = 0):
        self.inputs, self.outputs = (source,), (Output(output, "float32"),)
        self.halo = (lateral, lateral, 0)

    def compute(self, inputs, xp):
        x = xp.nan_to_num(inputs[self.inputs[0]].astype(xp.float64))
        x = x - x.mean(axis=2, keepdims=True)
        h = self.halo[0]
        if h:  # a lateral 3 x 3 mean of the anomalies, so the lateral halo matters too
            n0, n1 = x.shape[0] - 2 * h, x.shape[1] - 2 * h
            x = sum(x[i:i + n0, j:j + n1] for i in range(2 * h + 1) for j in range(2 * h + 1)) / (2 * h + 1) ** 2
        return {self.outputs[0].name: xp.cumsum(x, axis=2).astype(xp.float32)}


def _volume(shape, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = np.nan
    return x


def _reference(volume, lateral):
    x = np.nan_to_num(volume.astype(np.float64))
    x = x - x.mean(axis=2, keepdims=True)
    if lateral:
        p = np.pad(x, ((lateral, lateral), (lateral, lateral), (0, 0)))  # outside the survey: NaN -> 0
        n0, n1 = x.shape[:2]
        x = sum(p[i:i + n0, j:j + n1] for i in range(2 * lateral + 1)
                for j in range(2 * lateral + 1)) / (2 * lateral + 1) ** 2
    return np.cumsum(x, axis=2).astype(np.float32)


@pytest.mark.parametrize("lateral", [0, 1])
@pytest.mark.parametrize("brick", [(4, 4, 8), (8, 4, 16), (4, 8, 40), (12, 12, 8)])
def test_whole_trace_operator_on_bricks_equals_whole_volume(lateral, brick):
    shape, chunks = (12, 10, 40), (4, 4, 8)
    volume = _volume(shape)
    chain = Chain([TraceAnomaly("a", "anomaly", lateral), LocalMean("anomaly", "smooth", radius=(1, 1, 3))], shape)
    wanted = ("anomaly", "smooth")
    whole = chain.run_whole({"a": volume}, wanted=wanted)
    np.testing.assert_allclose(whole["anomaly"], _reference(volume, lateral), rtol=1e-5, atol=1e-4)
    got = _bricked(chain, volume, chunks, brick, wanted)
    for name in wanted:
        assert np.array_equal(got[name], whole[name], equal_nan=True), (name, brick)


def test_whole_trace_chain_reads_the_full_sample_axis():
    chain = Chain([TraceAnomaly("a", "anomaly", 1), LocalMean("anomaly", "smooth", radius=(1, 1, 3))], (12, 10, 40))
    assert chain.total_halo() == (2, 2, 40)
    plan = chain.plan_regions(((4, 8), (4, 8), (8, 16)), ("smooth",))
    assert plan.reads["a"] == ((2, 10), (2, 10), (0, 40))


def test_whole_trace_operator_with_a_sample_halo_is_refused():
    op = TraceAnomaly("a", "anomaly")
    op.halo = (0, 0, 2)
    with pytest.raises(FaciesError, match="halo along the samples must be 0"):
        Chain([op], (4, 4, 8))


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")
def test_whole_trace_operator_on_dask_equals_local(tmp_path, dask_local_cluster):  # noqa: F811 - the fixture
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    ops = [TraceAnomaly("amp", "anomaly", 1), LocalMean("anomaly", "smooth", radius=(1, 1, 2))]
    run_bricks(survey, ops, {"smooth": "local"}, RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    run_dask(survey, ops, {"smooth": "on_dask"}, RunOptions(dask=dask_local_cluster))
    survey = Survey.open(survey.path)
    assert np.array_equal(survey.read("on_dask"), survey.read("local"), equal_nan=True)
