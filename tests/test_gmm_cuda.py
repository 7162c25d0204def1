"""CUDA mixture kernels against the NumPy reference on the same seed (need a GPU: marked ``gpu``).

The S-step compares ``w + 0.5`` with ``p0 * 2**32``; ``exp``/``log1p`` may differ in the last bit
between the CPU and the GPU, which flips a draw with probability about ``1e-16 * 2**32 = 4e-7``.
Tests therefore allow a handful of flipped draws and compare whole fits on problems small
enough (about 1e5 draws) that a flip is unlikely, with tolerances that a flip would break.
"""

import numpy as np
import pytest

from facies.kernels.gmm import MODELS, PhiloxDraws, fit_mixtures, quadratic_features
from facies.kernels.gmm._numpy import NumpyOps
from facies.kernels.philox import stream_words32

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    return pytest.importorskip("cupy")


def test_philox_words_equal_numpy(cp):
    from facies.kernels.gmm._cuda import stream_words_cuda

    for key, c, first, n in [((5, 2), (3, 7, 2**64 - 1), 0, 45), ((2**63, 2), (0, 9, 4), 11, 1001)]:
        got = stream_words_cuda(key, *c, n, first_block=first).get()
        np.testing.assert_array_equal(got, stream_words32(key, *c, n, first_block=first))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ops_equal_numpy(cp, k):
    from facies.kernels.gmm._cuda import CudaOps

    rng = np.random.default_rng(k)
    b, g, n = 3, 4, 1001  # n not a multiple of the block or of 8
    lj = rng.normal(-3, 2, (b, g, k, n))
    draws = PhiloxDraws(7, [3, 5, 6], tag=2, model_ids=[0, 2, 5, 8], n=n)
    dev = cp.asarray(lj)
    ll, resp = NumpyOps.posterior(lj)
    ll_gpu, resp_gpu = CudaOps.posterior(dev)
    np.testing.assert_allclose(ll_gpu.get(), ll, rtol=1e-12)
    np.testing.assert_allclose(resp_gpu.get(), resp, rtol=1e-12, atol=1e-15)
    head, cl = NumpyOps.classify(lj)
    head_gpu, cl_gpu = CudaOps.classify(dev)
    np.testing.assert_array_equal(head_gpu.get(), head)
    np.testing.assert_allclose(cl_gpu.get(), cl, rtol=1e-13)
    if k > 1:
        ll, head = NumpyOps.sstep(lj, draws, 4)
        ll_gpu, head_gpu = CudaOps.sstep(dev, draws, 4)
        np.testing.assert_allclose(ll_gpu.get(), ll, rtol=1e-12)
        assert head_gpu.shape == head.shape
        assert (head_gpu.get() != head).sum() <= 2  # last-bit exp differences only


def test_fits_equal_numpy_on_same_seed(cp):
    from facies.kernels.gmm._cuda import CudaOps

    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 1, (300, 3)), rng.normal(2.5, 0.6, (200, 3))])
    q = np.stack([quadratic_features(x[:, [0, 1]]), quadratic_features(x[:, [1, 2]])])
    draws = PhiloxDraws(3, [3, 6], 2, range(9), len(x))
    cpu = fit_mixtures(q, 2, MODELS, draws, sem_iter=20)
    gpu = fit_mixtures(cp.asarray(q), 2, MODELS, draws, sem_iter=20, ops=CudaOps)
    np.testing.assert_array_equal(gpu.valid.get(), cpu.valid)
    np.testing.assert_allclose(gpu.loglik.get(), cpu.loglik, rtol=1e-8)
    np.testing.assert_allclose(gpu.mixture.means.get(), cpu.mixture.means, rtol=1e-6, atol=1e-8)


def test_selection_gpu_equals_cpu(cp):
    from facies.engine.backend import get_backend
    from facies.engine.selection import SelectionSettings, run_selection

    rng = np.random.default_rng(5)
    data = [np.column_stack([rng.normal(s, 1, (150, 2)), rng.normal(0, 1, (150, 2))]) for s in (0.0, 2.0, -2.0)]
    names = ["a", "b", "noise1", "noise2"]
    settings = SelectionSettings(sem_iter=10, kmeans_starts=2)
    cpu = run_selection(data, names, settings=settings)
    gpu = run_selection(data, names, settings=settings, backend=get_backend("gpu"), require_gpu=True)
    assert gpu.device == "gpu" and cpu.device == "cpu"
    assert gpu.best.attributes == cpu.best.attributes
    for dim, row in cpu.best_per_dimension.items():
        assert gpu.best_per_dimension[dim].attributes == row.attributes
        assert gpu.best_per_dimension[dim].score == pytest.approx(row.score, rel=1e-6)
