"""Forest prediction on the GPU orders nvForest's stream against the brick lane's stream.

The brick scheduler computes each brick on a non-blocking CuPy stream; nvForest launches on
pylibraft's default handle stream (the per-thread default stream), which does not wait for it, and
converts its input on the current stream. Without a GPU, a stand-in CuPy and nvForest record the
order of the calls: the rows are converted to float64 on the lane's stream, that stream is
synchronised before nvForest reads them, and nvForest's stream is synchronised before its
probabilities are used (and once after the model's upload). The real check, marked ``gpu``,
predicts a survey through the brick engine on the GPU and compares it with the CPU.
"""

from __future__ import annotations

import tracemalloc
import types

import numpy as np
import pytest

from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.operator import Chain
from facies.engine.forest import ForestOperator, ForestPredictor, predict_survey, save_model, train_forest
from facies.engine.forest import predict as predict_module
from tests.helpers import tiny_store, training_table

pytest.importorskip("treelite")
ATTRS = ("a", "b", "c")


def trained_forest(attributes=ATTRS):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, len(attributes))).astype(np.float32)
    codes = np.where(x[:, 0] > 0.3, 1, np.where(x[:, 1] > 0, 2, 3))
    table = training_table(codes, dict(zip(attributes, x.T)), ["sand", "shale", "salt"])
    return train_forest(table, attributes, name="m", trees=(4,), max_depth=5, seed=1, n_jobs=1)


class Recorder:
    """A stand-in for CuPy and nvForest that records what runs, in order."""

    def __init__(self):
        self.calls: list[str] = []
        record = self.calls.append
        stream = types.SimpleNamespace(synchronize=lambda: record("lane stream synchronised"))
        ptds = types.SimpleNamespace(synchronize=lambda: record("nvForest stream synchronised"))
        self.cupy = types.SimpleNamespace(
            float64=np.float64,
            ascontiguousarray=lambda x, dtype=None: record(f"rows to {np.dtype(dtype)}") or np.ascontiguousarray(
                x, dtype=dtype),
            cuda=types.SimpleNamespace(get_current_stream=lambda: stream, Stream=types.SimpleNamespace(ptds=ptds),
                                       runtime=types.SimpleNamespace(
                                           deviceSynchronize=lambda: record("device synchronised"))))

        class Forest:
            def predict_proba(inner, rows):
                record(f"nvForest predicts {rows.dtype}")
                return np.full((rows.shape[0], 3), 1 / 3)

        self.nvforest = types.SimpleNamespace(
            load_from_treelite_model=lambda model, device: record(f"model loaded on {device}") or Forest())


def test_gpu_prediction_waits_for_the_lane_and_for_nvforest(monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(predict_module, "_nvforest", lambda: fake.nvforest)
    monkeypatch.setattr(predict_module, "_cupy", lambda: fake.cupy)
    predictor = ForestPredictor(trained_forest().model, "gpu")
    assert fake.calls == ["model loaded on gpu", "device synchronised"]
    fake.calls.clear()
    proba = predictor.predict_proba(np.zeros((5, 3), np.float32))
    assert proba.shape == (5, 3)
    assert fake.calls == ["rows to float64", "lane stream synchronised", "nvForest predicts float64",
                          "nvForest stream synchronised"]


def test_cpu_prediction_touches_no_stream(monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(predict_module, "_nvforest", lambda: fake.nvforest)
    monkeypatch.setattr(predict_module, "_cupy", lambda: pytest.fail("CuPy used on the CPU path"))
    ForestPredictor(trained_forest().model, "cpu", engine="nvforest").predict_proba(np.zeros((2, 3), np.float32))
    assert fake.calls == ["model loaded on cpu", "nvForest predicts float32"]


@pytest.mark.gpu
def test_survey_predicted_on_the_gpu_equals_the_cpu(tmp_path):
    pytest.importorskip("nvforest")
    model = trained_forest().model
    results = {}
    for device in ("cpu", "gpu"):
        survey = tiny_store(tmp_path / f"{device}.zarr", shape=(9, 7, 64), chunks=(3, 3, 16), names=ATTRS)
        save_model(survey, model)
        # Small bricks and several lanes: the race this guards against needs concurrent lanes.
        result = predict_survey(survey, "m", options=RunOptions(device=device, brick=(3, 3, 16), progress=False))
        results[device] = {name: survey.read(name) for name in [result.classes, *result.probabilities]}
    for name, cpu in results["cpu"].items():
        np.testing.assert_array_equal(results["gpu"][name], cpu, err_msg=name)


@pytest.mark.parametrize("attributes", [ATTRS, tuple("abcdefghi")])
def test_brick_sizing_counts_the_memory_prediction_uses(attributes):
    """The operator's declared working set (inputs, outputs, scratch) covers what a brick's prediction allocates."""
    operator = ForestOperator(trained_forest(attributes).model, engine="treelite")
    shape = (16, 16, 400)
    rng = np.random.default_rng(1)
    inputs = {a: rng.standard_normal(shape).astype(np.float32) for a in attributes}
    inputs["trace_mask"] = np.ones(shape[:2], bool)
    operator.compute(inputs, np)  # the predictor is built once, outside the measurement
    tracemalloc.start()
    try:
        operator.compute(inputs, np)
        peak = tracemalloc.get_traced_memory()[1] / np.prod(shape)
    finally:
        tracemalloc.stop()
    declared = Chain([operator], shape).bytes_per_voxel({a: 4 for a in attributes}) - 4 * len(attributes)
    assert peak <= declared <= 3 * peak, (peak, declared)
