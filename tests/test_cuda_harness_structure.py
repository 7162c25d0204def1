"""The real structure.cu (``structure_eigen``), run on the CPU through the real ``_cuda.tensor_attributes``,
against the NumPy backend's closed form (``kernels/structure/eigen.py``).

Tolerance. The kernel evaluates the NumPy expressions in the same order in double, but with glibc's ``acos``
and ``cos`` where NumPy may use its own SIMD versions: they can differ in the last ulp of a double, far below
the float32 outputs' resolution. So the outputs are equal to a relative 1e-6 (a float32 rounding may fall
either side), and exactly equal where the input is degenerate (NaN, zero, isotropic).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels.structure import _cuda, _numpy
from tests.cuda_harness import H100, HarnessBackend, cuda_on_cpu


def tensors(n, seed):
    """Tensors (6, n): sums of a few random outer products (near-planar to chaotic), and degenerate ones."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 5, 3)) * rng.uniform(0.0, 1.0, (n, 5, 1)) ** 3  # some dominant, some not
    g[:, :, 2] += rng.uniform(0.5, 3.0, (n, 1))  # mostly sub-horizontal normals
    t = np.einsum("nki,nkj->nij", g, g) * rng.uniform(1e-3, 1e3, (n, 1, 1))
    flat = np.stack([t[:, 0, 0], t[:, 0, 1], t[:, 0, 2], t[:, 1, 1], t[:, 1, 2], t[:, 2, 2]]).astype(np.float32)
    flat[:, 0] = 0.0  # zero tensor: NaN dips, NaN chaos
    flat[:, 1] = [2, 0, 0, 2, 0, 2]  # isotropic: NaN dips, chaos 0
    flat[:, 2] = [0, 0, 0, 0, 0, 4]  # exactly planar and flat: dips 0, chaos -1
    flat[2, 3] = np.nan
    flat[4, 4] = np.inf
    return flat


def one_sm(harness):
    return HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1), harness.flags)


@pytest.mark.parametrize("grid", ["h100", "one-sm"])
@pytest.mark.cuda_kernels(_cuda.SOURCE, "structure_eigen")
def test_structure_eigen_equals_the_numpy_closed_form(harness, grid):
    t = tensors(9009, seed=3)  # more voxels than the one-SM grid's 8,192 threads
    with cuda_on_cpu(harness if grid == "h100" else one_sm(harness)):
        got = _cuda.tensor_attributes(t.reshape(6, 9, 1001))
    want = _numpy.tensor_attributes(t.reshape(6, 9, 1001), workers=1)
    for name, g, w in zip(("inline dip", "crossline dip", "chaos"), got, want):
        assert g.dtype == np.float32 and g.shape == (9, 1001)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=name)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=name)
        assert np.isnan(g.ravel()[[0, 1, 3, 4]]).all() if name != "chaos" else np.isnan(g.ravel()[[0, 3, 4]]).all()
    dips_il, dips_xl, chaos = (v.ravel() for v in got)
    assert dips_il[2] == 0 and dips_xl[2] == 0 and chaos[2] == -1 and chaos[1] == 0
