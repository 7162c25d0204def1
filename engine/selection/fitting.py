"""Fitting every facies' mixtures for all combinations of one dimension, in memory-bounded batches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facies.engine.selection.combinations import bitmask
from facies.engine.selection.runner import FitJob, InProcess
from facies.kernels.array_module import array_module, is_cupy
from facies.kernels.gmm import (MODEL_ID, FitResult, PhiloxDraws, feature_columns, fit_mixtures, free_parameters,
                                quadratic_features)


@dataclass
class FacieFit:
    """Best fit (by BIC) of one facies for one combination; ``model is None`` when no fit is valid.

    ``loglik`` is the observed log-likelihood and ``bic`` the criterion the fit was chosen by
    (``SelectionSettings.bic``); ``classification_loglik``, ``bic_observed`` and ``bic_classification``
    are the chosen fit's classification log-likelihood (eq. 5) and both BICs, whichever rule chose it.
    """

    model: str | None
    k: int
    loglik: float
    bic: float
    invalid_fits: int
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None
    classification_loglik: float = -np.inf
    bic_observed: float = -np.inf
    bic_classification: float = -np.inf


def bic(loglik, n_params, n):
    """``2 logL - k ln n`` (mclust's sign: higher is better); element-wise on arrays. ``logL`` is the
    observed log-likelihood (mclust) or the classification log-likelihood (the AASPI notes' eq. 6 with eq. 5)."""
    return 2.0 * loglik - n_params * math.log(n)


class FacieData:
    """One facies' standardised voxels and their quadratic features over all N attributes, built once.

    ``xp`` is the array module the features live in (NumPy, or CuPy for the GPU path): the table is
    copied to the device once and every batch selects its columns there.
    """

    def __init__(self, x: np.ndarray, xp=np):
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.features = quadratic_features(xp.asarray(self.x))

    def batch(self, combos: np.ndarray):
        """(B, n, p) features of each combination: columns selected by index."""
        n_attr = self.x.shape[1]
        cols = np.stack([feature_columns(c, n_attr) for c in combos])
        xp = array_module(self.features)
        return xp.ascontiguousarray(xp.moveaxis(self.features[:, xp.asarray(cols)], 1, 0))


def _chunks(n_items: int, size: int):
    return [slice(i, min(i + size, n_items)) for i in range(0, n_items, size)]


def batch_items(n: int, g: int, k: int, budget: int) -> int:
    """Batch items per chunk: the (B, G, K, n) float64 work arrays (about 8 of them live) within ``budget`` bytes."""
    return max(1, budget // (n * g * max(k, 2) * 8 * 8))


def _to_host(res):
    """A FitResult with NumPy arrays (a no-op on the CPU)."""
    if isinstance(res.loglik, np.ndarray):
        return res
    conv = [a.get() for a in (res.mixture.weights, res.mixture.means, res.mixture.covariances)]
    return type(res)(type(res.mixture)(*conv), res.loglik.get(), res.valid.get(), res.classification_loglik.get())


def run_job(data: FacieData, job) -> FitResult:
    """Fit one batch (:class:`~facies.engine.selection.runner.FitJob`) of the facies ``data``; the result's
    arrays are NumPy arrays."""
    settings = job.settings
    # tag 64 f + k is distinct per (facies, K) because K <= MAX_COMPONENTS < 64 (SelectionSettings)
    draws = PhiloxDraws(settings.seed, job.masks, tag=64 * job.facies + job.k,
                        model_ids=[MODEL_ID[m] for m in settings.models], n=len(data.x))
    res = fit_mixtures(data.batch(job.combos), job.k, tuple(settings.models), draws, sem_iter=settings.sem_iter,
                       kmeans_starts=settings.kmeans_starts, kmeans_iter=settings.kmeans_iter,
                       kmeans_init=settings.init, cem_tol=settings.cem_tol, cem_max_iter=settings.cem_max_iter,
                       rcond=settings.rcond)
    return _to_host(res)


def fit_dimension(facies: list[FacieData], combos: np.ndarray, settings, *, on_batch=None, runner=None):
    """Fit K = 1..J mixtures of every model to every facies for every combination (rows of ``combos``).

    The fits run where the facies' features live (NumPy on the CPU, CuPy on the GPU: the kernels
    dispatch on the array module, :func:`facies.kernels.gmm.ops_for`). ``runner``: where the batches run
    (:mod:`facies.engine.selection.runner`; default this process). Returns ``fits[c][f]``:
    :class:`FacieFit`. ``on_batch(n_fits)`` is called after each batch.
    """
    on_gpu = any(is_cupy(data.features) for data in facies)
    models = tuple(settings.models)
    g = len(models)
    d = combos.shape[1]
    masks = [bitmask(c) for c in combos]
    fits: list[list[FacieFit | None]] = [[None] * len(facies) for _ in combos]
    budget = settings.gpu_chunk_bytes if on_gpu else settings.chunk_bytes
    jobs, slices = [], []
    # the costliest batches (most components) first, so that the cheap ones fill the workers' tails
    for k in range(settings.max_clusters, 0, -1):
        for f, data in enumerate(facies):
            size = batch_items(len(data.x), g, k, budget)
            for sl in _chunks(len(combos), size):
                jobs.append(FitJob(f, k, combos[sl], tuple(masks[sl]), settings))
                slices.append(sl)
    on_done = (lambda job: on_batch(len(job.combos) * g)) if on_batch else None
    finished = (runner or InProcess(facies)).run(jobs, on_done)
    # reduced in (facies, K, combinations) order whatever the order of the jobs: ties in BIC go to the smaller K
    results = dict(sorted(((job.facies, job.k, sl.start, sl.stop), res) for (job, res), sl in zip(finished, slices)))
    for f, data in enumerate(facies):
        n = len(data.x)
        # per combination: the best score and where it is (K, model index, batch result, row), or None
        best: list[tuple[float, tuple[int, int, FitResult, int] | None]] = [(-np.inf, None)] * len(combos)
        invalid = np.zeros(len(combos), int)
        for (ff, k, start, stop), res in results.items():
            if ff != f:
                continue
            sl = slice(start, stop)
            counts = np.array([free_parameters(m, d, k) for m in models])
            # eq. 6 of the AASPI notes with the classification log-likelihood (eq. 5), or mclust's observed one
            criterion = res.classification_loglik if settings.bic == "classification" else res.loglik
            scores = np.where(res.valid, bic(criterion, counts, n), -np.inf)
            invalid[sl] += (~res.valid).sum(axis=1)
            for i, c in enumerate(range(sl.start, sl.stop)):
                j = int(np.argmax(scores[i]))
                if np.isfinite(scores[i, j]) and scores[i, j] > best[c][0]:
                    best[c] = (scores[i, j], (k, j, res, i))
        for c in range(len(combos)):
            score, where = best[c]
            if where is None:
                fits[c][f] = FacieFit(None, 0, -np.inf, -np.inf, int(invalid[c]))
                continue
            k, j, res, i = where
            mix = res.mixture
            n_params = free_parameters(models[j], d, k)
            ll, cl = float(res.loglik[i, j]), float(res.classification_loglik[i, j])
            fits[c][f] = FacieFit(models[j], k, ll, float(score), int(invalid[c]),
                                  mix.weights[i, j].copy(), mix.means[i, j].copy(), mix.covariances[i, j].copy(),
                                  cl, bic(ll, n_params, n), bic(cl, n_params, n))
    return fits
