"""EM trajectories against scikit-learn, batched fitting, degenerate data."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from facies.kernels.gmm import MODELS, SKLEARN_NAMES, Mixture, PhiloxDraws, fit_mixtures, quadratic_features
from facies.kernels.gmm._fit import em

rng = np.random.default_rng(7)
X = np.concatenate([rng.normal([0, 0, 0], [1, 0.5, 2], (150, 3)), rng.normal([3, 1, -1], [0.7, 1, 1], (100, 3))])
W0 = np.array([0.4, 0.6])
M0 = np.array([[0.5, 0.2, 0.1], [2.0, 0.8, -0.5]])
C0 = np.stack([np.diag([1.0, 0.6, 2.0]), np.diag([0.8, 1.2, 1.0])])


def sklearn_precisions(model):
    p = np.linalg.inv(C0)
    return {"VVV": p, "EEE": np.linalg.inv(C0.mean(0)), "VVI": 1 / np.diagonal(C0, axis1=1, axis2=2),
            "VII": 1 / np.diagonal(C0, axis1=1, axis2=2).mean(1)}[model]


def start_covariances(model):
    if model == "EEE":
        return np.stack([C0.mean(0)] * 2)
    if model == "VII":
        return np.diagonal(C0, axis1=1, axis2=2).mean(1)[:, None, None] * np.eye(3)
    return C0


@pytest.mark.parametrize("model", ["VVV", "EEE", "VVI", "VII"])
def test_em_trajectory_matches_sklearn(model):
    name = SKLEARN_NAMES[model]
    gm = GaussianMixture(2, covariance_type=name, reg_covar=0.0, max_iter=1, tol=0.0, warm_start=True,
                         weights_init=W0, means_init=M0, precisions_init=sklearn_precisions(model))
    mix = Mixture(W0[None, None], M0[None, None], start_covariances(model)[None, None])
    q = quadratic_features(X)[None]
    for _ in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        mix, _ = em(q, mix, (model,), 1)
        np.testing.assert_allclose(mix.weights[0, 0], gm.weights_, rtol=1e-9)
        np.testing.assert_allclose(mix.means[0, 0], gm.means_, rtol=1e-9, atol=1e-12)
        cov = gm.covariances_
        cov = {"tied": lambda c: np.stack([c] * 2), "diag": lambda c: c[..., None] * np.eye(3),
               "spherical": lambda c: c[:, None, None] * np.eye(3)}.get(name, lambda c: c)(cov)
        np.testing.assert_allclose(mix.covariances[0, 0], cov, rtol=1e-9, atol=1e-12)


def test_batched_fits_equal_single_fits_and_are_finite():
    q = np.stack([quadratic_features(X[:, [0, 1]]), quadratic_features(X[:, [1, 2]])])
    both = fit_mixtures(q, 2, MODELS, PhiloxDraws(5, [3, 6], 2, range(9), len(X)), sem_iter=20)
    one = fit_mixtures(q[1:], 2, MODELS, PhiloxDraws(5, [6], 2, range(9), len(X)), sem_iter=20)
    np.testing.assert_allclose(both.loglik[1], one.loglik[0], rtol=1e-12)
    assert both.valid.all() and np.isfinite(both.loglik).all()
    # the two-cluster VVV fit beats the one-cluster fit on two-cluster data
    single = fit_mixtures(q, 1, MODELS, None)
    assert (both.loglik[:, -1] > single.loglik[:, -1]).all()


def test_degenerate_data_gives_invalid_fits_not_nan():
    tiny = rng.normal(size=(3, 2))  # 3 voxels in 2-D: fewer than d + 1 per cluster for K = 2
    const = np.column_stack([rng.normal(size=50), np.full(50, 2.0)])  # a constant attribute
    for data in (tiny, const):
        q = quadratic_features(data)[None]
        for k in (1, 2):
            res = fit_mixtures(q, k, MODELS, PhiloxDraws(0, [1], k, range(9), len(data)), sem_iter=5)
            assert not np.isnan(res.loglik).any()
            if data is const or k == 2:
                assert not res.valid.any()
                assert np.isneginf(res.loglik).all()
