"""Score of a combination (AASPI average cumulative distance) and held-out validation."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.special import logsumexp

from facies.kernels.gmm import bhattacharyya, log_density


def average_cumulative_distance(fits) -> float:
    """``S = 1/P sum_{a<b} 1/(K_a K_b) sum_{i in a, j in b} D_B(a_i, b_j)``, P the number of facies pairs.

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
