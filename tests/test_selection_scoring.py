"""The selection's scores against values computed by hand (docs/selection.md, steps 4 to 7).

The between-facies score (``--score between-facies``) is
``S = 1/P sum_{a<b} 1/(K_a K_b) sum_{i in a, j in b} D_B(a_i, b_j)``: a mean over the facies pairs of the
mean over their cluster pairs. The AASPI notes' eq. 8 (``--score aaspi``) is
``S = 1/(M^2 J^2) sum_{m, l} sum_{j in m, k in l} D_B(m_j, l_k)``: every ordered pair of clusters, those of
one facies included, over the fixed ``M^2 J^2``. With identity covariances ``D_B = |mu_a - mu_b|^2 / 8``, so
every expected value below is plain arithmetic. The held-out accuracy of the Bayes rule
``argmax_f log pi_f + log p_f(x)`` (``--select-by validation``) is pinned too, on the scoring functions and
through ``run_selection`` (whose stored scores must be these, for K = 1 and K = 2).
"""

import math

import numpy as np
import pytest

from facies.engine.selection import SelectionSettings, run_selection, scoring
from facies.engine.selection import settings as selection_settings
from facies.engine.selection.fitting import FacieFit
from facies.engine.selection.scoring import average_cumulative_distance, validation_accuracy

#: The AASPI notes' eq. 8 (``--score aaspi``), where this tree has it (it is being added beside the other score).
aaspi = getattr(scoring, "aaspi_cumulative_distance", None)
needs_aaspi = pytest.mark.skipif(aaspi is None, reason="this tree has no aaspi_cumulative_distance")
#: The score definitions run_selection offers (SelectionSettings.score), the first the default.
SCORES = tuple(getattr(selection_settings, "SCORES", ("between-facies",)))


def mixture(means, covariances=None, weights=None, model="EII"):
    means = np.asarray(means, float).reshape(len(means), -1)
    k, d = means.shape
    covs = np.tile(np.eye(d), (k, 1, 1)) if covariances is None else np.asarray(covariances, float).reshape(k, d, d)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
    return FacieFit(model, k, 0.0, 0.0, 0, w, means, covs)


def d_identity(mu1, mu2):
    """Bhattacharyya distance of two Gaussians with identity covariances, by hand."""
    return sum((a - b) ** 2 for a, b in zip(mu1, mu2)) / 8


# -- the score: K = 1 ---------------------------------------------------------------------------------

def test_score_of_one_cluster_per_facies_is_the_mean_over_facies_pairs():
    # 1-D means 0, 2, 5: distances 4/8, 25/8, 9/8 over P = 3 pairs
    fits = [mixture([[0.0]]), mixture([[2.0]]), mixture([[5.0]])]
    assert average_cumulative_distance(fits) == pytest.approx((4 / 8 + 25 / 8 + 9 / 8) / 3, rel=1e-12)


def test_score_of_two_facies_is_their_distance():
    fits = [mixture([[1.0, -1.0]]), mixture([[4.0, 3.0]])]  # |dmu|^2 = 9 + 16
    assert average_cumulative_distance(fits) == pytest.approx(25 / 8, rel=1e-12)


# -- the score: K = 2 ---------------------------------------------------------------------------------

def test_score_of_two_clusters_per_facies_is_the_mean_over_cluster_pairs():
    a = [(0.0, 0.0), (2.0, 0.0)]
    b = [(0.0, 3.0), (4.0, 0.0)]
    expected = (d_identity(a[0], b[0]) + d_identity(a[0], b[1]) + d_identity(a[1], b[0])
                + d_identity(a[1], b[1])) / 4  # (9 + 16 + 13 + 4) / 8 / 4
    assert expected == pytest.approx(42 / 32)
    assert average_cumulative_distance([mixture(a), mixture(b)]) == pytest.approx(expected, rel=1e-12)


def test_score_mixing_one_and_two_clusters_weights_each_facies_pair_by_its_own_cluster_count():
    """K_a = 1, K_b = 2, K_c = 2: the pairs average 2, 2 and 4 cluster distances, then the 3 pairs are averaged."""
    a = [(0.0,)]
    b = [(2.0,), (-2.0,)]
    c = [(6.0,), (8.0,)]
    ab = (d_identity(a[0], b[0]) + d_identity(a[0], b[1])) / 2                   # (4 + 4) / 8 / 2 = 0.5
    ac = (d_identity(a[0], c[0]) + d_identity(a[0], c[1])) / 2                   # (36 + 64) / 8 / 2
    bc = sum(d_identity(i, j) for i in b for j in c) / 4                           # (16 + 36 + 64 + 100) / 8 / 4
    expected = (ab + ac + bc) / 3
    assert expected == pytest.approx((0.5 + 6.25 + 6.75) / 3)
    # weights of the mixtures do not enter the score (the AASPI definition averages clusters, not mass)
    fits = [mixture(a), mixture(b, weights=[0.9, 0.1]), mixture(c, weights=[0.2, 0.8])]
    assert average_cumulative_distance(fits) == pytest.approx(expected, rel=1e-12)


def test_score_uses_the_full_bhattacharyya_distance_with_unequal_covariances():
    """1-D: D = (mu1 - mu2)^2 / (4 (s1 + s2)) + 1/2 ln(((s1 + s2) / 2) / sqrt(s1 s2))."""
    s1, s2 = 1.0, 4.0
    fits = [mixture([[0.0]], [[[s1]]]), mixture([[3.0]], [[[s2]]])]
    expected = 9 / (4 * (s1 + s2)) + 0.5 * math.log(((s1 + s2) / 2) / math.sqrt(s1 * s2))
    assert average_cumulative_distance(fits) == pytest.approx(expected, rel=1e-12)


def test_a_facies_without_a_valid_fit_makes_the_score_minus_infinity():
    empty = FacieFit(None, 0, -np.inf, -np.inf, 9)
    assert average_cumulative_distance([mixture([[0.0]]), empty, mixture([[1.0]])]) == -np.inf


# -- the AASPI notes' eq. 8 -----------------------------------------------------------------------------

@needs_aaspi
@pytest.mark.parametrize("max_clusters", [1, 2])
def test_aaspi_score_of_one_cluster_per_facies(max_clusters):
    """1-D means 0, 2, 5, K = 1 each: every ordered pair twice, over M^2 J^2 (J = max_clusters, not the K found)."""
    fits = [mixture([[0.0]]), mixture([[2.0]]), mixture([[5.0]])]
    expected = 2 * (4 + 25 + 9) / 8 / (3 ** 2 * max_clusters ** 2)
    assert aaspi(fits, max_clusters) == pytest.approx(expected, rel=1e-12)


@needs_aaspi
def test_aaspi_score_of_two_clusters_per_facies_counts_the_clusters_of_one_facies_too():
    a = [(0.0, 0.0), (2.0, 0.0)]
    b = [(0.0, 3.0), (4.0, 0.0)]
    within = 2 * d_identity(*a) + 2 * d_identity(*b)                       # 2 (4 + 25) / 8
    between = 2 * sum(d_identity(i, j) for i in a for j in b)              # 2 (9 + 16 + 13 + 4) / 8
    expected = (within + between) / (2 ** 2 * 2 ** 2)
    assert expected == pytest.approx((58 + 84) / 8 / 16)
    assert aaspi([mixture(a), mixture(b)], 2) == pytest.approx(expected, rel=1e-12)
    # one facies with K = 1 beside one with K = 2: still over M^2 J^2
    expected = (2 * d_identity(*b) + 2 * (d_identity(a[0], b[0]) + d_identity(a[0], b[1]))) / 16
    assert aaspi([mixture(a[:1]), mixture(b)], 2) == pytest.approx(expected, rel=1e-12)
    assert aaspi([mixture(a), FacieFit(None, 0, -np.inf, -np.inf, 9)], 2) == -np.inf


# -- the held-out accuracy ----------------------------------------------------------------------------

def test_validation_accuracy_is_the_bayes_rule_with_priors():
    """Unit Gaussians at 0 and 2 with priors 3/4 and 1/4: the boundary moves from 1 to 1 + ln(3)/2 = 1.549."""
    fits = [mixture([[0.0]]), mixture([[2.0]])]
    held = [np.array([[-1.0], [0.9], [1.2], [1.4], [1.6]]),  # facies 0: 4 of 5 right (1.6 is past the boundary)
            np.array([[1.3], [1.7], [3.0]])]                # facies 1: 1.3 goes to facies 0 (its prior), 2 of 3
    assert validation_accuracy(held, fits, np.array([0.75, 0.25])) == pytest.approx(6 / 8)
    # equal priors: the boundary is 1, facies 0 keeps 2 of 5, facies 1 gets all 3
    assert validation_accuracy(held, fits, np.array([0.5, 0.5])) == pytest.approx(5 / 8)


def normal(x, mu):
    return math.exp(-0.5 * (x - mu) ** 2) / math.sqrt(2 * math.pi)


def test_validation_accuracy_uses_the_whole_mixture_density():
    """p_f is the mixture density: the weighted sum of the components, not the best component, nor unweighted."""
    priors = np.array([0.5, 0.5])
    # clusters at 1 and 3 (weights 1/2): at x = 2 their sum 0.242 beats a unit Gaussian at 3.3 (0.171);
    # either component alone (0.121) would not
    fits = [mixture([[1.0], [3.0]]), mixture([[3.3]])]
    assert normal(2, 1) > normal(2, 3.3) > 0.5 * normal(2, 1)
    assert validation_accuracy([np.array([[2.0]]), np.empty((0, 1))], fits, priors) == 1.0
    # clusters at -3 and 3 with weights 0.9 and 0.1: at x = 2.2, 0.1 n(2.2; 3) = 0.029 loses to a unit Gaussian
    # at 0.8 (0.150), which the unweighted component (0.290) would beat
    fits = [mixture([[-3.0], [3.0]], weights=[0.9, 0.1]), mixture([[0.8]])]
    assert 0.9 * normal(2.2, -3) + 0.1 * normal(2.2, 3) < normal(2.2, 0.8) < normal(2.2, 3)
    assert validation_accuracy([np.empty((0, 1)), np.array([[2.2]])], fits, priors) == 1.0


def test_validation_accuracy_without_held_out_voxels_or_without_a_fit():
    fits = [mixture([[0.0]]), mixture([[2.0]])]
    assert math.isnan(validation_accuracy([np.empty((0, 1)), np.empty((0, 1))], fits, np.array([0.5, 0.5])))
    empty = FacieFit(None, 0, -np.inf, -np.inf, 9)
    assert validation_accuracy([np.zeros((2, 1)), np.ones((1, 1))], [fits[0], empty], np.array([0.5, 0.5])) == 0.0


# -- through run_selection: the stored scores are these ------------------------------------------------

def _d(m1, c1, m2, c2):
    """Bhattacharyya distance with NumPy's determinants and solves (no facies code)."""
    c = (c1 + c2) / 2
    dmu = m1 - m2
    return (dmu @ np.linalg.solve(c, dmu) / 8
            + 0.5 * (np.linalg.slogdet(c)[1] - 0.5 * (np.linalg.slogdet(c1)[1] + np.linalg.slogdet(c2)[1])))


def by_hand(fits, score, max_clusters):
    """A combination's score from its fitted parameters, by the formula of ``score``."""
    clusters = [[(f.means[i], f.covariances[i]) for i in range(f.k)] for f in fits]
    if score == "aaspi":
        total = sum(0.0 if a is b and i == j else _d(*ci, *cj)
                    for a in clusters for b in clusters for i, ci in enumerate(a) for j, cj in enumerate(b))
        return total / (len(fits) ** 2 * max_clusters ** 2)
    pairs = [sum(_d(*ci, *cj) for ci in clusters[a] for cj in clusters[b]) / (fits[a].k * fits[b].k)
             for a in range(len(fits)) for b in range(a + 1, len(fits))]
    return sum(pairs) / len(pairs)


def three_facies(seed=3, n=80):
    rng = np.random.default_rng(seed)
    # facies 1 is bimodal in the first attribute, so that K = 2 wins its BIC
    f0 = rng.normal(0, 1, (n, 3))
    f1 = np.vstack([rng.normal([-6, 3, 0], 0.5, (n // 2, 3)), rng.normal([6, 3, 0], 0.5, (n // 2, 3))])
    f2 = rng.normal([2, -3, 1], [1, 0.5, 2], (n, 3))
    return [f0, f1, f2]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("max_clusters", [1, 2])
def test_run_selection_scores_every_combination_by_the_formula(max_clusters, score):
    options = {"score": score} if len(SCORES) > 1 else {}
    settings = SelectionSettings(max_clusters=max_clusters, sem_iter=10, kmeans_starts=1, models=("VVI", "VVV"),
                                 workers=1, **options)
    res = run_selection(three_facies(), ["a", "b", "c"], settings=settings)
    assert len(res.combinations) == 7 and all(r.valid for r in res.combinations)
    ks = {f.k for r in res.combinations for f in r.fits}
    assert ks == ({1} if max_clusters == 1 else {1, 2})  # K = 2 really occurs, next to K = 1
    for r in res.combinations:
        assert r.score == pytest.approx(by_hand(r.fits, score, max_clusters), rel=1e-9), r.attributes
        for name, value in getattr(r, "scores", {}).items():  # every definition, where the run keeps them all
            assert value == pytest.approx(by_hand(r.fits, name, max_clusters), rel=1e-9), (name, r.attributes)
    # the best of each dimension is its top score
    for dim, best in res.best_per_dimension.items():
        assert best.score == max(r.score for r in res.combinations if r.dimension == dim)


def test_run_selection_by_validation_picks_the_highest_accuracy_smallest_dimension_on_ties():
    settings = SelectionSettings(max_clusters=2, sem_iter=10, kmeans_starts=1, models=("VVI",), workers=1,
                                 select_by="validation")
    res = run_selection(three_facies(), ["a", "b", "c"], settings=settings)
    acc = res.validation
    assert set(acc) == {1, 2, 3}
    assert res.best.dimension == min(d for d in acc if acc[d] == max(acc.values()))
