"""The real glcm.cu, run on the CPU through the real ``_cuda.texture`` wrapper, against the NumPy backend.

No GPU: ``tests/cuda_harness`` compiles each declared specialisation (``GLCM_LEVELS`` 8, 16, 32) with g++ and
swaps it in (docs/design.md, "CUDA kernels on the CPU").

Tolerance: none. Both backends quantise with the same float64 operations, count pairs in integers and take the
entropy and homogeneity terms from the same host-made integer tables (kernels/glcm/definition.py), then do the
same float64 divisions: the float32 results are equal bit for bit, NaNs included. (On a GPU the same holds: no
expression of the kernels can be contracted to an FMA; tests/test_attributes_glcm.py checks it, marked gpu.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels.glcm import _cuda, _numpy
from facies.kernels.glcm.definition import check_pairs, normalise_offsets, offsets_for, quantisation
from tests.cuda_harness import H100, HarnessBackend, cuda_on_cpu
from tests.cuda_harness.broken import Breakage, broken_source

LEVELS = [defines["GLCM_LEVELS"] for _, defines, _ in _cuda.CUDA_SPECIALISATIONS]


def kernels(*names):
    """The ``cuda_kernels`` marker of a test that launches these kernels of glcm.cu."""
    return pytest.mark.cuda_kernels(_cuda.SOURCE, *names)


def one_sm(harness):
    """The harness with a one-SM device: a few thousand threads, so grid-stride loops over more voxels wrap."""
    return HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1), harness.flags)


def case(shape, seed, dtype):
    """Normal amplitudes with NaNs (7%), +-inf, values beyond the range and dead traces (15%, zeros there)."""
    rng = np.random.default_rng(seed)
    x = (1.2 * rng.normal(size=shape)).astype(dtype)
    x[rng.random(shape) < 0.07] = np.nan
    x.flat[rng.integers(0, x.size, 3)] = [np.inf, -np.inf, 1e30]
    mask = rng.random(shape[:2]) > 0.15
    x[~mask] = 0.0
    return x, mask


def run(backend_module, x, levels, window, directions, mask, region=None, poison=np.nan, distance=1):
    offsets = normalise_offsets(offsets_for(directions, distance))
    low, scale = quantisation(levels, (-2.0, 2.0))
    region = region or tuple((0, n) for n in x.shape)
    out = np.full((4,) + tuple(b - a for a, b in region), poison, np.float32)
    got = backend_module.texture(x, levels, low, scale, window, offsets, check_pairs(window, offsets), mask, out,
                                 region)
    assert got is out
    return out


SPECS = [pytest.param(levels, dtype, marks=kernels(f"glcm_quantise_{'double' if dtype == np.float64 else 'float'}",
                                                    "glcm_measures"),
                      id=f"L{levels}-{np.dtype(dtype).name}")
         for levels in LEVELS for dtype in (np.float32, np.float64)]


@pytest.mark.parametrize(("levels", "dtype"), SPECS)
def test_every_specialisation_equals_numpy_bit_for_bit(harness, levels, dtype):
    x, mask = case((6, 7, 29), seed=levels, dtype=dtype)
    with cuda_on_cpu(harness):
        whole = run(_cuda, x, levels, (5, 5, 9), "all", mask)
    np.testing.assert_array_equal(whole, run(_numpy, x, levels, (5, 5, 9), "all", mask))
    assert np.isnan(whole[:, ~mask]).all() and np.isfinite(whole).mean() > 0.6
    n_il, n_xl, n_t = x.shape
    for region in (((1, n_il - 1), (2, n_xl - 1), (3, n_t - 2)),  # interior, odd sizes
                   ((n_il - 1, n_il), (0, n_xl), (0, n_t)),  # one inline at the edge
                   ((1, 2), (1, 2), (n_t - 1, n_t))):  # one voxel
        with cuda_on_cpu(harness):
            got = run(_cuda, x, levels, (5, 5, 9), "all", mask, region, poison=1e30)
        np.testing.assert_array_equal(got, whole[(slice(None), *(slice(a, b) for a, b in region))],
                                      err_msg=f"region {region} != the whole volume's")


@kernels("glcm_quantise_float", "glcm_measures")
@pytest.mark.parametrize(("window", "directions", "distance"), [((3, 3, 5), "lateral", 1), ((1, 5, 7), "axes", 2),
                                                                ((7, 3, 3), "all", 1)])
def test_other_windows_and_offsets_on_one_sm(harness, window, directions, distance):
    """One SM: 4,096 threads for the measures and 8,192 for the quantisation, fewer than the voxels, so both
    grid-stride loops wrap; anisotropic windows, distances, and the lateral and axis sets."""
    x, mask = case((10, 12, 72), seed=window[0], dtype=np.float32)  # 8,640 voxels
    with cuda_on_cpu(one_sm(harness)):
        got = run(_cuda, x, 16, window, directions, mask, distance=distance)
        kernel = _cuda.get_module(_cuda.SOURCE, _cuda.glcm_defines(16)).get_function("glcm_measures")
    assert kernel.launches[-1] == ((32, 1, 1), (128, 1, 1))
    np.testing.assert_array_equal(got, run(_numpy, x, 16, window, directions, mask, distance=distance))


@kernels("glcm_quantise_float", "glcm_quantise_double")
def test_the_quantisation_kernels_give_numpys_levels(harness):
    levels = 4
    low, scale = quantisation(levels, (-1.0, 1.0))
    values = [-5.0, -1.0, -0.5000001, -0.5, 0.0, 0.49999, 0.5, 0.9999, 1.0, 7.0, np.nan, np.inf, -np.inf, 3e38, 2.0]
    for dtype in (np.float32, np.float64):
        x = np.array(values * 3, dtype).reshape(3, 1, -1)
        live = np.array([[1], [0], [1]], np.uint8)
        want = _numpy.quantise(x, levels, low, scale, live.astype(bool))
        want = np.where(want < 0, 255, want).astype(np.uint8)
        lev = np.full(x.shape, 77, np.uint8)
        with cuda_on_cpu(harness):
            module = _cuda.get_module(_cuda.SOURCE, _cuda.glcm_defines(levels))
            name = "glcm_quantise_double" if dtype == np.float64 else "glcm_quantise_float"
            module.get_function(name)((2,), (16,), (x, live, lev, *(np.int64(n) for n in x.shape),
                                                    np.float64(low), np.float64(scale)))
        np.testing.assert_array_equal(lev, want)
        assert (lev[1] == 255).all()  # a dead trace


def test_block_sizes_fit_the_shared_memory_budget():
    for levels in range(2, 33):
        block = _cuda.block_threads(levels)
        assert 32 <= block <= _cuda.MAX_BLOCK and block & (block - 1) == 0
        assert 2 * levels * (levels + 1) // 2 * block <= _cuda.SHARED_BUDGET
    assert [_cuda.block_threads(v) for v in (8, 16, 32)] == [256, 128, 32]


#: Deliberately broken copies: the comparison with NumPy must notice each.
BROKEN = {
    "window-one-sample-short": Breakage(_cuda.SOURCE, "vk + r_t >= n_t ? n_t - 1 : vk + r_t",
                                        "vk + r_t >= n_t ? n_t - 1 : vk + r_t - 1", "the window one sample short"),
    "diagonal-as-off-diagonal": Breakage(_cuda.SOURCE, "if (code < GLCM_LEVELS) {", "if (code < 0) {",
                                         "diagonal codes weighted as off-diagonal ones"),
    "invalid-neighbour-counted": Breakage(_cuda.SOURCE, "if (second == GLCM_INVALID) continue;", "",
                                          "pairs with an invalid second voxel counted"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_broken_kernel_is_caught(harness, broken):
    x, mask = case((4, 5, 17), seed=1, dtype=np.float32)
    with broken_source(BROKEN[broken]), cuda_on_cpu(harness):
        got = run(_cuda, x, 16, (5, 5, 9), "all", mask)
    assert not np.array_equal(got, run(_numpy, x, 16, (5, 5, 9), "all", mask), equal_nan=True)
