"""Scores of a combination (the AASPI notes' eq. 8, and facies' earlier between-facies score) and held-out validation.

docs/selection.md writes both formulas beside the notes' equation numbers and says how the notes were read.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.special import logsumexp

from facies.kernels.gmm import bhattacharyya, log_density


def aaspi_cumulative_distance(fits, max_clusters: int) -> float:
    """The AASPI notes' eq. 8 for one combination: ``S = 1/(M^2 J^2) sum_{m=1..M} sum_{l=1..M} sum_{j<=K_m}
    sum_{k<=K_l} D_B(m_j, l_k)``.

    Every ordered pair of facies (m, l), m = l included, and every pair of their clusters: distances between
    two clusters of the same facies count, a cluster's distance to itself is 0, and the normalisation is the
    fixed ``M^2 J^2`` (``J = max_clusters``) whatever number of clusters each facies' BIC chose. ``fits``: one
    fitted mixture per facies. -inf when a facies has no valid fit.
    """
    if any(f.model is None for f in fits):
        return -np.inf
    means = np.concatenate([f.means for f in fits])
    covs = np.concatenate([f.covariances for f in fits])
    dist = bhattacharyya(means[:, None], covs[:, None], means[None], covs[None])  # every cluster against every one
    np.fill_diagonal(dist, 0.0)  # D_B(x, x) = 0 exactly (the formula gives rounding noise)
    return float(dist.sum() / (len(fits) ** 2 * max_clusters ** 2))


def combination_scores(fits, max_clusters: int) -> dict[str, float]:
    """Both scores of one combination, by their option names (``--score``)."""
    return {"aaspi": aaspi_cumulative_distance(fits, max_clusters),
            "between-facies": average_cumulative_distance(fits)}


def average_cumulative_distance(fits) -> float:
    """facies' earlier score (``--score between-facies``):
    ``S = 1/P sum_{a<b} 1/(K_a K_b) sum_{i in a, j in b} D_B(a_i, b_j)``, P the number of facies pairs.

    ``fits`` holds one fitted mixture per facies (``.means`` (K, d), ``.covariances`` (K, d, d)).
    NaN-free: returns -inf when a facies has no valid fit.
    """
    if any(f.model is None for f in fits):
        return -np.inf
    pair_means = []
    for a, b in combinations(fits, 2):
        dist = bhattacharyya(a.means[:, None], a.covariances[:, None], b.means[None], b.covariances[None])
        pair_means.append(float(dist.mean()))
    return float(np.mean(pair_means))


def mixture_loglik(x, fit) -> np.ndarray:
    """log of the fitted mixture density at each row of ``x`` (n, d)."""
    comp = log_density(x, fit.means, fit.covariances) + np.log(fit.weights)[:, None]
    return logsumexp(comp, axis=0)


def classify(x, fits, priors) -> np.ndarray:
    """Bayes rule: the facies index maximising ``log prior_f + log p_f(x)``."""
    scores = np.stack([mixture_loglik(x, f) + np.log(p) for f, p in zip(fits, priors)])
    return scores.argmax(axis=0)


def validation_accuracy(held, fits, priors) -> float:
    """Fraction of held-out voxels (list per facies, already standardised and column-selected) classified correctly."""
    total = sum(len(h) for h in held)
    if total == 0 or any(f.model is None for f in fits):
        return float("nan") if total == 0 else 0.0
    correct = sum(int((classify(h, fits, priors) == f).sum()) for f, h in enumerate(held) if len(h))
    return correct / total
