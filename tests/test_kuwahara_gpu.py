"""CUDA Kuwahara kernel == NumPy backend (skipped where no GPU answers).

Fresh random inputs with NaNs and dead traces, odd shapes, every mode and stat, radii 1-3,
outputs poisoned before the call so that a voxel the kernel forgets to write shows up.
"""

from __future__ import annotations

import numpy as np
import pytest

from facies.kernels.kuwahara import kuwahara

pytestmark = pytest.mark.gpu


def random_case(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    x[rng.random(shape) < 0.07] = np.nan
    mask = rng.random(shape[:2]) > 0.15
    x[~mask] = 0.0
    return x, mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["octant", "shifted"])
@pytest.mark.parametrize("stat", ["mean", "median"])
@pytest.mark.parametrize("radius", [1, 2, 3, (1, 0, 2)])
def test_cuda_matches_numpy(dtype, mode, stat, radius):
    import cupy as cp

    shape = (13, 17, 37) if mode == "octant" else (9, 11, 23)
    x, mask = random_case(shape, seed=np.random.SeedSequence().entropy % 2**32, dtype=dtype)
    want = kuwahara(x, radius, mode=mode, stat=stat, mask=mask)
    for poison in (np.nan, 1e30):
        out = cp.full(shape, poison, dtype)
        got = kuwahara(cp.asarray(x), radius, mode=mode, stat=stat, mask=cp.asarray(mask), out=out)
        assert got is out
        got = cp.asnumpy(got)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        tol = 1e-6 if dtype == np.float32 else 1e-12
        # Variances agree to ~1e-15, so a different window is chosen only at exact-rounding ties.
        close = np.isclose(got, want, rtol=tol, atol=tol, equal_nan=True)
        assert close.mean() > 0.9999 and close.sum() >= close.size - 2, np.argwhere(~close)[:5]


@pytest.mark.parametrize("mode", ["octant", "shifted"])
def test_cuda_exact_on_integer_data_and_without_mask(mode):
    import cupy as cp

    x = np.random.default_rng(5).integers(0, 4, (7, 12, 33)).astype(np.float32)
    want = kuwahara(x, (2, 1, 2), mode=mode)
    np.testing.assert_array_equal(cp.asnumpy(kuwahara(cp.asarray(x), (2, 1, 2), mode=mode)), want)
    np.testing.assert_array_equal(cp.asnumpy(kuwahara(cp.asarray(x), (2, 1, 2), mode=mode, stat="median")),
                                  kuwahara(x, (2, 1, 2), mode=mode, stat="median"))


def test_cuda_non_contiguous_input_and_out():
    import cupy as cp

    x, mask = random_case((10, 12, 40), seed=3, dtype=np.float32)
    want = kuwahara(x[:, :, ::2], 2, mask=mask)
    out = cp.full((10, 12, 40), np.nan, np.float32)[:, :, ::2]
    kuwahara(cp.asarray(x)[:, :, ::2], 2, mask=cp.asarray(mask), out=out)
    np.testing.assert_allclose(cp.asnumpy(out), want, rtol=1e-6, atol=1e-6)
