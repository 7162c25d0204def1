"""GLCM texture (kernels/glcm, engine/attributes/texture.py): the NumPy backend against a direct co-occurrence
count, scikit-image's graycomatrix/graycoprops on time slices, bricks == whole volume bit for bit, the attribute
specs, and (marked ``gpu``) CuPy == NumPy bit for bit.

The direct count (:func:`direct_glcm`) builds each window's L x L matrix pair by pair from the definition and
computes the measures with the textbook float64 formulas; the backends use integer sums and fixed-point tables
(kernels/glcm/definition.py), so they agree to float32 rounding (relative 2e-7).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from facies.engine.attributes import texture
from facies.engine.attributes.spec import SurveySampling
from facies.engine.bricks.operator import Chain
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.errors import FaciesError
from facies.kernels.glcm import MEASURES, glcm_halo, glcm_texture, offsets_for
from facies.kernels.glcm import _numpy as glcm_numpy
from facies.kernels.glcm.definition import MAX_PAIRS, entropy_table, normalise_offsets, pair_count, quantisation

SAMPLING = SurveySampling(4.0)


def direct_glcm(x, levels, value_range, window, offsets, mask=None):
    """The four measures by the definition: per voxel, count every pair of its window into an L x L matrix."""
    low, high = value_range
    valid = np.isfinite(x) & (True if mask is None else mask[:, :, None])
    with np.errstate(invalid="ignore", over="ignore"):
        lev = np.clip(np.floor((x.astype(np.float64) - low) * (levels / (high - low))), 0, levels - 1)
    lev = np.where(valid, lev, -1).astype(int)
    radius = [(w - 1) // 2 for w in window]
    i, j = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    out = np.full((4,) + x.shape, np.nan)
    for c in itertools.product(*map(range, x.shape)):
        if lev[c] < 0:
            continue
        box = lev[tuple(slice(max(0, p - r), p + r + 1) for p, r in zip(c, radius))]  # clipped at the edge
        counts = np.zeros((levels, levels))
        for o in offsets:
            first = box[tuple(slice(max(0, -v), n - max(0, v)) for v, n in zip(o, box.shape))]
            second = box[tuple(slice(max(0, v), n - max(0, -v)) for v, n in zip(o, box.shape))]
            both = (first >= 0) & (second >= 0)
            np.add.at(counts, (first[both], second[both]), 1)
            np.add.at(counts, (second[both], first[both]), 1)
        if counts.sum() == 0:
            continue
        p = counts / counts.sum()
        nz = p > 0
        out[:, c[0], c[1], c[2]] = [(p * (i - j) ** 2).sum(), (p / (1.0 + (i - j) ** 2)).sum(), (p * p).sum(),
                                    -(p[nz] * np.log(p[nz])).sum()]
    return out


def noisy_volume(shape, seed, nan_fraction=0.08, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    x[rng.random(shape) < nan_fraction] = np.nan
    mask = rng.random(shape[:2]) > 0.15
    return x, mask


def assert_close_to(got, want):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=2e-7, equal_nan=True)


@pytest.mark.parametrize(("levels", "window", "directions", "distance"), [
    (16, (5, 5, 9), "all", 1),
    (8, (3, 5, 3), "all", 1),
    (4, (3, 3, 7), "axes", 2),
    (2, (5, 3, 1), "lateral", 1),  # one sample thick: the diagonals and inline pairs of a time slice
    (32, (1, 1, 9), "all", 3),  # one trace: only the sample direction fits
])
def test_numpy_equals_the_direct_count(levels, window, directions, distance):
    x, mask = noisy_volume((6, 7, 11), seed=levels)
    x[0, 0, :] = np.inf  # not finite: invalid like NaN
    got = glcm_texture(x, value_range=(-2.0, 1.5), levels=levels, window=window, directions=directions,
                       distance=distance, mask=mask, workers=2)
    want = direct_glcm(x, levels, (-2.0, 1.5), window, offsets_for(directions, distance), mask)
    assert got.dtype == np.float32 and got.shape == (4,) + x.shape
    assert_close_to(got, want)
    assert np.isnan(got[:, ~mask]).all() and np.isnan(got[:, 0, 0]).all()  # dead traces, +inf


def test_explicit_offsets_and_float64_input():
    x, mask = noisy_volume((5, 6, 9), seed=4, dtype=np.float64)
    offsets = [(0, 0, 2), (1, 2, 0), (-1, 0, 1)]  # (-1, 0, 1) counts as (1, 0, -1)
    got = glcm_texture(x, value_range=(-1, 1), levels=6, window=(3, 5, 5), offsets=offsets, mask=mask)
    assert_close_to(got, direct_glcm(x, 6, (-1, 1), (3, 5, 5), offsets, mask))


def test_constant_texture_and_windows_without_pairs():
    x = np.full((3, 4, 6), 0.3, np.float32)
    x[1, 1, :] = np.nan
    x[2, 3, 2] = np.nan
    got = glcm_texture(x, value_range=(-1, 1), levels=8, window=(1, 1, 3), directions="axes")
    valid = np.isfinite(x)
    for k, value in enumerate([0.0, 1.0, 1.0, 0.0]):  # one level: every pair on the diagonal
        np.testing.assert_array_equal(got[k][valid], value)
    assert np.isnan(got[:, ~valid]).all()  # NaN voxels have no texture
    x[0, 0, [0, 2, 4]] = np.nan  # (0, 0, 1), (0, 0, 3), (0, 0, 5): valid, but no valid neighbour in the window
    got = glcm_texture(x, value_range=(-1, 1), levels=8, window=(1, 1, 3), directions="axes")
    assert np.isnan(got[:, 0, 0]).all() and np.isfinite(got[:, 0, 1]).all()


def test_quantisation_boundaries():
    low, scale = quantisation(4, (-1.0, 1.0))
    x = np.array([-5.0, -1.0, -0.5000001, -0.5, 0.0, 0.49999, 0.5, 0.9999, 1.0, 7.0, np.nan, np.inf, -np.inf, 3e38])
    levels = glcm_numpy.quantise(x.reshape(1, 1, -1), 4, low, scale)
    np.testing.assert_array_equal(levels.ravel(), [0, 0, 0, 1, 2, 2, 3, 3, 3, 3, -1, -1, -1, 3])


def test_a_case_computed_by_hand():
    # Window 3 x 1 x 1 along inline with levels 0, 1, 1: pairs (0,1), (1,1): C = [[0,1],[1,2]], N = 4.
    x = np.array([-0.5, 0.5, 0.5], np.float32).reshape(3, 1, 1)
    got = glcm_texture(x, value_range=(-1, 1), levels=2, window=(3, 1, 1), directions="axes")[:, 1, 0, 0]
    p = np.array([0.25, 0.25, 0.5])
    want = [0.25 * 1 * 2, 0.5 + 0.5 * 0.5, (p * p).sum(), -(p * np.log(p)).sum()]
    np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize(("window", "distance", "angles"), [(5, 1, 4), (7, 1, 4), (5, 2, 2)])
def test_time_slices_equal_scikit_image(window, distance, angles):
    """A window one sample thick with in-plane offsets is scikit-image's GLCM of the (clipped) map-view patch."""
    skimage = pytest.importorskip("skimage.feature", reason="scikit-image not installed")
    rng = np.random.default_rng(window + distance)
    x = rng.normal(size=(9, 10, 2)).astype(np.float32)
    levels = 8
    low, scale = quantisation(levels, (-2.5, 2.5))
    lev = glcm_numpy.quantise(x, levels, low, scale).astype(np.uint8)
    # scikit-image's angles 0, 45, 90, 135 degrees: (row, col) offsets (0, d), (-d, d), (-d, 0), (-d, -d), the
    # diagonals rounded to (-1, +-1) at any distance; so at distance 2 only 0 and 90 degrees.
    theta = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4][::4 // angles]
    offsets = [(0, distance, 0), (distance, 0, 0)] if angles == 2 else offsets_for("lateral", distance)
    got = glcm_texture(x, value_range=(-2.5, 2.5), levels=levels, window=(window, window, 1), offsets=offsets)
    r = window // 2
    for i, j, k in itertools.product(range(x.shape[0]), range(x.shape[1]), range(x.shape[2])):
        patch = lev[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1, k]
        matrix = skimage.graycomatrix(patch, [distance], theta, levels=levels, symmetric=True)
        pooled = matrix.sum(axis=3, keepdims=True)
        want = [skimage.graycoprops(pooled, prop)[0, 0] for prop in ("contrast", "homogeneity", "ASM")]
        try:
            want.append(skimage.graycoprops(pooled, "entropy")[0, 0])  # natural log
        except ValueError:  # an older scikit-image without "entropy": from its matrix
            p = pooled[:, :, 0, 0] / pooled.sum()
            want.append(-(p[p > 0] * np.log(p[p > 0])).sum())
        np.testing.assert_allclose(got[:, i, j, k], want, rtol=2e-7, atol=1e-7, err_msg=f"voxel {(i, j, k)}")


def bricked(chain, volumes, chunks, brick, wanted):
    """The chain brick by brick (what the scheduler does, minus I/O), 2D inputs cut on their two axes."""
    shape = chain.shape
    out = {name: np.full(shape, -7.0, np.float32) for name in wanted}
    for b in BrickPlan(shape, chunks, brick):
        plan = chain.plan_regions(b.region, wanted)
        sources = {name: (volumes[name][region_slices(r)[:volumes[name].ndim]], r) for name, r in plan.reads.items()}
        result = chain.run(b.region, sources, np, wanted, plan)
        for name in wanted:
            out[name][region_slices(b.region)] = result[name]
    return out


def spec(measure):
    return next(s for s in texture.SPECS if s.name == f"glcm_{measure}")


@pytest.mark.parametrize(("window", "bricks"), [((5, 5, 9), [(4, 4, 8), (8, 4, 16), (2, 3, 4)]),
                                                ((3, 3, 5), [(1, 1, 3), (5, 7, 24)])])
def test_bricks_equal_the_whole_volume_bit_for_bit(window, bricks):
    x, mask = noisy_volume((9, 8, 24), seed=11)
    x[~mask] = 0.0  # a dead trace keeps a value, as stores do; the mask leaves it out
    params = {**spec("contrast").defaults(), "window": window, "clip": 1.7, "levels": 16}
    ops = []
    for m in MEASURES:
        ops += spec(m).build("amplitude", m, params, SAMPLING)
    kept = {(type(op).__name__, tuple(o.name for o in op.outputs), repr(sorted(op.parameters().items()))): op
            for op in ops}  # the workflow keeps one copy of equal operators
    assert len(kept) == 5  # one GLCM operator and four copies
    chain = Chain(list(kept.values()), x.shape)
    assert chain.total_halo() == glcm_halo(window)
    volumes = {"amplitude": x, "trace_mask": mask}
    whole = chain.run_whole(volumes, wanted=MEASURES)
    direct = glcm_texture(x, value_range=(-1.7, 1.7), window=window, mask=mask)
    for k, m in enumerate(MEASURES):
        np.testing.assert_array_equal(whole[m], direct[k])
    for brick in bricks:
        got = bricked(chain, volumes, (1, 1, 1), brick, MEASURES)
        for m in MEASURES:
            np.testing.assert_array_equal(got[m], whole[m], err_msg=f"brick {brick}, {m}")


def test_a_store_run_equals_the_kernel_on_the_whole_volume(tmp_path):
    """Through the brick engine (reads, trace_mask, halos, one GLCM operator for four outputs, writes)."""
    from facies.engine.bricks.dispatch import run_operators
    from facies.engine.bricks.options import RunOptions
    from tests.helpers import tiny_store

    survey = tiny_store(tmp_path / "s.zarr", shape=(9, 8, 40), chunks=(4, 4, 16))  # a dead trace of zeros
    params = {**spec("contrast").defaults(), "clip": 1.5}
    ops = {}
    for s in texture.SPECS:
        for op in s.build("amplitude", s.name, params, SAMPLING):
            ops.setdefault((type(op).__name__, repr(sorted(op.parameters().items()))), op)
    run_operators(survey, list(ops.values()), {s.name: s.name for s in texture.SPECS},
                  RunOptions(device="cpu", brick=(4, 4, 16), progress=False), command="test", kind="attribute")
    want = glcm_texture(survey.read("amplitude"), value_range=(-1.5, 1.5), mask=survey.geometry.trace_mask)
    assert np.isnan(want[:, 1, 2]).all()
    for k, s in enumerate(texture.SPECS):
        np.testing.assert_array_equal(survey.read(s.name), want[k])


def test_an_output_region_equals_that_part_of_the_whole_result():
    x, mask = noisy_volume((7, 9, 30), seed=5)
    whole = glcm_texture(x, value_range=(-2, 2), mask=mask)
    for region in (((1, 6), (2, 9), (3, 29)), ((6, 7), (0, 9), (0, 30)), ((3, 4), (4, 5), (29, 30))):
        got = glcm_texture(x, value_range=(-2, 2), mask=mask, out_region=region, workers=1)
        np.testing.assert_array_equal(got, whole[(slice(None), *(slice(a, b) for a, b in region))])


def test_the_specs_share_one_glcm_operator_and_check_their_parameters():
    defaults = spec("entropy").defaults()
    assert defaults == {"levels": 16, "window": (5, 5, 9), "directions": "all", "distance": 1, "clip": None}
    a = spec("entropy").build("amp", "out_e", {**defaults, "clip": 2.0}, SAMPLING)
    b = spec("energy").build("amp", "out_a", {**defaults, "clip": 2.0}, SAMPLING)
    assert a[0].parameters() == b[0].parameters() and a[0].outputs == b[0].outputs
    assert a[-1].outputs[0].name == "out_e" and a[-1].inputs == (a[0].names["entropy"],)
    other = spec("entropy").build("amp", "out_e", {**defaults, "clip": 2.5}, SAMPLING)[0]
    assert other.outputs != a[0].outputs  # another clip is another computation
    assert Chain(spec("energy").build("amp", "e", defaults, SAMPLING), (50, 50, 50)).total_halo() == (2, 2, 4)
    unmeasured = spec("energy").build("amp", "e", defaults, SAMPLING)[0]
    with pytest.raises(FaciesError, match="no clip"):
        unmeasured.compute({"amp": np.zeros((5, 5, 9), np.float32), "trace_mask": np.ones((5, 5), np.float32)}, np)
    for change, fragment in [({"levels": 1}, "levels"), ({"levels": 33}, "levels"), ({"window": (4, 5, 9)}, "window"),
                             ({"directions": "diagonal"}, "directions"), ({"distance": 0}, "distance"),
                             ({"window": (25, 25, 25)}, str(MAX_PAIRS)), ({"clip": -1.0}, "clip"),
                             ({"clip": math.inf}, "clip"), ({"window": (1, 1, 1)}, "no offset fits")]:
        with pytest.raises(FaciesError, match=fragment) as info:
            spec("contrast").check({**defaults, **change}, SAMPLING)
        assert "\n" not in str(info.value)
    spec("contrast").check({**defaults, "clip": 3.0}, SAMPLING)


def test_measure_clip():
    values = np.concatenate([np.linspace(-1, 1, 1001), [np.nan, np.inf]])
    assert texture.measure_clip(values) == pytest.approx(np.percentile(np.abs(np.linspace(-1, 1, 1001)), 99))
    assert spec("homogeneity").extra["fill"]["clip"] is texture.measure_clip
    for bad in (np.zeros(10), np.full(4, np.nan), np.array([])):
        with pytest.raises(FaciesError, match="cannot measure the GLCM clip"):
            texture.measure_clip(bad)


def test_bad_arguments_are_refused():
    x = np.zeros((3, 3, 5), np.float32)
    for kwargs, fragment in [({"offsets": [(0, 0, 0)]}, "itself"), ({"offsets": [(1, 0, 0), (-1, 0, 0)]}, "repeats"),
                             ({"offsets": []}, "offsets"), ({"offsets": [(1, 0)]}, "3 integers"),
                             ({"value_range": (1, -1)}, "low < high"), ({"value_range": (0, np.nan)}, "finite"),
                             ({"levels": 40}, "levels"), ({"window": (2, 3, 3)}, "odd"),
                             ({"directions": "up"}, "directions"), ({"mask": np.ones((3, 4), bool)}, "mask"),
                             ({"out": np.empty((4, 3, 3, 5))}, "float32"),
                             ({"out_region": ((0, 4),) * 3}, "out_region")]:
        with pytest.raises(ValueError, match=fragment):
            glcm_texture(x, **{"value_range": (-1, 1), **kwargs})
    with pytest.raises(TypeError, match="real numbers"):
        glcm_texture(x.astype(np.complex64), value_range=(-1, 1))
    with pytest.raises(ValueError, match="3D"):
        glcm_texture(x[0], value_range=(-1, 1))


def test_pair_bound_and_tables():
    offsets = normalise_offsets(offsets_for("all"))
    assert pair_count((5, 5, 9), offsets) == 2000
    assert pair_count((5, 5, 9), normalise_offsets(offsets_for("axes", 5))) == 0 + 0 + 5 * 5 * 4
    table = entropy_table(3)
    np.testing.assert_array_equal(table[:3], [0, 0, round(2 * math.log(2) * 2**32)])
    assert len(table) == 7


@pytest.mark.gpu
def test_cupy_equals_numpy_bit_for_bit():
    import cupy as cp

    x, mask = noisy_volume((23, 19, 70), seed=9)
    for levels, dtype in ((16, np.float32), (8, np.float64), (32, np.float32), (5, np.float32)):
        y = x.astype(dtype)
        want = glcm_texture(y, value_range=(-2, 2), levels=levels, mask=mask)
        got = glcm_texture(cp.asarray(y), value_range=(-2, 2), levels=levels, mask=cp.asarray(mask))
        np.testing.assert_array_equal(cp.asnumpy(got), want)
    region = ((3, 20), (1, 18), (5, 66))
    got = glcm_texture(cp.asarray(x), value_range=(-2, 2), mask=cp.asarray(mask), out_region=region,
                       directions="lateral", window=(7, 7, 3))
    want = glcm_texture(x, value_range=(-2, 2), mask=mask, out_region=region, directions="lateral", window=(7, 7, 3))
    np.testing.assert_array_equal(cp.asnumpy(got), want)
    # The array formulation of the NumPy backend runs on CuPy too (the benchmark's GPU baseline): same bits.
    offsets = offsets_for("all")
    low, scale = quantisation(16, (-2, 2))
    lev = cp.pad(glcm_numpy.quantise(cp.asarray(x), 16, low, scale), [(2, 2), (2, 2), (4, 4)], constant_values=-1)
    array = glcm_numpy.measures(glcm_numpy.pair_histogram(lev, 16, (2, 2, 4), offsets, x.shape), 16,
                                pair_count((5, 5, 9), offsets))
    array[:, ~cp.isfinite(cp.asarray(x))] = cp.nan
    np.testing.assert_array_equal(cp.asnumpy(array), glcm_texture(x, value_range=(-2, 2)))


def test_bad_parameters_name_attribute_and_parameter_once():
    defaults = {**spec("entropy").defaults(), "clip": 2.0}
    for change, message in [
            ({"levels": 99}, "glcm_contrast.levels = 99 must be an integer from 2 to 32"),
            ({"distance": 0}, "glcm_contrast.distance = 0 must be an integer >= 1"),
            ({"distance": 2.5}, "glcm_contrast.distance = 2.5 must be an integer >= 1"),
            ({"window": (2, 5, 5)}, "glcm_contrast.window = (2, 5, 5) must be 3 odd sizes >= 1 (inline traces, "
                                    "crossline traces, samples)"),
            ({"window": (1, 1, 1)}, "glcm_contrast.window = (1, 1, 1): no offset fits inside it at distance 1; "
                                    "use a larger window or a shorter distance"),
            ({"window": (11, 11, 61)}, f"glcm_contrast.window = (11, 11, 61) holds 83280 pairs over 13 offsets, "
                                       f"more than {MAX_PAIRS}: use a smaller window or fewer directions"),
            ({"directions": "up"}, "glcm_contrast.directions = 'up' must be one of all, lateral, axes"),
            ({"clip": -1.0}, "glcm_contrast.clip = -1.0 must be a positive amplitude (levels span -clip..clip)"),
            ({"clip": "x"}, "glcm_contrast.clip = 'x' must be a positive amplitude (levels span -clip..clip)")]:
        with pytest.raises(FaciesError) as info:
            spec("contrast").check({**defaults, **change}, SAMPLING)
        assert str(info.value) == message
    with pytest.raises(FaciesError, match=r"^glcm_energy\.levels = 1 "):
        spec("energy").check({**defaults, "levels": 1}, SAMPLING)
