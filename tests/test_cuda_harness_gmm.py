"""The real gmm.cu, run on the CPU through the real ``_cuda.CudaOps`` wrappers, against the reference ops.

No GPU: ``tests/cuda_harness`` compiles each declared specialisation (``GMM_K``) with g++ and swaps it in
(docs/design.md, "CUDA kernels on the CPU"). The inputs are log-joint densities with NaNs (a degenerate model),
``-inf`` (a component of weight zero), exact ties and voxel counts that are not multiples of the block or of 8.

Tolerances. The Philox words and the C-step (comparisons and ``max`` only) are bit-identical. The posterior and
S-step evaluate the reference's expressions, but with glibc's ``exp``/``log``/``log1p`` where NumPy uses its own
SIMD ``exp``/``log``: they may differ in the last ulp, so responsibilities and log-likelihoods agree to 1e-14
relative and an S-step draw whose uniform lies within an ulp of its threshold may flip (about 4e-7 per draw;
at most two are allowed here, and a flip must sit on such a threshold).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels.gmm import MODELS, PhiloxDraws, fit_mixtures, quadratic_features
from facies.kernels.gmm import _cuda as gmm_cuda
from facies.kernels.gmm._numpy import NumpyOps
from facies.kernels.gmm._ops import TWO32, MixtureOps
from facies.kernels.philox import stream_words32
from tests.cuda_harness import H100, HarnessBackend, cuda_on_cpu
from tests.cuda_harness.broken import BREAKAGES, broken_source

KS = [defines["GMM_K"] for _, defines, _ in gmm_cuda.CUDA_SPECIALISATIONS]
RTOL = 1e-14


def kernels(*names):
    """The ``cuda_kernels`` marker of a test that launches these kernels of gmm.cu."""
    return pytest.mark.cuda_kernels(gmm_cuda.SOURCE, *names)


def log_joints(shape, seed):
    """Random log-joints (B, G, K, n) with a NaN voxel, a -inf component, an all -inf voxel and exact ties."""
    rng = np.random.default_rng(seed)
    lj = rng.normal(-3, 2, shape)
    b, g, k, n = shape
    lj[0, 0, :, 3] = np.nan  # every component of a voxel (a degenerate model)
    lj[-1, -1, k // 2, 5] = np.nan  # one component
    lj[0, -1, 0, 7:20] = -np.inf  # a component of weight zero
    lj[-1, 0, :, 9] = -np.inf  # no component at all
    lj[:, :, :, 11] = lj[:, :, :1, 11]  # every component tied
    return lj


def one_sm(harness):
    """The harness with a one-SM device: 32 blocks of 256 threads, so grid-stride loops over more voxels wrap."""
    return HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1), harness.flags)


@kernels("gmm_philox_words")
def test_philox_words_equal_numpys_philox(harness):
    with cuda_on_cpu(harness):
        for key, c, first, n in [((5, 2), (3, 7, 2**64 - 1), 0, 45), ((2**63, 2), (0, 9, 4), 11, 1001),
                                 ((0, 0), (0, 0, 0), 2**40, 8)]:
            got = gmm_cuda.stream_words_cuda(key, *c, n, first_block=first)
            np.testing.assert_array_equal(got, stream_words32(key, *c, n, first_block=first))
    with cuda_on_cpu(one_sm(harness)):  # 10,000 words > 32 x 256 threads: the loop wraps
        got = gmm_cuda.stream_words_cuda((1, 2), 3, 4, 5, 10_000, first_block=3)
    np.testing.assert_array_equal(got, stream_words32((1, 2), 3, 4, 5, 10_000, first_block=3))


def assert_sstep_heads_agree(got, want, lj, draws, iteration):
    """Equal but for at most two draws, each of which sits within a few ulps of its threshold."""
    differ = np.argwhere(got != want)
    assert len(differ) <= 2, f"{len(differ)} S-step draws differ, e.g. {differ[:5].tolist()}"
    words = draws.sstep(iteration) + 0.5
    with np.errstate(all="ignore"):
        lse = MixtureOps._logsumexp(lj)[0]
        cum = np.cumsum(np.exp(lj - lse[..., None, :]), axis=-2) * TWO32
    for b, g, j, i in differ:
        assert abs(words[b, g, i] - cum[b, g, j, i]) < 1e-6, f"draw {(b, g, j, i)} flipped away from its threshold"


@pytest.mark.parametrize("grid", ["h100", "one-sm"])
@pytest.mark.parametrize("k", [pytest.param(k, marks=kernels("gmm_posterior", "gmm_classify", "gmm_sstep"))
                               for k in KS])
def test_hot_steps_equal_the_reference(harness, k, grid):
    """Posterior, C-step and S-step of every specialisation, on a grid of many blocks or one that must wrap."""
    shape = (3, 4, k, 1001) if grid == "h100" else (2, 3, k, 1501)  # one SM: 9,006 voxels > 8,192 threads
    lj = log_joints(shape, seed=k)
    draws = PhiloxDraws(7, [3, 5, 6][:shape[0]], tag=2, model_ids=[0, 2, 5, 8][:shape[1]], n=shape[-1])
    with cuda_on_cpu(harness if grid == "h100" else one_sm(harness)), np.errstate(all="ignore"):
        ll, resp = gmm_cuda.CudaOps.posterior(lj)
        head, top = gmm_cuda.CudaOps.classify(lj)
        s_ll, s_head = gmm_cuda.CudaOps.sstep(lj, draws, 4)
    with np.errstate(all="ignore"):
        want_ll, want_resp = MixtureOps.posterior(lj)
        want_head, want_top = MixtureOps.classify(lj)
        want_s_ll, want_s_head = MixtureOps.sstep(lj, draws, 4)
    np.testing.assert_allclose(resp, want_resp, rtol=RTOL, atol=1e-300, equal_nan=True)
    np.testing.assert_allclose(ll, want_ll, rtol=RTOL, equal_nan=True)
    assert np.isnan(ll[0, 0]) and np.isnan(resp[0, 0, :, 3]).all()  # the NaN voxel is not hidden
    np.testing.assert_array_equal(head, want_head)
    np.testing.assert_array_equal(top, want_top)
    np.testing.assert_allclose(s_ll, want_s_ll, rtol=RTOL, equal_nan=True)
    assert s_head.shape == want_s_head.shape == shape[:2] + (k - 1, shape[-1])
    assert_sstep_heads_agree(s_head, want_s_head, lj, draws, 4)


@kernels("gmm_sstep", "gmm_classify")
def test_a_whole_fit_with_the_kernels_equals_the_cpu_fit(harness):
    """SEM then CEM through CudaOps (the kernels on the harness, the rest NumPy) against the CPU backend."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 1, (300, 3)), rng.normal(2.5, 0.6, (203, 3))])
    q = np.stack([quadratic_features(x[:, [0, 1]]), quadratic_features(x[:, [1, 2]])])
    draws = PhiloxDraws(3, [3, 6], 2, range(len(MODELS)), len(x))
    cpu = fit_mixtures(q, 2, MODELS, draws, sem_iter=20, ops=NumpyOps)
    with cuda_on_cpu(harness):
        cuda = fit_mixtures(q, 2, MODELS, draws, sem_iter=20, ops=gmm_cuda.CudaOps)
    np.testing.assert_array_equal(cuda.valid, cpu.valid)
    np.testing.assert_allclose(cuda.loglik, cpu.loglik, rtol=1e-10)
    np.testing.assert_allclose(cuda.mixture.means, cpu.mixture.means, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("broken", ["gmm-philox-halves-swapped", "gmm-sstep-wrong-model-stream"])
def test_a_broken_kernel_is_caught(harness, broken):
    lj = log_joints((3, 4, 2, 101), seed=1)
    draws = PhiloxDraws(7, [3, 5, 6], tag=2, model_ids=[0, 2, 5, 8], n=101)
    with broken_source(BREAKAGES[broken]), cuda_on_cpu(harness):
        words = gmm_cuda.stream_words_cuda((5, 2), 3, 7, 9, 45)
        _, head = gmm_cuda.CudaOps.sstep(lj, draws, 4)
    _, want = MixtureOps.sstep(lj, draws, 4)
    assert not (np.array_equal(words, stream_words32((5, 2), 3, 7, 9, 45)) and np.array_equal(head, want))
