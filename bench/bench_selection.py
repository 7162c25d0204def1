"""Benchmark: attribute selection at the AASPI size (N=9, M=3, J=2, 200 SEM iterations, 10 000 voxels per facies).

CPU, like for like against scikit-learn (the default): only the four models scikit-learn has (VII, VVI, EEE,
VVV = spherical, diag, tied, full), on the same fits: a seeded sample of ``--combos`` of the 511 combinations,
every facies, K = 1 and K = 2. Both sides use the same cores in the fastest honest way: facies on ``--workers``
worker processes (its own pool, single-threaded BLAS), scikit-learn's GaussianMixture as single-threaded fits
(threadpoolctl ``threadpool_limits(1)``) spread in chunks over the same number of loky worker processes. A
two-cluster fit is ``--sem-iter`` SEM iterations + CEM in facies and ``--sem-iter`` EM iterations (tol=0) in
scikit-learn, a one-cluster fit one M-step / one EM iteration. Both pools are started before timing, and the
two timings are interleaved per model (facies first for one model, scikit-learn first for the next) so that a
change of the shared machine's load falls on both. The ratio is reported per model.

``--full``: also times the whole selection (all 511 combinations, the nine models, the run's defaults).
Writes bench/results/selection_cpu.json.  Usage: python bench/bench_selection.py --workers 2 [--full]

``--device gpu``: times the CUDA path instead, for every N of ``--gpu-attributes`` (default 9,12,14), all
dimensions, after a warm-up run (kernel compilation, cuBLAS handles) and with CUDA events around the
timed run; writes bench/results/selection_gpu.json. Both record the machine and its load average
(bench/common.py: the CPU may be shared).
"""

from __future__ import annotations

import argparse
import time
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
from common import machine, write_result


def synthetic(n_attr, n_per_facies, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for f in range(3):
        a = rng.normal(size=(n_per_facies, n_attr)) @ rng.normal(size=(n_attr, n_attr)) * 0.3
        half = n_per_facies // 2
        a[:half] += rng.normal(size=n_attr) * 2
        out.append(a + f)
    return out


def _sklearn_chunk(tasks, sem_iter):
    """Worker: the scikit-learn fits of ``tasks`` [(x, k, covariance_type)], one thread each."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    # tol=0 runs every iteration on purpose (like our SEM), so "did not converge" is expected, not news.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with threadpool_limits(1):
        for x, k, cov in tasks:
            GaussianMixture(k, covariance_type=cov, max_iter=1 if k == 1 else sem_iter, tol=0, reg_covar=0,
                            random_state=0).fit(x)
    return len(tasks)


def sklearn_fits(parallel, data, combos, cov, sem_iter, workers):
    """Every (combination, facies, K) fit of one covariance type, in 4 chunks per worker."""
    from joblib import delayed

    tasks = [(x[:, list(c)], k, cov) for c in combos for x in data for k in (1, 2)]
    chunks = [tasks[i::4 * workers] for i in range(4 * workers)]
    return sum(parallel(delayed(_sklearn_chunk)(chunk, sem_iter) for chunk in chunks if chunk))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attributes", type=int, default=9)
    ap.add_argument("--voxels", type=int, default=10_000)
    ap.add_argument("--combos", type=int, default=24, help="combinations sampled for the like-for-like comparison")
    ap.add_argument("--sem-iter", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpu-attributes", default="9,12,14")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="also time the whole selection with the nine models")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.device == "gpu":
        return bench_gpu(args)
    args.out = args.out or str(Path(__file__).parent / "results" / "selection_cpu.json")
    from joblib import Parallel

    from facies.engine.selection import SelectionSettings, run_selection
    from facies.kernels.gmm import SKLEARN_NAMES

    n = args.attributes
    data = synthetic(n, args.voxels)
    names = [f"a{i}" for i in range(n)]
    every = [c for d in range(1, n + 1) for c in combinations(range(n), d)]
    pick = np.random.default_rng(1).choice(len(every), min(args.combos, len(every)), replace=False)
    combos = [every[i] for i in sorted(pick)]
    machine_before = machine()

    def facies_run(model, sample=combos):
        settings = SelectionSettings(models=(model,), sem_iter=args.sem_iter, holdout=0.0, workers=args.workers)
        return run_selection(data, names, settings=settings, combinations=[[names[i] for i in c] for c in sample])

    rows = []
    with Parallel(n_jobs=args.workers, backend="loky") as parallel:
        # start both pools (the same loky executor) and import everything before timing
        facies_run("VII", combos[:2])
        sklearn_fits(parallel, data, combos[:2], "spherical", 2, args.workers)
        for i, (model, cov) in enumerate(SKLEARN_NAMES.items()):
            times = {}
            for side in (("facies", "sklearn") if i % 2 == 0 else ("sklearn", "facies")):
                t = time.perf_counter()
                if side == "facies":
                    res = facies_run(model)
                    assert res.workers == args.workers
                else:
                    sklearn_fits(parallel, data, combos, cov, args.sem_iter, args.workers)
                times[side] = time.perf_counter() - t
            rows.append({"model": model, "sklearn_covariance_type": cov, "facies_s": times["facies"],
                         "sklearn_s": times["sklearn"], "ratio_sklearn_over_facies": times["sklearn"] / times["facies"],
                         "load_average": machine()["load_average"]})
            print(rows[-1])
    full = None
    if args.full:
        t = time.perf_counter()
        res = run_selection(data, names, settings=SelectionSettings(sem_iter=args.sem_iter, holdout=0.0,
                                                                     workers=args.workers))
        full = {"seconds": time.perf_counter() - t, "fit_s": res.timings["fit_s"], "workers": res.workers,
                "fits": res.counts["fits"], "settings": res.settings.as_dict(), "best": list(res.best.attributes)}
        print("full selection", {k: v for k, v in full.items() if k != "settings"})
    out = {"machine": machine_before, "load_average_after": machine()["load_average"], "workers": args.workers,
           "attributes": n, "facies": 3, "voxels_per_facies": args.voxels, "sem_iter": args.sem_iter,
           "combinations_compared": ["+".join(names[i] for i in c) for c in combos],
           "fits_per_model": len(combos) * 3 * 2, "per_model": rows,
           "ratio_geometric_mean": float(np.exp(np.mean([np.log(r["ratio_sklearn_over_facies"]) for r in rows]))),
           "full_selection": full,
           "note": "like for like: the same fits (sampled combinations x 3 facies x K = 1, 2) of the four models "
                   "scikit-learn has, both on the same number of single-threaded worker processes, timings "
                   "interleaved per model; facies runs its defaults (k-means init pca2, CEM after SEM), "
                   "scikit-learn its k-means init and EM with tol=0"}
    write_result(args.out, out)


def bench_gpu(args):
    """The CUDA path at N = 9, 12, 14 (all dimensions), timed with CUDA events after a warm-up."""
    import cupy as cp

    from facies.engine.backend import get_backend
    from facies.engine.selection import SelectionSettings, run_selection

    backend = get_backend("gpu")
    settings = SelectionSettings(sem_iter=args.sem_iter, holdout=0.0)
    rows = []
    for n in (int(v) for v in args.gpu_attributes.split(",")):
        data = synthetic(n, args.voxels)
        names = [f"a{i}" for i in range(n)]
        run_selection(data, names, settings=SelectionSettings(sem_iter=3, holdout=0.0), dims=[1, 2],
                      backend=backend, require_gpu=True)  # warm-up: compile kernels, create handles
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        res = run_selection(data, names, settings=settings, backend=backend, require_gpu=True)
        end.record()
        end.synchronize()
        rows.append({"attributes": n, "combinations": 2**n - 1, "fits": res.counts["fits"],
                     "gpu_s": cp.cuda.get_elapsed_time(start, end) / 1000.0, "device": res.device,
                     "best": list(res.best.attributes) if res.best else None})
        print(rows[-1])
    props = cp.cuda.runtime.getDeviceProperties(0)
    out = {"gpu": props["name"].decode(), "machine": machine(), "voxels_per_facies": args.voxels,
           "sem_iter": args.sem_iter, "facies": 3, "max_clusters": 2, "runs": rows,
           "goal": "AASPI size (N=9) <= 5 s on an H100"}
    write_result(args.out or Path(__file__).parent / "results" / "selection_gpu.json", out)


if __name__ == "__main__":
    main()
