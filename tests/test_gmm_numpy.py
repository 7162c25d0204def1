"""The fused CPU steps (kernels/gmm/_numpy.py) against the reference composition (kernels/gmm/_ops.py), and k-means."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facies.kernels.gmm._numpy as gmm_numpy
from facies.kernels.gmm import PhiloxDraws, log_density, quadratic_features
from facies.kernels.gmm._density import log_joint_coefficients
from facies.kernels.gmm._fit import kmeans
from facies.kernels.gmm._numpy import TILE, NumpyOps
from facies.kernels.gmm._ops import MixtureOps


def _problem(seed, b, g, k, n, d=3):
    rng = np.random.default_rng(seed)
    q = np.stack([quadratic_features(rng.normal(size=(n, d))) for _ in range(b)])
    coef = rng.normal(0, 0.7, (b, g * k, q.shape[-1]))
    return q, coef, q.sum(axis=1)


def _assert_statistics_close(got, want):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-8)


# TILE + 37 voxels: a full tile and a short one; model ids not consecutive: the gathered words path
@pytest.mark.parametrize("n, model_ids", [(TILE + 37, [0, 2, 5, 8]), (501, range(9))])
def test_fused_s_step_equals_reference(n, model_ids):
    model_ids = list(model_ids)
    q, coef, total = _problem(1, 3, len(model_ids), 2, n)
    draws = PhiloxDraws(11, [3, 5, 6], tag=2, model_ids=model_ids, n=n)
    ll, stats = NumpyOps.s_step(q, coef, 2, draws, 7, total)
    ll_ref, stats_ref = MixtureOps.s_step(q, coef, 2, draws, 7, total)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-11)
    # the drawn partitions are equal (a flip would need |u - p0| at the rounding of eps, ~1e-16)
    np.testing.assert_array_equal(stats[0], stats_ref[0])
    _assert_statistics_close(stats, stats_ref)
    # another iteration draws another partition
    assert not np.array_equal(NumpyOps.s_step(q, coef, 2, draws, 8, total)[1][0], stats[0])


def test_fused_c_step_and_loglik_equal_reference():
    q, coef, total = _problem(2, 2, 9, 2, TILE + 5)
    cl, stats = NumpyOps.c_step(q, coef, 2, total)
    cl_ref, stats_ref = MixtureOps.c_step(q, coef, 2, total)
    np.testing.assert_allclose(cl, cl_ref, rtol=1e-11)
    np.testing.assert_array_equal(stats[0], stats_ref[0])
    _assert_statistics_close(stats, stats_ref)
    np.testing.assert_allclose(NumpyOps.observed_loglik(q, coef, 2, total), MixtureOps.observed_loglik(q, coef, 2),
                               rtol=1e-11)


@given(seed=st.integers(0, 2**31), b=st.integers(1, 3), g=st.integers(1, 4), n=st.integers(1, 300),
       tile=st.sampled_from([1, 7, 64, TILE]))
@settings(max_examples=30, deadline=None)
def test_fused_steps_equal_reference_on_random_shapes(seed, b, g, n, tile):
    q, coef, total = _problem(seed, b, g, 2, n, d=2)
    draws = PhiloxDraws(seed, list(range(1, b + 1)), tag=2, model_ids=range(g), n=n)
    saved, gmm_numpy.TILE = gmm_numpy.TILE, tile  # small tiles: many tile boundaries, a short last tile
    try:
        ll, stats = NumpyOps.s_step(q, coef, 2, draws, 0, total)
        cl, cstats = NumpyOps.c_step(q, coef, 2, total)
    finally:
        gmm_numpy.TILE = saved
    ll_ref, stats_ref = MixtureOps.s_step(q, coef, 2, draws, 0, total)
    cl_ref, cstats_ref = MixtureOps.c_step(q, coef, 2, total)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(cl, cl_ref, rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(stats[0], stats_ref[0])
    np.testing.assert_array_equal(cstats[0], cstats_ref[0])


@pytest.mark.parametrize("tight_first", [True, False])
def test_fused_log_likelihoods_keep_their_precision_with_a_tight_cluster(tight_first):
    """A cluster of variance 1e-6 has coefficients ~1e6: sums over the feature totals must not cancel them."""
    rng = np.random.default_rng(4)
    d, n = 3, 10_000
    x = np.concatenate([rng.normal(3.0, 1.0, (n // 2, d)), rng.normal(4.5, 1e-3, (n - n // 2, d))])
    means = np.array([[3.0] * d, [4.5] * d])
    cov = np.stack([np.eye(d), 1e-6 * np.eye(d)])
    if tight_first:
        means, cov = means[::-1].copy(), cov[::-1].copy()
    coef = log_joint_coefficients(np.full((1, 1, 2), 0.5), means[None, None], cov[None, None],
                                  np.ones((1, 1, 2), bool)).reshape(1, 2, -1)
    q = quadratic_features(x)[None]
    lj = np.stack([math.log(0.5) + log_density(x, means[j], cov[j]) for j in range(2)]).astype(np.longdouble)
    top = lj.max(axis=0)
    exact_ll = float(np.sum(top + np.log1p(np.exp(-np.abs(lj[0] - lj[1])))))
    exact_cl = float(np.sum(top))
    ll = NumpyOps.observed_loglik(q, coef, 2, q.sum(1))[0, 0]
    cl = NumpyOps.c_step(q, coef, 2, q.sum(1))[0][0, 0]
    # the reference composition is within ~1e-5 here; sums taken only over the totals were off by ~5e-4
    assert abs(ll - exact_ll) < 5e-5
    assert abs(cl - exact_cl) < 5e-5


def _lloyd(x, centres, n_iter):
    """Plain Lloyd iterations on one data set (the reference for the batched k-means)."""
    for _ in range(n_iter):
        dist = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        labels = dist.argmin(axis=1)
        for j in range(len(centres)):
            if (labels == j).any():
                centres[j] = x[labels == j].mean(axis=0)
    dist = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return dist.argmin(axis=1), dist.min(axis=1).sum()


@pytest.mark.parametrize("k", [2, 3])
def test_kmeans_equals_plain_lloyd_per_item(k):
    rng = np.random.default_rng(k)
    xs = [np.concatenate([rng.normal(0, 1, (120, 2)), rng.normal(4, 1, (80, 2)), rng.normal((0, 6), 1, (60, 2))])
          for _ in range(3)]
    q = np.stack([quadratic_features(x) for x in xs])
    draws = PhiloxDraws(9, [1, 2, 3], tag=k, model_ids=[0], n=len(xs[0]))
    labels, ok = kmeans(q, k, draws, starts=2, n_iter=15)
    assert labels.shape == (3, k, len(xs[0])) and ok.all()
    np.testing.assert_array_equal(labels.sum(axis=1), 1.0)
    for i, x in enumerate(xs):
        best = None
        for s in range(2):
            idx = np.minimum((draws.kmeans(s, k)[i] * len(x)).astype(int), len(x) - 1)
            # the batched version keeps the labels of its last assignment: 14 updates, then the 15th assignment
            lab, inertia = _lloyd(x, x[idx].copy(), 14)
            if best is None or inertia < best[1]:
                best = (lab, inertia)
        np.testing.assert_array_equal(labels[i].argmax(axis=0), best[0])
