"""values_at on a virtual Kuwahara array equals what facies filter kuwahara stores, bit for bit.

The reference is the brick engine's own output (a real ``filter_kuwahara`` run into the same store), on
random volumes with dead traces, NaNs and infinities, every voxel (so every survey edge and corner) and
random voxels in any order with repeats, in both modes and statistics, anisotropic radii (0 along an
axis too), float32, float64 and integer sources; each through both ways values_at computes (the voxels'
cubes stacked, and the whole region) and through small reading regions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facies.engine.virtual as virtual_module
from facies.engine import FaciesError, Survey
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.filtering import filter_kuwahara
from facies.engine.locks import ArrayBusyError, held_locks
from facies.engine.provenance import make_provenance
from facies.engine.virtual import operators_for, values_at
from tests.helpers import tiny_geometry

QUIET = RunOptions(progress=False, device="cpu", overwrite=True)


def random_store(path, shape, chunks, *, seed, dtype=np.float32, dead=((1, 2), (0, 0))) -> Survey:
    """A store with one attribute ``amp``: noise with NaNs, infinities and repeated values; dead traces hold 7."""
    rng = np.random.default_rng(seed)
    dead = tuple((i % shape[0], j % shape[1]) for i, j in dead)
    survey = Survey.create(path, tiny_geometry(shape, dead=dead), chunks=chunks)
    if np.dtype(dtype).kind == "f":
        data = rng.standard_normal(shape)
        data[rng.random(shape) < 0.2] = 0.5  # plateaus: windows of equal variance, the tie order decides
        data[rng.random(shape) < 0.04] = np.nan
        data[rng.random(shape) < 0.01] = np.inf
    else:
        data = rng.integers(-3, 4, shape)  # integer values: exact sums, many exact ties
    data = data.astype(dtype)
    data[~survey.geometry.trace_mask] = 7
    survey.add_volume("amp", data, provenance=make_provenance("test", {"seed": seed}))
    return survey


def filtered_pair(survey, radius, mode, stat, *, use_mask=True):
    """The stored filter output ``amp_k`` (read whole) after declaring the same filter as virtual ``amp_v``."""
    filter_kuwahara(survey, ["amp"], radius, mode=mode, stat=stat, suffix="_k", use_mask=use_mask, options=QUIET)
    filter_kuwahara(survey, ["amp"], radius, mode=mode, stat=stat, suffix="_v", use_mask=use_mask, options=QUIET,
                    virtual=True)
    return survey.read("amp_k")


@pytest.fixture(params=["cubes", "region"])
def method(request, monkeypatch):
    """Force one of values_at's two ways: the voxels' cubes stacked, or the whole region as one brick."""
    monkeypatch.setattr(virtual_module, "stack_cubes", lambda *args: request.param == "cubes")
    return request.param


def every_voxel(shape):
    return np.indices(shape).reshape(3, -1)


def assert_bits_equal(got, expected):
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), np.asarray(expected, np.float32).view(np.uint32)), (
        f"{int((got.view(np.uint32) != np.asarray(expected, np.float32).view(np.uint32)).sum())} voxels differ")


CASES = [  # (radius, mode, stat, dtype)
    (2, "octant", "mean", np.float32),
    ((1, 0, 2), "octant", "median", np.float32),
    (1, "shifted", "mean", np.float32),
    ((1, 2, 0), "shifted", "median", np.float32),
    (1, "octant", "mean", np.float64),
    ((0, 1, 1), "shifted", "median", np.int16),
]


@pytest.mark.parametrize("radius, mode, stat, dtype", CASES)
def test_every_voxel_equals_the_stored_filter(tmp_path, method, radius, mode, stat, dtype):
    survey = random_store(tmp_path / "s.zarr", (7, 9, 13), (3, 4, 5), seed=3, dtype=dtype)
    stored = filtered_pair(survey, radius, mode, stat)
    got = values_at(survey, "amp_v", *every_voxel(survey.shape), device="cpu", progress=False)
    assert_bits_equal(got, stored.reshape(-1))
    assert (got == 7).any() and np.isnan(got).any() == (np.dtype(dtype).kind == "f")  # passed through


def test_random_voxels_in_any_order_with_repeats_and_any_region_size(tmp_path, method):
    survey = random_store(tmp_path / "s.zarr", (11, 8, 16), (4, 3, 6), seed=5)
    stored = filtered_pair(survey, 2, "shifted", "mean")  # halo 4: cubes reach past every edge
    rng = np.random.default_rng(0)
    idx = [rng.integers(0, n, 300) for n in survey.shape]
    idx[0][:10], idx[1][10:20], idx[2][20:30] = 0, survey.shape[1] - 1, survey.shape[2] - 1  # on the faces
    expected = stored[tuple(idx)]
    for brick in (None, (1, 1), (5, 3)):
        got = values_at(survey, "amp_v", *idx, device="cpu", brick=brick, progress=False)
        assert_bits_equal(got, expected)


def test_without_the_trace_mask(tmp_path, method):
    survey = random_store(tmp_path / "s.zarr", (6, 7, 9), (4, 4, 4), seed=8)
    stored = filtered_pair(survey, 1, "octant", "median", use_mask=False)
    assert_bits_equal(values_at(survey, "amp_v", *every_voxel(survey.shape), device="cpu", progress=False),
                      stored.reshape(-1))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 9)),
       chunks=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
       radius=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)).filter(any),
       mode=st.sampled_from(["octant", "shifted"]), stat=st.sampled_from(["mean", "median"]),
       cubes=st.booleans(), seed=st.integers(0, 2**16))
def test_random_surveys(tmp_path_factory, monkeypatch, shape, chunks, radius, mode, stat, cubes, seed):
    halo = [r * (2 if mode == "shifted" else 1) for r in radius]
    if any(h > n for h, n in zip(halo, shape)):
        return  # refused by the filter itself: windows wider than the survey
    monkeypatch.setattr(virtual_module, "stack_cubes", lambda *args: cubes)
    survey = random_store(tmp_path_factory.mktemp("h") / "s.zarr", shape, chunks, seed=seed)
    stored = filtered_pair(survey, radius, mode, stat)
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, n, 40) for n in shape]
    assert_bits_equal(values_at(survey, "amp_v", *idx, device="cpu", brick=(2, 3), progress=False),
                      stored[tuple(idx)])


def test_stored_arrays_are_read_at_the_voxels(tmp_path):
    survey = random_store(tmp_path / "s.zarr", (9, 10, 11), (4, 4, 4), seed=1, dtype=np.float64)
    whole = survey.read("amp")
    rng = np.random.default_rng(1)
    idx = [rng.integers(0, n, 500) for n in survey.shape]
    for brick in (None, (1, 1)):
        got = values_at(survey, "amp", *idx, brick=brick, progress=False)
        assert got.dtype == np.float32
        assert np.array_equal(got, whole[tuple(idx)].astype(np.float32), equal_nan=True)
    assert values_at(survey, "amp", [], [], [], progress=False).shape == (0,)


def test_the_fused_pass_operators_equal_the_filter(tmp_path):
    """operators_for's operators, run by the brick engine, write what the filter writes."""
    survey = random_store(tmp_path / "s.zarr", (8, 9, 12), (3, 4, 5), seed=2)
    stored = filtered_pair(survey, (1, 2, 1), "shifted", "median")
    filter_kuwahara(survey, ["amp"], 1, suffix="_w", options=QUIET, virtual=True)
    operators = operators_for(survey, ["amp_w", "amp", "amp_v", "amp_w", "nothing"])
    assert [op.output_name for op in operators] == ["amp_w", "amp_v"]  # in order, once, only the virtual ones
    assert operators[1].parameters() == {"input": "amp", "output": "amp_v", "radius": [1, 2, 1], "mode": "shifted",
                                         "stat": "median", "use_mask": True}
    run_bricks(survey, operators[1:], {"amp_v": "fused"}, RunOptions(progress=False, device="cpu", brick=(3, 4)))
    assert_bits_equal(survey.read("fused").reshape(-1), stored.reshape(-1))


def test_bad_indices_and_names_are_one_line_errors(tmp_path):
    survey = random_store(tmp_path / "s.zarr", (4, 5, 6), (4, 4, 4), seed=0)
    filter_kuwahara(survey, ["amp"], 1, suffix="_v", options=QUIET, virtual=True)
    for args, fragment in ((([0, 1], [0], [0]), "different lengths"), (([4], [0], [0]), "outside the survey"),
                           (([0], [-1], [0]), "outside the survey"), (([0.5], [0], [0]), "integers")):
        with pytest.raises(FaciesError, match=fragment):
            values_at(survey, "amp_v", *args, progress=False)
    with pytest.raises(FaciesError, match="no array 'nothing'"):
        values_at(survey, "nothing", [0], [0], [0], progress=False)


def test_a_source_being_written_is_refused(tmp_path):
    survey = random_store(tmp_path / "s.zarr", (4, 5, 6), (4, 4, 4), seed=0)
    filter_kuwahara(survey, ["amp"], 1, suffix="_v", options=QUIET, virtual=True)
    with held_locks(survey, ["amp"]):  # as a run replacing the source holds it
        with pytest.raises(ArrayBusyError, match="'amp'"):
            values_at(survey, "amp_v", [0], [0], [0], progress=False)


@pytest.mark.gpu
def test_gpu_values_equal_the_gpu_filter(tmp_path):
    survey = random_store(tmp_path / "s.zarr", (12, 10, 40), (5, 4, 16), seed=4)
    for radius, mode, stat in ((2, "octant", "mean"), (1, "shifted", "median")):
        filter_kuwahara(survey, ["amp"], radius, mode=mode, stat=stat, suffix="_k",
                        options=RunOptions(progress=False, device="gpu", overwrite=True))
        filter_kuwahara(survey, ["amp"], radius, mode=mode, stat=stat, suffix="_v", options=QUIET, virtual=True)
        got = values_at(survey, "amp_v", *every_voxel(survey.shape), device="gpu", progress=False)
        assert_bits_equal(got, survey.read("amp_k").reshape(-1))
