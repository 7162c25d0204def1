"""Chunked == whole volume, bit for bit, for the stencil operators over many brick shapes.

The reference is the same chain run once on the whole in-memory volume (``Chain.run_whole``);
the operators themselves are checked against independent NumPy/SciPy computations.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.lib.stride_tricks import sliding_window_view
from tests.test_bricks_helpers import make_survey

from facies.engine.bricks.operator import Chain
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.operators import LocalMean, LocalVariance

BOUNDARIES = ["nan", "reflect", "nearest"]


def _volume(shape, seed=3):
    rng = np.random.default_rng(seed)
    x = (0.95 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
    x[rng.random(shape) < 0.1] = np.nan
    return x


def _bricked(chain, volume, chunks, brick, wanted):
    """The chain computed brick by brick from slices of ``volume`` (what the scheduler does, minus I/O)."""
    out = {name: np.full(volume.shape, -7.0, np.float32) for name in wanted}
    for b in BrickPlan(volume.shape, chunks, brick):
        regions, _ = chain.plan_regions(b.region, wanted)
        sources = {name: (volume[region_slices(r)], r) for name, r in regions.items()}
        result = chain.run(b.region, sources, np, wanted)
        for name in wanted:
            out[name][region_slices(b.region)] = result[name]
    return out


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape,chunks,bricks", [
    ((24, 20, 40), (8, 8, 16), [(8, 8, 16), (16, 8, 40), (8, 16, 32), (24, 20, 40), (16, 16, 16)]),
    ((13, 11, 17), (5, 3, 7), [(5, 3, 7), (10, 6, 14), (5, 9, 17), (15, 12, 21)]),
])
def test_bricks_equal_whole_volume_exactly(boundary, shape, chunks, bricks):
    volume = _volume(shape)
    # Radius 6 on axis 0 exceeds the smallest bricks (halo > brick); the variance reads the mean (chained halos).
    ops = [LocalMean("a", "mean", radius=(6, 1, 2), boundary=boundary),
           LocalVariance("a", "var", radius=1, boundary=boundary),
           LocalVariance("mean", "var_of_mean", radius=(1, 2, 1), boundary=boundary)]
    chain = Chain(ops, shape)
    wanted = ("mean", "var", "var_of_mean")
    whole = chain.run_whole({"a": volume}, wanted=wanted)
    for brick in bricks:
        got = _bricked(chain, volume, chunks, brick, wanted)
        for name in wanted:
            assert np.array_equal(got[name], whole[name], equal_nan=True), (name, brick)


def _windows(volume, radius, boundary):
    pad = [(r, r) for r in radius]
    padded = (np.pad(volume, pad, constant_values=np.nan) if boundary == "nan"
              else np.pad(volume, pad, mode={"reflect": "symmetric", "nearest": "edge"}[boundary]))
    return sliding_window_view(padded.astype(np.float64), tuple(2 * r + 1 for r in radius))


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_operators_match_independent_nan_statistics(boundary):
    volume = _volume((9, 8, 10), seed=5)
    volume[0, 0, :] = np.nan  # plus some all-NaN windows at the corner under "nan"
    radius = (1, 2, 1)
    windows = _windows(volume, radius, boundary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        mean_ref = np.nanmean(windows, axis=(-3, -2, -1))
        var_ref = np.nanvar(windows, axis=(-3, -2, -1))
    chain = Chain([LocalMean("a", "m", radius=radius, boundary=boundary),
                   LocalVariance("a", "v", radius=radius, boundary=boundary)], volume.shape)
    got = chain.run_whole({"a": volume})
    np.testing.assert_allclose(got["m"], mean_ref, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(got["v"], var_ref, rtol=1e-4, atol=1e-12, equal_nan=True)


def test_variance_keeps_precision_of_small_spread_on_large_mean():
    rng = np.random.default_rng(0)
    volume = (0.95 + 1e-3 * rng.standard_normal((6, 6, 6))).astype(np.float32)
    got = Chain([LocalVariance("a", "v", radius=1)], volume.shape).run_whole({"a": volume})["v"]
    ref = np.var(sliding_window_view(volume.astype(np.float64), (3, 3, 3)), axis=(-3, -2, -1))
    np.testing.assert_allclose(got[1:-1, 1:-1, 1:-1], ref, rtol=1e-5)


def test_mean_matches_scipy_uniform_filter_without_nans():
    volume = np.random.default_rng(2).standard_normal((7, 9, 8)).astype(np.float32)
    got = Chain([LocalMean("a", "m", radius=2, boundary="reflect")], volume.shape).run_whole({"a": volume})["m"]
    np.testing.assert_allclose(got, ndi.uniform_filter(volume.astype(np.float64), 5, mode="reflect"), atol=1e-6)


@pytest.mark.parametrize("brick", [(8, 8, 16), (16, 8, 40), (24, 20, 40), None])
def test_store_run_equals_whole_volume(tmp_path, brick):
    survey, volume = make_survey(tmp_path / "s.zarr")
    ops = [LocalMean("amp", "m", radius=(9, 1, 2)), LocalVariance("amp", "v", radius=1, boundary="reflect")]
    result = run_bricks(survey, ops, {"m": "amp_mean", "v": "amp_var"},
                        RunOptions(device="cpu", brick=brick, progress=False))
    whole = Chain(ops, volume.shape).run_whole({"amp": volume})
    assert np.array_equal(survey.read("amp_mean"), whole["m"], equal_nan=True)
    assert np.array_equal(survey.read("amp_var"), whole["v"], equal_nan=True)
    assert survey.is_complete("amp_mean") and survey.is_complete("amp_var")
    assert "amp_mean+amp_var" not in survey.group["_runs"]  # the ledger is gone once the run is complete
    assert result.stats.bricks == result.bricks_total
    prov = survey.provenance("amp_mean")
    assert prov["inputs"] == ["amp"] and prov["parameters"]["operators"][0]["radius"] == [9, 1, 2]


@pytest.mark.gpu
def test_gpu_scheduler_equals_cpu(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    ops = [LocalMean("amp", "m", radius=(9, 1, 2)), LocalVariance("m", "v", radius=1)]
    run_bricks(survey, ops, {"v": "cpu_v"}, RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    result = run_bricks(survey, ops, {"v": "gpu_v"}, RunOptions(device="gpu", brick=(8, 8, 16), progress=False))
    assert result.device == "gpu" and result.stats.gpu_busy_seconds > 0
    np.testing.assert_allclose(survey.read("gpu_v"), survey.read("cpu_v"), rtol=1e-6, equal_nan=True)
