"""Fitting every facies' mixtures for all combinations of one dimension, in memory-bounded batches."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facies.kernels.array_module import array_module
from facies.kernels.gmm_density import feature_columns, quadratic_features
from facies.kernels.gmm_fit import fit_mixtures
from facies.kernels.gmm_models import MODEL_ID, free_parameters
from facies.kernels.gmm_random import PhiloxDraws


@dataclass
class FacieFit:
    """Best fit (by BIC) of one facies for one combination; ``model is None`` when no fit is valid."""

    model: str | None
    k: int
    loglik: float
    bic: float
    invalid_fits: int
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None


def bic(loglik, n_params, n):
    """mclust's BIC: ``2 logL - k ln n`` (higher is better); element-wise on arrays."""
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
    return type(res)(type(res.mixture)(*conv), res.loglik.get(), res.valid.get())


def fit_dimension(facies: list[FacieData], combos: np.ndarray, settings, *, ops=None, on_batch=None):
    """Fit K = 1..J mixtures of every model to every facies for every combination (rows of ``combos``).

    ``ops``: :class:`~facies.kernels.gmm_numpy.NumpyOps` (default; batches run on a thread pool with
    single-threaded BLAS) or ``gmm_cuda.CudaOps`` (batches run one after another on the GPU, the
    facies' features already on the device). Returns ``fits[c][f]``: :class:`FacieFit`.
    ``on_batch(n_fits)`` is called after each batch.
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - sklearn's dependency

    from facies.engine.selection.combinations import bitmask  # noqa: PLC0415
    from facies.kernels.gmm_numpy import NumpyOps  # noqa: PLC0415

    ops = ops or NumpyOps
    on_gpu = ops.name == "gpu"
    models = tuple(settings.models)
    g = len(models)
    d = combos.shape[1]
    masks = [bitmask(c) for c in combos]
    fits = [[None] * len(facies) for _ in combos]
    workers = 1 if on_gpu else (settings.workers or min(os.cpu_count() or 1, 8))
    budget = settings.gpu_chunk_bytes if on_gpu else settings.chunk_bytes
    jobs = []
    for f, data in enumerate(facies):
        for k in range(1, settings.max_clusters + 1):
            size = batch_items(len(data.x), g, k, budget)
            for sl in _chunks(len(combos), size):
                jobs.append((f, k, sl))

    def run(job):
        f, k, sl = job
        data = facies[f]
        # tag 64 f + k is distinct per (facies, K) because K <= MAX_COMPONENTS < 64 (SelectionSettings)
        draws = PhiloxDraws(settings.seed, masks[sl], tag=64 * f + k, model_ids=[MODEL_ID[m] for m in models],
                            n=len(data.x))
        res = fit_mixtures(data.batch(combos[sl]), k, models, draws, sem_iter=settings.sem_iter,
                           kmeans_starts=settings.kmeans_starts, kmeans_iter=settings.kmeans_iter,
                           cem_tol=settings.cem_tol, cem_max_iter=settings.cem_max_iter, rcond=settings.rcond,
                           ops=ops)
        if on_batch:
            on_batch((sl.stop - sl.start) * g)
        return job, _to_host(res)

    results = {}
    # Single-threaded BLAS: the parallelism is the batches'. threadpoolctl changes process-wide
    # state and is not thread-safe, so it is entered once, here, around the whole pool.
    with threadpool_limits(1):
        if workers == 1:
            finished = [run(job) for job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                finished = list(pool.map(run, jobs))
    for job, res in finished:
        results[(job[0], job[1], job[2].start, job[2].stop)] = res
    for f, data in enumerate(facies):
        n = len(data.x)
        best = [(-np.inf, None, None, None)] * len(combos)
        invalid = np.zeros(len(combos), int)
        for (ff, k, start, stop), res in results.items():
            if ff != f:
                continue
            sl = slice(start, stop)
            counts = np.array([free_parameters(m, d, k) for m in models])
            scores = np.where(res.valid, bic(res.loglik, counts, n), -np.inf)
            invalid[sl] += (~res.valid).sum(axis=1)
            for i, c in enumerate(range(sl.start, sl.stop)):
                j = int(np.argmax(scores[i]))
                if np.isfinite(scores[i, j]) and scores[i, j] > best[c][0]:
                    best[c] = (scores[i, j], k, j, (res, i))
        for c in range(len(combos)):
            score, k, j, where = best[c]
            if where is None:
                fits[c][f] = FacieFit(None, 0, -np.inf, -np.inf, int(invalid[c]))
                continue
            res, i = where
            mix = res.mixture
            fits[c][f] = FacieFit(models[j], k, float(res.loglik[i, j]), float(score), int(invalid[c]),
                                  mix.weights[i, j].copy(), mix.means[i, j].copy(), mix.covariances[i, j].copy())
    return fits
