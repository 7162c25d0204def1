"""The real coherence.cu, run on the CPU through the real ``_cuda.semblance``, against the NumPy backend.

No GPU: ``tests/cuda_harness`` compiles each declared specialisation (``COH_T`` float and double) with g++
and swaps it in (docs/design.md, "CUDA kernels on the CPU"). Inputs hold NaNs and infinities (the window leaves them
out; a non-finite centre gives NaN), windows reach past the volume's edges, the regions are whole volumes and boxes at a
corner, the dips include NaNs, whole numbers (no interpolation) and values past ``max_dip`` (clipped).

Tolerance: none. The kernels do the NumPy backend's double operations in its order (+, -, *, /, floor,
fmin/fmax; the harness compiles with ``-ffp-contract=off``), so the results are bit-identical. On a GPU,
NVRTC contracts multiply-adds (FMA), so tests/test_attributes_coherence.py allows a relative 1e-5 there.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels.coherence import _cuda, _numpy, check_window
from tests.cuda_harness import H100, HarnessBackend, cuda_on_cpu

DTYPES = {"float": np.float32, "double": np.float64}
KERNELS = ("coherence_semblance", "coherence_semblance_steered")
#: (window, region) cases: a 3x3x9 window on the whole volume, an inline-only one at a corner, a wide and flat one.
CASES = [((3, 3, 9), None), ((5, 1, 3), ((0, 4), (6, 10), (30, 61))), ((3, 5, 1), ((2, 9), (0, 10), (0, 5)))]


def one_sm(harness):
    """The harness with a one-SM device: 32 blocks of 256 threads, so the grid-stride loop must wrap."""
    return HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1), harness.flags)


def case(shape, dtype, seed):
    """Random amplitudes with NaNs, and dips with NaNs, whole numbers and values past max_dip = 1.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    x[rng.random(shape) < 0.05] = np.nan
    x[3, 4] = np.nan  # a dead trace
    x[rng.random(shape) < 0.01] = np.inf  # infinite samples are invalid too
    dip_il = rng.uniform(-2.5, 2.5, shape).astype(dtype)
    dip_xl = rng.uniform(-2.5, 2.5, shape).astype(dtype)
    dip_il[rng.random(shape) < 0.03] = np.nan
    whole = rng.random(shape) < 0.2
    dip_il[whole] = np.round(dip_il[whole])
    dip_xl[whole] = np.round(dip_xl[whole])
    return x, (dip_il, dip_xl)


def numpy_semblance(x, window, dips, region):
    shape = tuple(b - a for a, b in region)
    return _numpy.semblance(x, window, dips, 1.5, np.empty(shape, x.dtype), region, workers=1)


def cuda_semblance(x, window, dips, region):
    shape = tuple(b - a for a, b in region)
    return _cuda.semblance(x, window, dips, 1.5, np.empty(shape, x.dtype), region)


@pytest.mark.parametrize("grid", ["h100", "one-sm"])
@pytest.mark.parametrize("spec", [pytest.param(d, id=d["COH_T"], marks=pytest.mark.cuda_kernels(_cuda.SOURCE, *KERNELS))
                                  for _, d, _ in _cuda.CUDA_SPECIALISATIONS])
def test_semblance_kernels_equal_numpy_bit_for_bit(harness, spec, grid):
    dtype = DTYPES[spec["COH_T"]]
    shape = (9, 10, 101)  # 9,090 voxels: more than the one-SM grid's 8,192 threads
    x, dips = case(shape, dtype, seed=len(spec["COH_T"]))
    with cuda_on_cpu(harness if grid == "h100" else one_sm(harness)):
        for window, region in CASES:
            window = check_window(window)
            region = region or tuple((0, n) for n in shape)
            for steer in (None, dips):
                got = cuda_semblance(x, window, steer, region)
                want = numpy_semblance(x, window, steer, region)
                assert got.dtype == want.dtype == dtype
                np.testing.assert_array_equal(got, want, err_msg=f"window {window}, region {region}, "
                                                                  f"steered {steer is not None}")
                assert np.isnan(got).any() and np.isfinite(got).mean() > 0.5  # NaNs kept, but not everywhere


@pytest.mark.cuda_kernels(_cuda.SOURCE, *KERNELS)
def test_a_region_of_the_kernel_equals_the_whole_volume(harness):
    """The kernel on a box of the volume (the brick engine's interior) gives that box of the whole result."""
    x, dips = case((7, 8, 40), np.float32, seed=5)
    whole_region = ((0, 7), (0, 8), (0, 40))
    box = ((2, 6), (1, 8), (5, 33))
    cut = tuple(slice(a, b) for a, b in box)
    with cuda_on_cpu(harness):
        for steer in (None, dips):
            whole = cuda_semblance(x, (3, 3, 9), steer, whole_region)
            np.testing.assert_array_equal(cuda_semblance(x, (3, 3, 9), steer, box), whole[cut])


@pytest.mark.cuda_kernels(_cuda.SOURCE, "coherence_semblance")
def test_a_flat_reflector_gives_one_and_a_dead_trace_nan(harness):
    t = np.arange(30)
    x = np.broadcast_to(np.sin(t / 3.0), (5, 6, 30)).astype(np.float32).copy()
    x[2, 3] = np.nan
    with cuda_on_cpu(harness):
        got = cuda_semblance(x, (3, 3, 9), None, ((0, 5), (0, 6), (0, 30)))
    assert np.isnan(got[2, 3]).all()
    live = np.ones((5, 6), bool)
    live[2, 3] = False
    np.testing.assert_allclose(got[live], 1.0, rtol=1e-6)
