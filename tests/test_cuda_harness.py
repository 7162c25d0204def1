"""The real kuwahara.cu, run on the CPU through the real ``_cuda.filter_volume``, against the NumPy backend.

No GPU: ``tests/cuda_harness`` compiles the exact text NVRTC compiles (preamble + ``.cu``) with g++
against ``cuda_host.h`` (blocks in sequence, threads as fibers, ``__syncthreads`` a real barrier) and
swaps it in with ``cuda_build.use_backend`` (docs/design.md, "CUDA kernels on the CPU"). Each
specialisation is built once per session (``FACIES_CUDA_HARNESS_CACHE`` keeps them across sessions).

Tolerances. The kernels use only +, -, *, / and fmax (IEEE-exact on both sides; the harness compiles
with ``-ffp-contract=off``), but the stats differ *by design* from NumPy's: CUDA sums data shifted by
the box's first valid value, NumPy raw moments (docs/kuwahara.md, "CPU and GPU"). So, on random data,
a mean agrees to 1e-6 (float32) / 1e-12 (float64) relative, and two windows whose variances agree to
~1e-15 may be ordered differently (a near-tie flip: allowed only where it is one, as in
tests/test_kuwahara_gpu.py). Medians of the same window are the same value bit for bit. On small
integers every variance is exact, so the results are bit-identical except float64 means (``shift +
s/n`` vs ``S/n``, an ulp). A region of the volume equals that region of the whole result bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels import cuda_build
from facies.kernels.kuwahara import _cuda, _numpy
from facies.kernels.kuwahara.windows import MODES
from tests.cuda_harness import H100, CompileError, HarnessBackend, cuda_on_cpu, kernel_names
from tests.cuda_harness.broken import BREAKAGES, broken_source
from tests.test_kuwahara_gpu import near_tie_values


def kernels(*names):
    """The ``cuda_kernels`` marker of a test that launches these kernels of kuwahara.cu."""
    return pytest.mark.cuda_kernels(_cuda.SOURCE, *names)


#: (defines, stat) of every declared specialisation, both statistics each, marked with the kernels they launch.
SPECS = [pytest.param((defines, stat), marks=kernels("kuwahara_box_stats", f"kuwahara_select_{stat}"))
         for _, defines, _ in _cuda.CUDA_SPECIALISATIONS for stat in ("mean", "median")]


def _spec_id(spec) -> str:
    d, stat = spec
    return (f"{d['KUW_T']}-{'octant' if d['KUW_OCTANT'] else 'shifted'}-"
            f"r{d['KUW_R_IL']}{d['KUW_R_XL']}{d['KUW_R_T']}-{stat}")


def _spec_args(defines):
    dtype = np.float64 if defines["KUW_T_IS_DOUBLE"] else np.float32
    mode = "octant" if defines["KUW_OCTANT"] else "shifted"
    return dtype, mode, (defines["KUW_R_IL"], defines["KUW_R_XL"], defines["KUW_R_T"])


def random_case(shape, seed, dtype, integers=False):
    """NaNs (7%) and dead traces (15%, zeros there) in normal or small-integer data."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 4, shape) if integers else rng.normal(size=shape)).astype(dtype)
    x[rng.random(shape) < 0.07] = np.nan
    mask = rng.random(shape[:2]) > 0.15
    x[~mask] = 0.0
    return x, mask


def cuda(x, radius, mode, stat, mask, out_region=None, poison=np.nan):
    """``_cuda.filter_volume`` into a poisoned output (a voxel the kernel forgets to write shows)."""
    region = out_region or tuple((0, n) for n in x.shape)
    out = np.full(tuple(b - a for a, b in region), poison, x.dtype)
    assert _cuda.filter_volume(x, radius, mode, stat, mask, out, out_region=out_region) is out
    return out


def numpy(x, radius, mode, stat, mask, out_region=None):
    region = out_region or tuple((0, n) for n in x.shape)
    out = np.empty(tuple(b - a for a, b in region), x.dtype)
    return _numpy.filter_volume(x, radius, mode, stat, mask, out, out_region=out_region)


def assert_matches_numpy(got, want, x, mask, radius, mode, stat):
    """Equal up to the documented tolerance (module docstring) and genuine near-tie flips."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    tol = 1e-6 if x.dtype == np.float32 else 1e-12
    if stat == "median":
        differ = ~((got == want) | np.isnan(want))
    else:
        differ = ~np.isclose(got, want, rtol=tol, atol=tol, equal_nan=True)
    flips = np.argwhere(differ)
    assert len(flips) <= max(2, got.size // 200), f"{len(flips)} voxels differ, e.g. {flips[:5].tolist()}"
    for p in map(tuple, flips):
        candidates = near_tie_values(x, mask, p, radius, mode, stat)
        assert len(candidates) > 1 and np.isclose(candidates, got[p], rtol=tol, atol=tol).any(), (
            f"voxel {p}: CUDA {got[p]!r}, NumPy {want[p]!r} is not a near-tie flip ({candidates})")


def test_kernel_names_are_parsed_from_the_sources():
    assert kernel_names(cuda_build.read_source(_cuda.SOURCE)) == [
        "kuwahara_box_stats", "kuwahara_select_mean", "kuwahara_select_median"]
    assert kernel_names(cuda_build.read_source("gmm/gmm.cu")) == [
        "gmm_philox_words", "gmm_posterior", "gmm_sstep", "gmm_classify"]


@pytest.mark.parametrize("spec", SPECS, ids=[_spec_id(p.values[0]) for p in SPECS])
def test_every_specialisation_matches_numpy(cuda_cpu, spec):
    defines, stat = spec
    dtype, mode, radius = _spec_args(defines)
    big = max(radius) > 3
    # Stats grid > 1 block on every axis for the small radii (block 32 x 4 x 2 box starts); odd shapes.
    shape = (3, 5, 11) if big else (5, 9, 37)
    x, mask = random_case(shape, seed=sum(radius) + 7 * defines["KUW_OCTANT"], dtype=dtype)
    whole = cuda(x, radius, mode, stat, mask)
    assert_matches_numpy(whole, numpy(x, radius, mode, stat, mask), x, mask, radius, mode, stat)
    n_il, n_xl, n_t = shape
    for crop in (((1, n_il - 1), (2, n_xl - 1), (3, n_t - 2)),  # interior, odd sizes
                 ((n_il - 1, n_il), (0, n_xl), (0, n_t)),  # 1 voxel thick, at the edge
                 ((0, n_il), (n_xl // 2, n_xl // 2 + 1), (1, n_t)),
                 ((1, 2), (1, 2), (n_t - 1, n_t))):  # one voxel
        index = tuple(slice(a, b) for a, b in crop)
        np.testing.assert_array_equal(cuda(x, radius, mode, stat, mask, crop, poison=1e30), whole[index],
                                      err_msg=f"region {crop} != the whole volume's")
    # Small integers: exact variances, so CUDA == NumPy bit for bit (float64 means: an ulp, shift + s/n vs S/n).
    xi, mi = random_case(shape, seed=3, dtype=dtype, integers=True)
    for crop in (None, ((1, n_il), (1, n_xl - 1), (2, n_t - 3))):
        got, want = cuda(xi, radius, mode, stat, mi, crop), numpy(xi, radius, mode, stat, mi, crop)
        if dtype == np.float64 and stat == "mean":
            np.testing.assert_allclose(got, want, rtol=2e-16 * 4, atol=0, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)


def test_device_figures_come_from_the_harness_once(cuda_cpu, monkeypatch):
    calls = []
    real = cuda_cpu.attributes
    monkeypatch.setattr(cuda_cpu, "attributes", lambda device: calls.append(device) or real(device))
    with cuda_on_cpu(cuda_cpu):  # nested: the caches are emptied on the way in
        x, mask = random_case((3, 4, 9), seed=1, dtype=np.float32)
        for _ in range(3):
            cuda(x, (1, 1, 1), "octant", "mean", mask)
        assert cuda_build.device_attributes() == H100
    assert calls == [0]


@pytest.mark.parametrize("stat", [pytest.param(s, marks=kernels("kuwahara_box_stats", f"kuwahara_select_{s}"))
                                  for s in ("mean", "median")])
def test_launch_geometry_several_blocks_and_a_wrapping_grid_stride_loop(harness, stat):
    """One SM: the select kernels get 32 blocks of 256 threads, fewer than the voxels, so the loop wraps."""
    small = HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1))
    shape, radius = (5, 9, 200), (1, 1, 1)  # 9,000 voxels > 32 * 256 = 8,192 threads
    x, mask = random_case(shape, seed=4, dtype=np.float32)
    with cuda_on_cpu(small):
        got = cuda(x, radius, "octant", stat, mask)
        module = cuda_build.get_module(_cuda.SOURCE, _cuda.kuwahara_defines(np.float32, radius, "octant"))
    stats = module.get_function("kuwahara_box_stats").launches
    select = module.get_function(f"kuwahara_select_{stat}").launches
    assert stats == [((7, 3, 3), (32, 4, 2))]  # 201 x 10 x 6 box starts
    assert select == [((32, 1, 1), (256, 1, 1))] and 32 * 256 < x.size
    assert_matches_numpy(got, numpy(x, radius, "octant", stat, mask), x, mask, radius, "octant", stat)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("broken", ["kuwahara-no-barrier", "kuwahara-tile-shifted", "kuwahara-tile-unloaded-cells"])
def test_a_broken_kernel_is_caught(harness, broken, mode):
    """A kernel with its barrier removed, its shared tile loaded one sample off, or tile cells left unloaded
    (shared memory starts poisoned: NaN) differs from NumPy."""
    x, mask = random_case((5, 9, 37), seed=5, dtype=np.float32, integers=True)
    with broken_source(BREAKAGES[broken]), cuda_on_cpu(harness):
        got = cuda(x, (1, 1, 1), mode, "mean", mask)
    assert not np.array_equal(got, numpy(x, (1, 1, 1), mode, "mean", mask), equal_nan=True)


def test_barrier_divergence_and_bad_arguments_are_errors(harness, monkeypatch):
    good = cuda_build.read_source(_cuda.SOURCE)
    monkeypatch.setattr(cuda_build, "read_source", lambda name: good.replace(
        "    __syncthreads();\n", "    if (rank != 0) __syncthreads();\n"))
    x, mask = random_case((3, 4, 9), seed=6, dtype=np.float32)
    with cuda_on_cpu(harness):
        with pytest.raises(RuntimeError, match=r"barrier divergence in block \(0,0,0\)"):
            cuda(x, (1, 1, 1), "octant", "mean", mask)
    monkeypatch.undo()
    with cuda_on_cpu(harness):
        kernel = cuda_build.get_module(_cuda.SOURCE, _cuda.kuwahara_defines(np.float32, (1, 1, 1), "octant")
                                       ).get_function("kuwahara_select_mean")
        live = np.ones((3, 4), np.uint8)
        m = np.zeros((4, 5, 10))
        dims = [np.int64(v) for v in (3, 4, 9, 0, 0, 0, 3, 4, 9)]
        out = np.empty_like(x)
        with pytest.raises(TypeError, match=r"argument 5 \(i8\): passed as int32"):
            kernel((1,), (32,), (x, live, m, m, out, np.int32(3), *dims[1:]))
        with pytest.raises(TypeError, match="array of dtype float64 passed for a pointer to f4"):
            kernel((1,), (32,), (x.astype(np.float64), live, m, m, out, *dims))
        with pytest.raises(ValueError, match="not C-contiguous"):
            kernel((1,), (32,), (x, live, m, m, np.empty((3, 4, 18), np.float32)[:, :, ::2], *dims))
        with pytest.raises(ValueError, match="exceeds CUDA's limits"):
            kernel((1,), (2048,), (x, live, m, m, out, *dims))


def test_a_source_the_harness_cannot_model_fails_to_compile(harness):
    with pytest.raises(CompileError, match="g\\+\\+ could not compile"):
        harness.compile('extern "C" __global__ void k(float* x) { x[0] = __shfl_sync(0xffffffff, x[0], 1); }', ())
