"""The same operators on Dask (one in-process LocalCluster per session) give the local scheduler's result."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.bricks.operator import Chain, Output
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.operators import LocalMean, LocalVariance
from facies.engine.store import Survey
from tests.dask_fixtures import dask_local_cluster  # noqa: F401 - the session fixture
from tests.test_bricks_helpers import make_survey

pytest.importorskip("distributed")


class MeanAndClass(LocalMean):
    """LocalMean with a second, uint8 output (1 above 0.95, 2 below, 0 where NaN); counts its calls."""

    calls = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outputs = (*self.outputs, Output("c", "uint8"))

    def compute(self, inputs, xp):
        type(self).calls += 1
        mean = super().compute(inputs, xp)[self.outputs[0].name]
        codes = xp.where(xp.isnan(mean), 0, xp.where(mean > 0.95, 1, 2)).astype(xp.uint8)
        return {self.outputs[0].name: mean, "c": codes}


def _ops():
    # Halo 9 > chunk 8 on axis 0 (Dask must rechunk), a chained variance, the three boundary rules,
    # and an operator with two outputs of different dtypes.
    return [LocalMean("amp", "m", radius=(9, 1, 2)), LocalVariance("m", "v", radius=1, boundary="reflect"),
            MeanAndClass("amp", "n", radius=(1, 2, 1), boundary="nearest")]


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")  # tiny arrays: one chunk per axis
def test_dask_equals_local_scheduler(tmp_path, dask_local_cluster):  # noqa: F811 - the fixture
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    outputs = {"m": "mean", "v": "var_of_mean", "n": "mean_n", "c": "classes"}
    run_bricks(survey, _ops(), {k: f"local_{v}" for k, v in outputs.items()},
               RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    result = run_dask(survey, _ops(), outputs, RunOptions(dask=dask_local_cluster))
    survey = Survey.open(survey.path)
    for name in outputs.values():
        assert survey.is_complete(name)
        assert survey.read(name).dtype == survey.read(f"local_{name}").dtype, name
        assert np.array_equal(survey.read(name), survey.read(f"local_{name}"), equal_nan=True), name
    assert {1, 2} <= set(np.unique(survey.read("classes")).tolist())  # the uint8 output holds real codes
    assert result.device == "dask"
    with pytest.raises(FaciesError, match="already exists"):
        run_dask(survey, _ops(), outputs, RunOptions(dask=dask_local_cluster))


def test_an_operator_with_several_outputs_computes_each_block_once(tmp_path):
    import dask
    import dask.array as da

    from facies.engine.bricks.dask_runner import dask_chain

    survey, volume = make_survey(tmp_path / "s.zarr")
    op = MeanAndClass("amp", "n", radius=1)
    chain = Chain([op], survey.shape)
    results = dask_chain(chain, {"amp": da.from_zarr(survey.array("amp"))})
    MeanAndClass.calls = 0
    with dask.config.set(scheduler="synchronous"):
        mean, codes = dask.compute(results["n"], results["c"])
    blocks = results["n"].npartitions
    assert MeanAndClass.calls == blocks, f"{MeanAndClass.calls} calls for {blocks} blocks"
    whole = chain.run_whole({"amp": volume})
    assert codes.dtype == np.uint8 and np.array_equal(codes, whole["c"])
    assert mean.dtype == np.float32 and np.array_equal(mean, whole["n"], equal_nan=True)


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="cannot reach the Dask scheduler"):
        run_dask(survey, [LocalMean("amp", "m")], {"m": "out"}, RunOptions(dask="tcp://127.0.0.1:9"),
                 connect_timeout="1s")
    assert not survey.has("out")


class ClientCupy:
    """A stand-in CuPy for the GPU path without a GPU: arrays stay NumPy; making one on the client is an error."""

    def __init__(self):
        self.moved = 0

    def asarray(self, block):
        self.moved += 1
        return np.asarray(block)

    @staticmethod
    def asnumpy(array):
        return np.asarray(array)

    @staticmethod
    def empty(*args, **kwargs):
        raise AssertionError("a CUDA array was made on the client")


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")
def test_dask_gpu_graph_is_built_without_cuda_on_the_client(tmp_path, dask_local_cluster, monkeypatch):  # noqa: F811
    """--dask-gpu: the client builds a NumPy graph; only the tasks move blocks to the GPU (a stand-in here)."""
    import sys

    from facies.engine.bricks.dask_runner import run_dask

    fake = ClientCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    survey, _ = make_survey(tmp_path / "s.zarr")
    outputs = {"m": "mean", "v": "var_of_mean", "n": "mean_n", "c": "classes"}
    run_bricks(survey, _ops(), {k: f"local_{v}" for k, v in outputs.items()},
               RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    result = run_dask(survey, _ops(), outputs, RunOptions(dask=dask_local_cluster, dask_gpu=True))
    assert result.device == "dask-gpu" and fake.moved > 0
    survey = Survey.open(survey.path)
    for name in outputs.values():
        assert np.array_equal(survey.read(name), survey.read(f"local_{name}"), equal_nan=True), name


def test_local_gpu_cluster_is_one_worker_per_gpu_when_dask_cuda_is_there(monkeypatch, caplog):
    import sys
    import types

    from facies.engine.bricks.dask_runner import local_cluster

    made = []
    monkeypatch.setitem(sys.modules, "dask_cuda", types.SimpleNamespace(
        LocalCUDACluster=lambda **kw: made.append(("cuda", kw)) or "cuda cluster"))
    plain = lambda **kw: made.append(("plain", kw)) or "plain cluster"  # noqa: E731
    gpu = RunOptions(dask="local", dask_gpu=True, dask_options={"threads_per_worker": 2})
    assert local_cluster(gpu, plain) == "cuda cluster"
    assert local_cluster(RunOptions(dask="local"), plain) == "plain cluster"
    assert made == [("cuda", {"threads_per_worker": 2}), ("plain", {})]
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # not installed: import fails
    with caplog.at_level("WARNING", logger="facies"):
        assert local_cluster(gpu, plain) == "plain cluster"
    assert "pip install dask-cuda" in caplog.text and "GPU 0" in caplog.text

    def no_gpu(**kwargs):
        raise RuntimeError("NVML: driver not loaded")

    monkeypatch.setitem(sys.modules, "dask_cuda", types.SimpleNamespace(LocalCUDACluster=no_gpu))
    with pytest.raises(FaciesError, match=r"could not start dask-cuda's LocalCUDACluster \(NVML: driver not loaded\)"):
        local_cluster(gpu, plain)


@pytest.mark.gpu
@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")
def test_dask_gpu_equals_the_local_cpu_run(tmp_path, dask_local_cluster):  # noqa: F811
    from facies.engine.bricks.dask_runner import run_dask

    survey, _ = make_survey(tmp_path / "s.zarr")
    outputs = {"m": "mean", "v": "var_of_mean", "n": "mean_n", "c": "classes"}
    run_bricks(survey, _ops(), {k: f"local_{v}" for k, v in outputs.items()},
               RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    run_dask(survey, _ops(), outputs, RunOptions(dask=dask_local_cluster, dask_gpu=True))
    survey = Survey.open(survey.path)
    for name in outputs.values():  # float64 local means: the GPU's sums may differ in the last bits
        np.testing.assert_allclose(survey.read(name), survey.read(f"local_{name}"), rtol=1e-6, equal_nan=True)
