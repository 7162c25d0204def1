"""The GTM fit (facies.kernels.gtm._model, _fit): against ugtm, EM's monotone objective, chunked == whole,
topology on a curve, the PCA initialisation, the facies weights, and the errors."""

import contextlib
import io
import logging
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.special import logsumexp

from facies.kernels.gtm._fit import _solve, facies_pdf, fit_gtm, projection_weights, responsibilities
from facies.kernels.gtm._model import GtmFit, GtmSettings, basis_matrix, initialise, latent_grid


def correlated(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    x[: n // 3] += 3 * rng.normal(size=d)  # a second cluster, so the map has something to bend to
    return (x - x.mean(axis=0)) / x.std(axis=0)


def model(grid, basis, width):
    latent = latent_grid(grid)
    return latent, basis_matrix(latent, basis, width)


# --- ugtm ------------------------------------------------------------------------------------------------------


def ugtm_trajectory(x, init_model, regul, iterations):
    """Run ugtm's optimize one iteration at a time (its loop carries only Y and betaInv, so this is the same run
    as one call with ``niter=iterations``, without its early stop) and keep every state and printed value."""
    from ugtm import ugtm_classes, ugtm_gtm

    states, printed = [(init_model.matY, init_model.betaInv)], []
    current = init_model
    for _ in range(iterations):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            opt = ugtm_gtm.optimize(x, current, regul, 1, verbose=True)
        printed.append(float(re.search(r"Err:\s+(\S+)", out.getvalue()).group(1)))
        states.append((opt.matY, opt.betaInv))
        current = ugtm_classes.InitialGTM(current.matX, current.matM, current.n_nodes, current.n_rbf_centers,
                                          current.rbfWidth, current.matPhiMPlusOne, opt.matW, opt.matY, opt.betaInv,
                                          current.n_dimensions)
    return states, printed, opt.matW


def ugtm_true_loglik(x, states, printed):
    """Convert ugtm's printed value to the true total log-likelihood of the parameters entering each iteration.

    ugtm prints ``-(1/N) sum_n log((1/K) sum_k (beta_new/2pi)^(D/2) exp(-beta_old/2 d_kn - m_n))`` with
    ``m_n = max_k(-beta_old/2 d_kn)`` never added back and the normalising constant taken at the *updated* beta.
    Undo each: ``L = -N printed + sum_n m_n + N D/2 (log beta_old - log beta_new)``.
    """
    n, d = x.shape
    out = []
    for i, value in enumerate(printed):
        (y, inv_old), (_, inv_new) = states[i], states[i + 1]
        d2 = ((x[:, None, :] - y.T[None, :, :]) ** 2).sum(axis=2)
        m = (-0.5 / inv_old * d2).max(axis=1)
        out.append(-n * value + m.sum() + 0.5 * n * d * (np.log(1 / inv_old) - np.log(1 / inv_new)))
    return np.array(out)


@pytest.mark.parametrize("regul, regularise_bias", [(0.1, True), (0.0, False)])
def test_matches_ugtm(regul, regularise_bias):
    """Same data, same initial W and beta, same iterations: same log-likelihood trajectory, W and beta as ugtm.

    Conventions where ugtm 2.3.0 differs, and how this test accounts for them:

    - basis width: ugtm's ``s`` multiplies the *squared* centre spacing (Gaussian variance ``s h^2``); ours
      is the standard deviation in spacings, so ``width = sqrt(s)`` (the basis matrices are compared).
    - bias: ugtm penalises the bias row (``regul * betaInv * I`` over all M + 1 rows); ours does not by
      default. The first case sets ``regularise_bias=True``; the second runs ``lambda = 0``, where the two
      conventions coincide, on our default settings.
    - log-likelihood: ugtm prints a per-point, negated value mixing the old and new beta and missing each
      point's log-sum-exp shift; :func:`ugtm_true_loglik` converts it exactly, using ugtm's own states.
    - initial beta: ugtm takes ``min(l3, (mean of all pairwise node distances / 2)^2)``, we take Bishop's
      ``max(l3, (mean nearest-neighbour distance / 2)^2)``; our W and beta are passed to both fits.
    - W layout: ugtm keeps ``W`` as (D, M + 1) and ``Y`` as (D, K), transposed from ours; its initial W
      leaves the data mean out of the bias row (added to Y alone), ours puts it in, so Y is compared.
    - stopping: ugtm stops after four iterations with |change| <= 1e-4 of its printed value; here both
      run a fixed count (our tolerance 0; ugtm one iteration per call).
    """
    pytest.importorskip("ugtm", reason="ugtm is not installed (pip install ugtm)")
    from ugtm import ugtm_classes, ugtm_gtm

    x = correlated(500, 5, seed=1)
    k, m, s, iterations = 8, 3, 0.3, 12
    reference = ugtm_gtm.initialize(x, k, m, s)
    latent, phi = model(k, m, np.sqrt(s))
    np.testing.assert_array_equal(latent, reference.matX)
    np.testing.assert_allclose(phi, reference.matPhiMPlusOne, rtol=0, atol=1e-14)
    w, beta = initialise(x, phi, latent)
    np.testing.assert_allclose(phi @ w, reference.matY.T, rtol=0, atol=1e-12)  # same PCA, same eigenvector signs

    ours = fit_gtm(x, GtmSettings(grid=k, basis=m, width=float(np.sqrt(s)), regularisation=regul,
                                  iterations=iterations, tolerance=0.0, regularise_bias=regularise_bias),
                   init=(w, beta))
    start = ugtm_classes.InitialGTM(reference.matX, reference.matM, k * k, m * m, reference.rbfWidth, phi, w.T,
                                    (phi @ w).T, 1.0 / beta, x.shape[1])
    states, printed, w_ugtm = ugtm_trajectory(x, start, regul, iterations)
    assert ours.iterations == iterations
    np.testing.assert_allclose(ours.loglik, ugtm_true_loglik(x, states, printed), rtol=1e-11)
    np.testing.assert_allclose(ours.W, w_ugtm.T, rtol=0, atol=1e-9 * np.abs(ours.W).max())
    np.testing.assert_allclose(ours.nodes, states[-1][0].T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.beta, 1.0 / states[-1][1], rtol=1e-10)
    # One uninterrupted ugtm call is the same run as the chained single iterations.
    whole = ugtm_gtm.optimize(x, start, regul, iterations, verbose=False)
    np.testing.assert_allclose(whole.matW, w_ugtm, rtol=0, atol=1e-12)


# --- EM ----------------------------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), lam=st.sampled_from([0.0, 0.01, 1.0, 10.0]), bias=st.booleans(),
       d=st.integers(2, 6))
def test_penalised_loglik_never_decreases(seed, lam, bias, d):
    x = correlated(300, d, seed)
    fit = fit_gtm(x, GtmSettings(grid=6, basis=3, width=1.0, regularisation=lam, iterations=40, tolerance=0.0,
                                 regularise_bias=bias))
    assert fit.iterations == 40 and not fit.converged
    steps = np.diff(fit.penalised)
    assert (steps >= -1e-9 * np.abs(fit.penalised[1:])).all(), steps.min()
    assert np.isfinite(fit.loglik).all() and (fit.penalised <= fit.loglik).all()


def test_penalty_form():
    """penalised = loglik - lambda/2 |W'|^2 at the parameters entering the iteration (W' all rows but the bias)."""
    x = correlated(200, 3, seed=4)
    s = GtmSettings(grid=5, basis=3, regularisation=0.7, iterations=1, tolerance=0.0)
    latent, phi = model(5, 3, 1.0)
    w, beta = initialise(x, phi, latent)
    fit = fit_gtm(x, s, init=(w, beta))
    assert fit.penalised[0] == pytest.approx(fit.loglik[0] - 0.35 * (w[:-1] ** 2).sum(), rel=1e-14)
    # and loglik is the true log-likelihood, all constants included
    _, per_point = responsibilities(x, phi @ w, beta)
    d2 = ((x[:, None, :] - (phi @ w)[None]) ** 2).sum(axis=2)
    direct = logsumexp(-0.5 * beta * d2, axis=1) + 1.5 * np.log(beta / (2 * np.pi)) - np.log(25)
    np.testing.assert_allclose(per_point, direct, rtol=1e-12)
    assert fit.loglik[0] == pytest.approx(direct.sum(), rel=1e-12)


def test_chunked_equals_whole():
    x = correlated(1003, 4, seed=2)
    s = GtmSettings(grid=7, basis=3, iterations=25, tolerance=0.0)
    whole = fit_gtm(x, s, chunk_size=len(x))
    sizes = [1, 500, 300, 202]  # uneven chunks from a callable, each cut again into 77-row pieces
    bounds = np.cumsum([0, *sizes])

    def chunks():
        return (x[a:b] for a, b in zip(bounds[:-1], bounds[1:]))

    runs = [fit_gtm(x, s, chunk_size=c) for c in (97, 250, 1000)]
    runs.append(fit_gtm(chunks, s, chunk_size=77))
    runs.append(fit_gtm(chunks, s))  # its own one-pass PCA moments for the initialisation
    for run in runs:
        np.testing.assert_allclose(run.W, whole.W, rtol=0, atol=1e-10 * np.abs(whole.W).max())
        assert run.beta == pytest.approx(whole.beta, rel=1e-10)
        np.testing.assert_allclose(run.loglik, whole.loglik, rtol=1e-10)


def test_progress_reports_each_iteration():
    x = correlated(200, 3, seed=5)
    seen = []
    fit = fit_gtm(x, GtmSettings(grid=5, basis=3, iterations=7, tolerance=0.0), progress=lambda i, ll: seen.append(
        (i, ll)))
    assert [i for i, _ in seen] == list(range(1, 8))
    np.testing.assert_array_equal([ll for _, ll in seen], fit.loglik)


def test_stops_at_tolerance():
    x = correlated(400, 3, seed=6)
    fit = fit_gtm(x, GtmSettings(grid=6, basis=3, iterations=500, tolerance=1e-4))
    assert fit.converged and fit.iterations < 500
    last, before = fit.loglik[-1], fit.loglik[-2]
    assert abs(last - before) < 1e-4 * abs(last)
    assert all(abs(a - b) >= 1e-4 * abs(a) for a, b in zip(fit.loglik[1:-1], fit.loglik[:-2]))


def test_curve_keeps_its_order():
    """Points along a noisy helix (1.25 turns in 3-D) stay in order in latent space: the 5 latent nearest
    neighbours of every point are its neighbours along the curve (a fold would break this; a random map gives
    curve distances of about a third of the length), and consecutive points stay close (a tear would break this)."""
    rng = np.random.default_rng(3)
    n = 800
    s = np.sort(rng.uniform(0, 1, n))
    a = 2 * np.pi * 1.25 * s
    x = np.column_stack([np.cos(a), np.sin(a), 1.5 * s]) + rng.normal(scale=0.03, size=(n, 3))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    fit = fit_gtm(x, GtmSettings(grid=12, basis=4, width=1.0, regularisation=0.1, iterations=100))
    r, _ = responsibilities(x, fit.nodes, fit.beta)
    u = r @ fit.latent

    def curve_gaps(coords):
        _, idx = cKDTree(coords).query(coords, k=6)
        return np.abs(s[idx[:, 1:]] - s[:, None])

    gaps = curve_gaps(u)
    assert gaps.max() < 0.1 and np.quantile(gaps, 0.95) < 0.04
    # Consecutive points: within 2.5 node spacings (2/11 apart) for 99 % of the steps; a random map, ~2.3.
    steps = np.linalg.norm(np.diff(u, axis=0), axis=1)
    assert np.quantile(steps, 0.99) < 2.5 * 2 / 11
    assert curve_gaps(rng.permutation(u)).max() > 0.5  # the check can fail


# --- the model ---------------------------------------------------------------------------------------------------


def test_latent_and_basis():
    z = latent_grid(3)
    np.testing.assert_array_equal(z[:4], [[-1, -1], [-1, 0], [-1, 1], [0, -1]])
    latent, phi = model(4, 3, 0.5)
    assert phi.shape == (16, 10)
    np.testing.assert_array_equal(phi[:, -1], 1.0)
    # the node at (-1, -1) sits on the first centre; sigma = 0.5 * spacing 1
    assert phi[0, 0] == 1.0
    assert phi[0, 1] == pytest.approx(np.exp(-1 / (2 * 0.25)))


def test_initialise_is_pca():
    from sklearn.decomposition import PCA

    x = correlated(400, 5, seed=7) * [1, 2, 3, 0.5, 1] + [1, -2, 0, 3, 5]
    latent, phi = model(10, 4, 1.0)
    w, beta = initialise(x, phi, latent)
    w2, beta2 = initialise(x[::-1].copy(), phi, latent)  # deterministic, and blind to the order of the points
    np.testing.assert_allclose(w2, w, atol=1e-10)
    assert beta2 == pytest.approx(beta, rel=1e-12)
    pca = PCA(3).fit(x)
    y = phi @ w - x.mean(axis=0)
    plane = pca.components_[:2]
    np.testing.assert_allclose(y - (y @ plane.T) @ plane, 0, atol=1e-10)  # nodes lie on the PC plane
    coords = (y @ plane.T) / np.sqrt(pca.explained_variance_[:2])  # the same eigenvector signs as scikit-learn
    z = (latent - latent.mean(axis=0)) / latent.std(axis=0)
    np.testing.assert_allclose(coords, z, atol=0.1)  # up to the RBF least-squares residual (corners)
    nodes = phi @ w
    d2 = ((nodes[:, None] - nodes[None]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    spacing = np.sqrt(d2.min(axis=1)).mean()
    assert beta == pytest.approx(1 / max(pca.explained_variance_[2], (spacing / 2) ** 2), rel=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"grid": 1}, "grid"), ({"grid": 2.5}, "grid"), ({"basis": True}, "basis"), ({"width": 0}, "width"),
    ({"width": float("nan")}, "width"), ({"regularisation": -1}, "regularisation"), ({"iterations": 0}, "iterations"),
    ({"tolerance": float("inf")}, "tolerance"), ({"regularise_bias": 1}, "regularise_bias"),
])
def test_settings_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GtmSettings(**kwargs)


def test_fit_errors():
    x = correlated(100, 3, seed=8)
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_gtm(bad, GtmSettings(grid=5, basis=3))
    with pytest.raises(ValueError, match="at least as many points as nodes: 100 points for 400"):
        fit_gtm(x)
    with pytest.raises(ValueError, match="at least as many points as nodes"):
        fit_gtm(lambda: (x[:10], x[10:20]), GtmSettings(grid=5, basis=3))
    with pytest.raises(ValueError, match="2-D"):
        fit_gtm(x[:, 0], GtmSettings(grid=5, basis=3))
    with pytest.raises(ValueError, match="disagree"):
        fit_gtm(lambda: (x, x[:, :2]), GtmSettings(grid=5, basis=3))
    with pytest.raises(ValueError, match="initial W"):
        fit_gtm(x, GtmSettings(grid=5, basis=3), init=(np.zeros((3, 3)), 1.0))
    with pytest.raises(ValueError, match="3 attributes but the model maps to 4"):
        fit_gtm(x, GtmSettings(grid=5, basis=3), init=(np.zeros((10, 4)), 1.0))
    with pytest.raises(ValueError, match="beta"):
        fit_gtm(x, GtmSettings(grid=5, basis=3), init=(np.zeros((10, 3)), -1.0))
    with pytest.raises(ValueError, match="chunk_size"):
        fit_gtm(x, GtmSettings(grid=5, basis=3), chunk_size=0)
    with pytest.raises(ValueError, match="no variance"):
        fit_gtm(np.ones((50, 3)), GtmSettings(grid=5, basis=3))


def test_warm_start_from_fit():
    x = correlated(300, 3, seed=9)
    s = GtmSettings(grid=5, basis=3, iterations=10, tolerance=0.0)
    first = fit_gtm(x, s)
    second = fit_gtm(x, s, init=first)
    assert second.loglik[0] >= first.loglik[-1]  # starts where the first stopped, one M-step further
    assert isinstance(second, GtmFit) and second.nodes.shape == (25, 3)


def test_solve_falls_back_with_a_warning(caplog):
    a = np.array([[1.0, 1.0], [1.0, 1.0]])
    with caplog.at_level(logging.WARNING):
        w = _solve(a, np.array([[2.0], [2.0]]))
    assert "least squares" in caplog.text
    np.testing.assert_allclose(a @ w, [[2.0], [2.0]])


# --- facies weights ----------------------------------------------------------------------------------------------


def test_facies_pdf_and_responsibilities():
    x = correlated(300, 3, seed=10)
    fit = fit_gtm(x, GtmSettings(grid=5, basis=3, iterations=15))
    r, _ = responsibilities(x, fit.nodes, fit.beta)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-12)
    pdf = facies_pdf(x[:120], fit, chunk_size=7)
    np.testing.assert_allclose(pdf, r[:120].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(facies_pdf(x[:120], fit.nodes, fit.beta), pdf, rtol=1e-12)
    assert pdf.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="beta is required"):
        facies_pdf(x, fit.nodes)
    with pytest.raises(ValueError, match="at least one"):
        facies_pdf(x[:0], fit)


def test_projection_weights():
    p = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.25, 0.75, 0.0], [0.2, 0.2, 0.6, 0.0]])
    w, root = projection_weights(p, "bhattacharyya")
    assert root and np.array_equal(w, np.sqrt(p))
    w, root = projection_weights(p, "gtc")
    assert not root
    np.testing.assert_allclose(w[:, 1], np.array([0.5, 0.25, 0.2]) / 0.95)
    np.testing.assert_allclose(w[:, 3], 1 / 3)  # no facies reaches node 3: uniform
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    w, _ = projection_weights(p, "gtc", priors=[2, 1, 1])
    np.testing.assert_allclose(w[:, 1], np.array([0.5, 0.125, 0.1]) / 0.725)
    with pytest.raises(ValueError, match="bhattacharyya, gtc"):
        projection_weights(p, "mahalanobis")
    with pytest.raises(ValueError, match="only to method 'gtc'"):
        projection_weights(p, "bhattacharyya", priors=[1, 1, 1])
    with pytest.raises(ValueError, match="3 finite positive"):
        projection_weights(p, "gtc", priors=[1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        projection_weights(-p, "gtc")


@pytest.mark.gpu
def test_cupy_fit_matches_numpy():
    cp = pytest.importorskip("cupy")
    x = correlated(2000, 4, seed=11)
    s = GtmSettings(grid=8, basis=3, iterations=15, tolerance=0.0)
    cpu, gpu = fit_gtm(x, s), fit_gtm(cp.asarray(x), s, chunk_size=333)
    np.testing.assert_allclose(gpu.W, cpu.W, rtol=0, atol=1e-9 * np.abs(cpu.W).max())
    np.testing.assert_allclose(gpu.loglik, cpu.loglik, rtol=1e-10)
    r, ll = responsibilities(cp.asarray(x), cpu.nodes, cpu.beta)
    np.testing.assert_allclose(r.get(), responsibilities(x, cpu.nodes, cpu.beta)[0], atol=1e-10)
