"""The fast NumPy Kuwahara filter against the brute-force reference, and its properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from facies.kernels.kuwahara import kuwahara, kuwahara_halo, window_offsets
from tests.kuwahara_reference import kuwahara_reference

MODES = ("octant", "shifted")
STATS = ("mean", "median")


def random_volume(shape, seed, *, nan_fraction=0.1, dead_fraction=0.2, integers=False):
    """A volume with NaN holes and a trace mask with dead traces (filled with 0 in the data)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, shape).astype(np.float64) if integers else rng.normal(size=shape)
    x[rng.random(shape) < nan_fraction] = np.nan
    mask = rng.random(shape[:2]) >= dead_fraction
    x[~mask] = 0.0
    return x, mask


def small_shape(mode, radius):
    # The reference is O(voxels * windows * window size): keep shifted r=3 tiny.
    return (4, 5, 7) if mode == "shifted" and max(np.atleast_1d(radius)) >= 3 else (5, 6, 9)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("radius", [1, 2, 3, (1, 0, 2)])
def test_fast_backend_matches_reference(mode, stat, radius):
    x, mask = random_volume(small_shape(mode, radius), seed=hash((mode, stat, str(radius))) % 2**32)
    got = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    want = kuwahara_reference(x, radius, mode=mode, stat=stat, mask=mask)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("radius", [1, 2, (2, 1, 0)])
def test_exact_on_integer_valued_data(mode, stat, radius):
    # Small integers make many exact variance ties: both must pick the first window in order.
    x, mask = random_volume((5, 6, 8), seed=7, integers=True)
    got = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    want = kuwahara_reference(x, radius, mode=mode, stat=stat, mask=mask)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(*(st.integers(1, 6),) * 3), radius=st.tuples(*(st.integers(0, 2),) * 3),
       mode=st.sampled_from(MODES), stat=st.sampled_from(STATS), seed=st.integers(0, 2**16))
def test_fast_backend_matches_reference_hypothesis(shape, radius, mode, stat, seed):
    x, mask = random_volume(shape, seed)
    got = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    want = kuwahara_reference(x, radius, mode=mode, stat=stat, mask=mask)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out():
    x, mask = random_volume((5, 6, 9), seed=3)
    got = kuwahara(x.astype(np.float32), 2, mask=mask)
    assert got.dtype == np.float32
    want = kuwahara_reference(x.astype(np.float32), 2, mask=mask)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_precision_on_coherence_like_volume(mode):
    # Coherence: mean 0.95, std 0.01. Naive float32 sums of squares lose every digit of the
    # variance here; the result must match the float64 reference to float32 rounding.
    rng = np.random.default_rng(11)
    x = (0.95 + 0.01 * rng.standard_normal((6, 7, 10))).astype(np.float32)
    want = kuwahara_reference(x, 2, mode=mode)
    got = kuwahara(x, 2, mode=mode)
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)
    np.testing.assert_allclose(kuwahara(x.astype(np.float64), 2, mode=mode), want, rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
def test_constant_volume_is_unchanged(mode, stat):
    x, mask = random_volume((6, 7, 8), seed=5)
    live = np.isfinite(x) & mask[:, :, None]
    x[live] = 0.1  # not exactly representable: the mean of a box of 0.1 must still be 0.1
    got = kuwahara(x.astype(np.float32), 2, mode=mode, stat=stat, mask=mask)
    np.testing.assert_array_equal(got, x.astype(np.float32))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("step", ["inline", "sample", "oblique"])
def test_step_edge_is_preserved_exactly(mode, stat, step):
    i, j, k = np.indices((7, 8, 9))
    side = {"inline": i >= 3, "sample": k >= 4, "oblique": i + 2 * j - k > 5}[step]
    x = np.where(side, 3.5, 0.25)
    np.testing.assert_array_equal(kuwahara(x, (2, 1, 2), mode=mode, stat=stat), x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
def test_output_within_neighbourhood_range(mode, stat):
    x, mask = random_volume((8, 9, 12), seed=9)
    got = kuwahara(x, 2, mode=mode, stat=stat, mask=mask)
    live = np.isfinite(x) & mask[:, :, None]
    size = [2 * h + 1 for h in kuwahara_halo(2, mode)]
    low = ndimage.minimum_filter(np.where(live, x, np.inf), size=size, mode="constant", cval=np.inf)
    high = ndimage.maximum_filter(np.where(live, x, -np.inf), size=size, mode="constant", cval=-np.inf)
    assert np.all(got[live] >= low[live]) and np.all(got[live] <= high[live])
    assert np.isfinite(got[live]).all()


def test_invalid_voxels_pass_through():
    x, mask = random_volume((6, 7, 8), seed=13)
    x[~mask] = -999.0  # a dead trace's fill value is kept, not smoothed
    got = kuwahara(x, 1, mask=mask)
    assert np.all(got[~mask] == -999.0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))
    assert not np.any(np.isin(got[mask], [-999.0]))  # and never leaks into live traces


def test_out_is_filled_and_returned_and_may_alias_the_input():
    x, mask = random_volume((5, 6, 7), seed=17)
    want = kuwahara(x, 2, mask=mask)
    out = np.full(x.shape, np.nan)
    assert kuwahara(x, 2, mask=mask, out=out) is out
    np.testing.assert_array_equal(out, want)
    y = x.copy()
    kuwahara(y, 2, mask=mask, out=y)
    np.testing.assert_array_equal(y, want)


def test_thread_count_does_not_change_the_result():
    x, mask = random_volume((23, 9, 11), seed=19)
    one = kuwahara(x, (2, 1, 1), mode="shifted", mask=mask, workers=1)
    np.testing.assert_array_equal(kuwahara(x, (2, 1, 1), mode="shifted", mask=mask, workers=3), one)


def test_halo_and_window_order():
    assert kuwahara_halo(2) == (2, 2, 2)
    assert kuwahara_halo((1, 2, 3), "shifted") == (2, 4, 6)
    assert window_offsets((1, 1, 1), "octant")[:3] == [(-1, -1, -1), (-1, -1, 0), (-1, 0, -1)]
    assert len(window_offsets((2, 2, 2), "shifted")) == 125
    assert window_offsets((0, 0, 2), "shifted")[0] == (0, 0, -4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(volume=np.zeros((4, 4))), "3D volume"),
    (dict(radius=-1), ">= 0"),
    (dict(radius=(1, 2)), "three ints"),
    (dict(radius=1.5), "three ints"),
    (dict(mode="square"), "unknown Kuwahara mode"),
    (dict(stat="mode"), "unknown Kuwahara statistic"),
    (dict(mask=np.ones((3, 3), bool)), "mask must be"),
    (dict(out=np.zeros((4, 4, 4), np.float32)), "out must be"),
])
def test_bad_input_gives_a_clear_error(kwargs, match):
    args = dict(volume=np.zeros((4, 4, 4)), radius=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kuwahara(args.pop("volume"), args.pop("radius"), **args)


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="real numbers"):
        kuwahara(np.zeros((3, 3, 3), complex), 1)


@pytest.mark.parametrize("mode, too_large, voxels", [("shifted", 20, "68,921"), ("octant", 40, "68,921"),
                                                     ("octant", (0, 0, 65535), "65,536")])
def test_windows_beyond_the_16_bit_counts_are_refused(mode, too_large, voxels):
    """Box counts and window numbers are 16-bit in the NumPy backend: larger windows would wrap."""
    with pytest.raises(ValueError, match=f"windows of {voxels} voxels.*at most 65,535"):
        kuwahara(np.zeros((2, 2, 2)), too_large, mode=mode)
    from facies.engine.errors import FaciesError
    from facies.engine.operators.kuwahara import KuwaharaOperator

    with pytest.raises(FaciesError, match="at most 65,535"):
        KuwaharaOperator("amp", too_large, mode)


def test_largest_octant_box_counts_all_its_voxels():
    # Voxel (39, 39, 39)'s first window, offset -39 on every axis, is the whole 40^3 volume: 64,000
    # voxels, counted exactly. (At r = 40 on a 41^3 volume the 68,921-voxel count wrapped to 3,385
    # in 16 bits and that voxel's mean became 20.36 instead of 1: hence the limit.)
    x = np.full((40, 40, 40), 3.0, np.float32)
    np.testing.assert_array_equal(kuwahara(x, 39, mode="octant", workers=1), x)


def test_gpu_radius_limit_is_refused_before_cuda_is_touched():
    """The shared tile of the stats kernel must fit 48 KiB: checked before CuPy or NVRTC are involved."""
    from facies.kernels.kuwahara._cuda import (SHARED_MEMORY_LIMIT, check_shared_memory, filter_volume,
                                               largest_gpu_radius, shared_memory_bytes)

    assert SHARED_MEMORY_LIMIT == 48 * 1024
    # (2 + B - 1) x (4 + B - 1) x (32 + B - 1) items, B the box size: the .cu's KUW_SH_* tile.
    assert shared_memory_bytes(np.float32, (7, 7, 7), "shifted") == 16 * 18 * 46 * 4 == 52_992
    assert shared_memory_bytes(np.float64, (5, 5, 5), "shifted") == 12 * 14 * 42 * 8 == 56_448
    assert shared_memory_bytes(np.float32, (1, 0, 2), "octant") == 3 * 4 * 34 * 4
    limits = {(np.dtype(d).name, m): largest_gpu_radius(d, m) for d in (np.float32, np.float64)
              for m in ("octant", "shifted")}
    assert limits == {("float32", "octant"): 13, ("float32", "shifted"): 6,
                      ("float64", "octant"): 9, ("float64", "shifted"): 4}
    for (dtype, mode), r in limits.items():
        check_shared_memory(dtype, (r, r, r), mode)  # the limit itself is accepted
        with pytest.raises(ValueError, match=r"too large for the GPU kernel \(needs \d+ bytes of shared memory, "
                                             r"limit 48 KiB\); use --device cpu or a smaller radius"):
            check_shared_memory(dtype, (r + 1, r + 1, r + 1), mode)
    check_shared_memory(np.float32, (0, 0, 200), "shifted")  # long along samples only: 2 x 4 x 432 x 4 bytes
    x = np.zeros((3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="needs 52992 bytes"):  # NumPy input: would import CuPy next
        filter_volume(x, (7, 7, 7), "shifted", "mean", None, np.empty_like(x))


# --- out_region: compute only a box of the volume, bit-identical to that box of the whole result ---

def crops_of(shape):
    """Crops touching every edge, interior ones, 1-voxel-thick slabs and a single voxel, as (start, stop)."""
    n_il, n_xl, n_t = shape
    return [
        ((0, n_il), (0, n_xl), (0, n_t)),                      # the whole volume
        ((1, n_il - 1), (2, n_xl - 1), (1, n_t - 2)),          # interior
        ((0, 2), (n_xl - 3, n_xl), (0, n_t)),                  # low inline edge, high crossline edge
        ((n_il - 1, n_il), (0, n_xl), (0, n_t)),               # last inline, 1 thick
        ((0, n_il), (3, 4), (0, n_t)),                         # 1 crossline
        ((0, n_il), (0, n_xl), (n_t - 1, n_t)),                # last sample
        ((2, 3), (1, 2), (4, 5)),                              # one voxel
        ((0, 1), (0, 1), (0, 1)),                              # the corner voxel
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("radius", [1, 2, 3, (1, 0, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_region_equals_the_whole_volume_result(mode, stat, radius, dtype):
    x, mask = random_volume((7, 8, 11), seed=hash((mode, stat, str(radius), "crop")) % 2**32)
    x = x.astype(dtype)
    whole = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    for crop in crops_of(x.shape):
        index = tuple(slice(a, b) for a, b in crop)
        got = kuwahara(x, radius, mode=mode, stat=stat, mask=mask, out_region=crop)
        assert got.shape == whole[index].shape and got.dtype == whole.dtype
        np.testing.assert_array_equal(got, whole[index], err_msg=f"crop {crop}")  # bit for bit, NaN kept
        # the same region as slices
        np.testing.assert_array_equal(kuwahara(x, radius, mode=mode, stat=stat, mask=mask, out_region=index),
                                      whole[index])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=st.tuples(*(st.integers(1, 9),) * 3), radius=st.tuples(*(st.integers(0, 2),) * 3),
       mode=st.sampled_from(MODES), stat=st.sampled_from(STATS), seed=st.integers(0, 2**16),
       float32=st.booleans(), workers=st.sampled_from([1, 2]))
def test_out_region_equals_the_whole_volume_result_hypothesis(data, shape, radius, mode, stat, seed, float32,
                                                               workers):
    x, mask = random_volume(shape, seed)
    if float32:
        x = x.astype(np.float32)
    crop = []
    for n in shape:
        start = data.draw(st.integers(0, n - 1), label="start")
        crop.append((start, data.draw(st.integers(start + 1, n), label="stop")))
    whole = kuwahara(x, radius, mode=mode, stat=stat, mask=mask, workers=workers)
    got = kuwahara(x, radius, mode=mode, stat=stat, mask=mask, workers=workers, out_region=crop)
    np.testing.assert_array_equal(got, whole[tuple(slice(a, b) for a, b in crop)])


def test_out_region_with_tiny_tiles(monkeypatch):
    # The NumPy backend tiles only the region; tiles smaller than the halo must not change it.
    from facies.kernels.kuwahara import _numpy as kuwahara_numpy

    x, mask = random_volume((12, 10, 19), seed=29)
    crop = ((2, 11), (0, 7), (5, 19))
    whole = kuwahara(x, (2, 1, 2), mode="shifted", mask=mask, workers=1)
    monkeypatch.setattr(kuwahara_numpy, "TILE_VOXELS", 30)
    for workers in (1, 3):
        got = kuwahara(x, (2, 1, 2), mode="shifted", mask=mask, workers=workers, out_region=crop)
        np.testing.assert_array_equal(got, whole[2:11, 0:7, 5:19])


def test_out_region_out_argument_and_empty_region():
    x, mask = random_volume((6, 7, 9), seed=31)
    crop = (slice(1, 4), slice(None), slice(-3, None))
    want = kuwahara(x, 2, mask=mask)[crop]
    out = np.full(want.shape, -1.0)
    assert kuwahara(x, 2, mask=mask, out=out, out_region=crop) is out
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match=r"out must be a numpy array of shape \(3, 7, 3\)"):
        kuwahara(x, 2, mask=mask, out=np.empty(x.shape), out_region=crop)
    empty = kuwahara(x, 2, mask=mask, out_region=((2, 2), (0, 7), (0, 9)))
    assert empty.shape == (0, 7, 9)


@pytest.mark.parametrize("region, match", [
    (((0, 2), (0, 2)), "one slice or \\(start, stop\\) per axis"),
    (((0, 2), (0, 2), (0, 5)), "axis 2 must be .* 0 <= start <= stop <= 4"),
    (((3, 2), (0, 2), (0, 2)), "axis 0 must be"),
    (((-1, 2), (0, 2), (0, 2)), "axis 0 must be"),
    (((0, 1.5), (0, 2), (0, 2)), "axis 0 must be"),
    ((slice(0, 4, 2), slice(None), slice(None)), "step 1"),
    ("abc", "one slice"),
])
def test_bad_out_region_is_refused(region, match):
    with pytest.raises(ValueError, match=match):
        kuwahara(np.zeros((4, 4, 4)), 1, out_region=region)


def test_both_backends_have_the_same_entry_point():
    import inspect

    from facies.kernels.kuwahara import _cuda, _numpy

    def shape_of(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert shape_of(_numpy.filter_volume) == shape_of(_cuda.filter_volume)
    assert "out_region" in inspect.signature(_numpy.filter_volume).parameters


def test_cuda_launch_geometry_follows_the_region():
    """The stats kernel's boxes and grid come from the output region, not the volume (no GPU needed)."""
    from facies.kernels.kuwahara._cuda import STATS_BLOCK, filter_volume, stats_boxes, stats_grid

    # octant r=2: B = 3, boxes c + 2; shifted a=2: B = 5, boxes c + 4
    assert stats_boxes((128, 128, 128), (2, 2, 2), "octant") == (130, 130, 130)
    assert stats_boxes((128, 128, 128), (2, 2, 2), "shifted") == (132, 132, 132)
    assert stats_boxes((1, 1, 1), (1, 0, 2), "octant") == (2, 1, 3)
    assert STATS_BLOCK == (32, 4, 2)
    assert stats_grid((128, 128, 128), (2, 2, 2), "octant") == (5, 33, 65)
    assert stats_grid((1, 1, 1), (0, 0, 0), "octant") == (1, 1, 1)
    with pytest.raises(ValueError, match="too large for one launch"):
        stats_grid((2 * 65535 + 1, 1, 1), (0, 0, 0), "octant")
    # Refused from the region's size, before CuPy is imported (NumPy input here)...
    x = np.zeros((2 * 65535 + 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"region of shape \(131071, 1, 1\) is too large"):
        filter_volume(x, (0, 0, 0), "octant", "mean", None, np.empty_like(x))
    # ...and an empty region launches nothing at all.
    out = np.empty((0, 1, 1), np.float32)
    assert filter_volume(x, (0, 0, 0), "octant", "mean", None, out, out_region=((5, 5), (0, 1), (0, 1))) is out
