"""M-steps against closed forms written here independently; parameter counts; BIC; Bhattacharyya."""

import math

import numpy as np
import pytest

from facies.kernels.gmm import MODELS, Mixture, bhattacharyya, free_parameters, log_density, quadratic_features
from facies.kernels.gmm._density import unpack_statistics
from facies.kernels.gmm._fit import coefficients
from facies.kernels.gmm._models import m_step
from facies.kernels.gmm._numpy import NumpyOps

rng = np.random.default_rng(3)
X = rng.normal(size=(60, 3)) @ np.array([[2, 0.3, 0], [0, 1, 0.5], [0, 0, 0.7]]) + [1, -2, 0.5]


def responsibilities(kind):
    if kind == "hard":
        z = (np.arange(60) % 2)
        return np.stack([1.0 - z, z], axis=1)
    r = rng.uniform(size=(60, 2))
    return r / r.sum(1, keepdims=True)


def stats(r):
    q = quadratic_features(X)
    return unpack_statistics((q.T @ r)[None], 3)


def direct_scatter(r):
    nk = r.sum(0)
    mu = (r.T @ X) / nk[:, None]
    w = np.stack([(r[:, k, None] * (X - mu[k])).T @ (X - mu[k]) for k in range(2)])
    return nk, mu, w


def expected(model, r):
    """Celeux and Govaert (1995) closed forms, from the weighted scatter matrices."""
    nk, mu, w = direct_scatter(r)
    n, d = nk.sum(), 3
    if model == "EII":
        return [np.trace(w.sum(0)) / (n * d) * np.eye(d)] * 2
    if model == "VII":
        return [np.trace(w[k]) / (nk[k] * d) * np.eye(d) for k in range(2)]
    if model == "EEI":
        return [np.diag(np.diag(w.sum(0))) / n] * 2
    if model == "VVI":
        return [np.diag(np.diag(w[k])) / nk[k] for k in range(2)]
    if model == "EVI":
        dets = [np.prod(np.diag(w[k])) ** (1 / d) for k in range(2)]
        lam = sum(dets) / n
        return [lam * np.diag(np.diag(w[k])) / dets[k] for k in range(2)]
    if model == "EEE":
        return [w.sum(0) / n] * 2
    if model == "VVV":
        return [w[k] / nk[k] for k in range(2)]
    if model == "EEV":
        eig = [np.linalg.eigh(w[k]) for k in range(2)]
        a = (eig[0][0] + eig[1][0]) / n
        return [eig[k][1] @ np.diag(a) @ eig[k][1].T for k in range(2)]
    if model == "EVV":
        dets = [np.linalg.det(w[k]) ** (1 / d) for k in range(2)]
        return [sum(dets) / n * w[k] / dets[k] for k in range(2)]
    raise AssertionError(model)


@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("model", MODELS)
def test_m_step_closed_forms(model, kind):
    r = responsibilities(kind)
    weights, means, cov = m_step(model, *stats(r))
    nk, mu, _ = direct_scatter(r)
    np.testing.assert_allclose(weights[0], nk / 60, rtol=1e-12)
    np.testing.assert_allclose(means[0], mu, rtol=1e-10)
    np.testing.assert_allclose(cov[0], np.stack(expected(model, r)), rtol=1e-10, atol=1e-12)


def test_parameter_counts_match_celeux_govaert_table():
    # Table 1 of Celeux and Govaert (1995): alpha = Kd + K - 1, beta = d(d+1)/2
    for d in (1, 2, 5):
        for k in (1, 2, 4):
            a, b = k * d + k - 1, d * (d + 1) // 2
            table = {"EII": a + 1, "VII": a + k, "EEI": a + d, "VVI": a + k * d, "EVI": a + k * d - k + 1,
                     "EEE": a + b, "EEV": a + k * b - (k - 1) * d, "EVV": a + k * b - k + 1, "VVV": a + k * b}
            for model, count in table.items():
                assert free_parameters(model, d, k) == count, (model, d, k)


def test_log_joint_matches_direct_density_and_bic_identity():
    r = responsibilities("soft")
    weights, means, cov = m_step("VVV", *stats(r))
    mix = Mixture(weights[None], means[None], cov[None])
    coef, ok = coefficients(mix)
    lj = NumpyOps.log_joint(quadratic_features(X)[None], coef, 2)[0, 0]  # (K, n)
    direct = log_density(X, means[0], cov[0]) + np.log(weights[0])[:, None]
    np.testing.assert_allclose(lj, direct, rtol=1e-10)
    loglik = np.logaddexp(direct[0], direct[1]).sum()
    k = free_parameters("VVV", 3, 2)
    assert k == 1 + 6 + 12
    bic = 2 * loglik - k * math.log(60)
    from facies.engine.selection.fitting import bic as bic_fn
    assert bic_fn(loglik, k, 60) == pytest.approx(bic, rel=1e-14)


def test_bhattacharyya_values():
    eye = np.eye(2)
    assert bhattacharyya(np.array([1.0, 1]), eye, np.array([2.0, 5]), eye) == pytest.approx(2.125, rel=1e-14)
    s = np.array([[2.0, 0.4], [0.4, 1.0]])
    assert bhattacharyya(np.array([3.0, 1]), s, np.array([3.0, 1]), s) == pytest.approx(0, abs=1e-14)
    m1, m2, v1, v2 = 0.5, -1.0, 2.0, 0.3  # 1-D closed form
    ref = 0.25 * (m1 - m2) ** 2 / (v1 + v2) + 0.5 * math.log((v1 + v2) / (2 * math.sqrt(v1 * v2)))
    got = bhattacharyya(np.array([m1]), np.array([[v1]]), np.array([m2]), np.array([[v2]]))
    assert got == pytest.approx(ref, rel=1e-13)


def test_bhattacharyya_affine_invariance():
    a = np.array([[1.5, 0.2, 0], [0.3, -1, 0.4], [0, 0.1, 2]])
    m1, m2 = rng.normal(size=3), rng.normal(size=3)
    g1, g2 = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    s1, s2 = g1 @ g1.T + np.eye(3), g2 @ g2.T + 0.5 * np.eye(3)
    before = bhattacharyya(m1, s1, m2, s2)
    after = bhattacharyya(a @ m1 + 4, a @ s1 @ a.T, a @ m2 + 4, a @ s2 @ a.T)
    assert after == pytest.approx(before, rel=1e-11)
    assert before > 0


def test_feature_dimension_inverts_n_features_and_triu_is_cached():
    from facies.kernels.gmm._density import feature_dimension, n_features, triu

    assert [feature_dimension(n_features(d)) for d in range(1, 15)] == list(range(1, 15))
    with pytest.raises(ValueError, match="not a number of quadratic features"):
        feature_dimension(5)
    iu, ju, half = triu(3)
    assert triu(3)[0] is iu and not iu.flags.writeable  # built once, shared read-only
    np.testing.assert_array_equal(half, np.where(iu == ju, 0.5, 1.0))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_loglik_is_the_posterior_log_likelihood(k):
    lj = rng.normal(-3, 2, (2, 3, k, 50))
    lj[0, 0, :, :5] = -800.0  # exp underflows: the stable forms must still agree bit for bit
    assert np.array_equal(NumpyOps.loglik(lj), NumpyOps.posterior(lj)[0])


def test_m_step_with_given_scatter_equals_its_own():
    from facies.kernels.gmm._models import scatter

    nk, sk, s2k = stats(responsibilities("soft"))
    for model in MODELS:
        own = m_step(model, nk, sk, s2k)
        given = m_step(model, nk, sk, s2k, scattered=scatter(nk, sk, s2k))
        assert all(np.array_equal(a, b) for a, b in zip(own, given)), model
