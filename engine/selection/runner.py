"""Where the fits of a selection run: in this process, or on a pool of worker processes.

Threads would share one interpreter lock. NumPy releases it inside its large loops, but every SEM
iteration also runs many small-array steps (Cholesky factors, M-steps, covariance checks) that hold
it, and two threads reached only 1.4 of 2 cores on the AASPI-sized problem. Worker processes scale
with the cores. They are joblib's ``loky`` processes (scikit-learn's): started once per session and
reused, safe to start from a script without an ``if __name__ == "__main__"`` guard or from a
notebook, with BLAS kept to one thread per worker. A job carries its facies' standardised voxels
(joblib shares arrays above 1 MB through memory maps instead of copying them) and comes back as the
fits' parameters (small arrays).

The first pool of a session costs a second or two to start (each worker imports NumPy and this
package), so small runs (the tests, ``--sem-iter 5``) stay in this process: see :func:`choose_workers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fits of less work than this (voxels x fits x iterations, about 5 s on one core) stay in this process.
POOL_MIN_WORK = 5e8


@dataclass(frozen=True)
class FitJob:
    """One batch: facies ``facies``, ``k`` components, the combinations ``combos`` (rows of attribute indices)."""

    facies: int
    k: int
    combos: np.ndarray
    masks: tuple
    settings: object


def available_cores() -> int:
    """Cores this process may use: joblib's count, which honours the CPU affinity and a container's CPU quota."""
    from joblib import cpu_count  # noqa: PLC0415 - scikit-learn's dependency

    return max(1, int(cpu_count()))


def estimated_work(voxels_per_facies, n_combinations: int, settings) -> float:
    """Voxel-fit-iterations of a run: the unit of :data:`POOL_MIN_WORK`."""
    iterations = settings.sem_iter + settings.kmeans_starts * settings.kmeans_iter + 10
    fits = n_combinations * len(settings.models) * settings.max_clusters
    return float(sum(voxels_per_facies)) * fits * iterations


def choose_workers(settings, work: float, *, on_gpu: bool) -> int:
    """Worker processes for a run: ``settings.workers`` when set, else one per core for large runs; 1 = this process."""
    if on_gpu:
        return 1
    if settings.workers:
        return int(settings.workers)
    return available_cores() if work >= POOL_MIN_WORK else 1


def _run_in_worker(x, job: FitJob, index: int):
    """One job in a worker process: the facies' features from its voxels ``x``, then the fits."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - sklearn's dependency

    from facies.engine.selection.fitting import FacieData, run_job  # noqa: PLC0415 - fitting imports this module

    with threadpool_limits(1):  # the parallelism is the processes'
        return index, run_job(FacieData(x), job)


class InProcess:
    """Runs jobs one after another in this process (one CPU worker, or the GPU), with single-threaded BLAS."""

    def __init__(self, facies):
        self.facies = facies
        self.workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, jobs, on_done=None):
        """``[(job, FitResult)]`` in the order of ``jobs``; ``on_done(job)`` after each."""
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        from facies.engine.selection.fitting import run_job  # noqa: PLC0415

        out = []
        # threadpoolctl changes process-wide state and is not thread-safe: entered once, around all jobs
        with threadpool_limits(1):
            for job in jobs:
                out.append((job, run_job(self.facies[job.facies], job)))
                if on_done:
                    on_done(job)
        return out


class ProcessPool:
    """Runs jobs on ``workers`` joblib (loky) worker processes."""

    def __init__(self, facies, workers: int):
        self.facies = facies
        self.workers = workers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, jobs, on_done=None):
        """``[(job, FitResult)]`` in the order of ``jobs``; ``on_done(job)`` as each finishes."""
        from joblib import Parallel, delayed  # noqa: PLC0415 - scikit-learn's dependency

        parallel = Parallel(n_jobs=self.workers, backend="loky", return_as="generator_unordered")
        out = [None] * len(jobs)
        for i, res in parallel(delayed(_run_in_worker)(self.facies[job.facies].x, job, i)
                               for i, job in enumerate(jobs)):
            out[i] = (jobs[i], res)
            if on_done:
                on_done(jobs[i])
        return out


def fit_runner(facies, settings, work: float, *, on_gpu: bool):
    """The runner of a selection: :class:`ProcessPool` or :class:`InProcess` (see :func:`choose_workers`)."""
    workers = choose_workers(settings, work, on_gpu=on_gpu)
    if workers > 1:
        return ProcessPool(facies, workers)
    return InProcess(facies)
