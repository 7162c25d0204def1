"""Benchmark: attribute selection at the AASPI size (N=9, M=3, J=2, nine models, 200 SEM iterations,
10 000 voxels per facies).

Times the batched NumPy backend on the dimensions given by --dims (all by default) and extrapolates
to all 511 combinations by the fraction of combinations x feature width timed (said so in the JSON),
and scikit-learn GaussianMixture fits in a loop on a random sample of fits, extrapolated to all fits.
A one-cluster fit runs one scikit-learn EM iteration (closed form, as the batched path fits K = 1),
a two-cluster fit ``--sem-iter`` iterations (tol=0), comparable to our SEM iterations.
Writes bench/results/selection_cpu.json.  Usage: python bench/bench_selection.py [--dims 1-2] [--sklearn-sample 30]

``--device gpu``: times the CUDA path instead, for every N of ``--gpu-attributes`` (default 9,12,14), all
dimensions, after a warm-up run (kernel compilation, cuBLAS handles) and with CUDA events around the
timed run; writes bench/results/selection_gpu.json. Both record the machine and its load average
(bench/common.py: the CPU may be shared).
"""

from __future__ import annotations

import argparse
import time
import warnings
from math import comb
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attributes", type=int, default=9)
    ap.add_argument("--voxels", type=int, default=10_000)
    ap.add_argument("--dims", default=None)
    ap.add_argument("--sem-iter", type=int, default=200)
    ap.add_argument("--sklearn-sample", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpu-attributes", default="9,12,14")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.device == "gpu":
        return bench_gpu(args)
    args.out = args.out or str(Path(__file__).parent / "results" / "selection_cpu.json")
    from facies.engine.backend import get_backend
    from facies.engine.selection import SelectionSettings, parse_dims, run_selection
    from facies.kernels.gmm import MODELS, SKLEARN_NAMES, n_features

    n = args.attributes
    data = synthetic(n, args.voxels)
    names = [f"a{i}" for i in range(n)]
    dims = parse_dims(args.dims, n)
    settings = SelectionSettings(sem_iter=args.sem_iter, holdout=0.0, workers=args.workers)
    backend = get_backend(args.device)
    machine_before = machine()
    t = time.perf_counter()
    res = run_selection(data, names, settings=settings, dims=dims, backend=backend)
    timed = time.perf_counter() - t
    # work per combination ~ feature width p(d): extrapolate by sum of C(N, d) p(d)
    weight = {d: comb(n, d) * n_features(d) for d in range(1, n + 1)}
    frac = sum(weight[d] for d in dims) / sum(weight.values())
    batched_full = timed / frac
    n_fits = (2**n - 1) * 3 * len(MODELS) * 2

    # scikit-learn: a random sample of (combination, facies, K, model) fits it has (4 of the 9 models)
    rng = np.random.default_rng(1)
    sk_times = []
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    # tol=0 runs every iteration on purpose (like our SEM), so "did not converge" is expected, not news.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    for _ in range(args.sklearn_sample):
        d = int(rng.choice(np.arange(1, n + 1), p=np.array([comb(n, k) for k in range(1, n + 1)]) / (2**n - 1)))
        cols = rng.choice(n, d, replace=False)
        x = data[rng.integers(3)][:, cols]
        cov = list(SKLEARN_NAMES.values())[rng.integers(4)]
        k = int(rng.integers(1, 3))
        # K = 1 is one closed-form M-step in the batched path: one EM iteration is its fair counterpart.
        iterations = 1 if k == 1 else args.sem_iter
        t = time.perf_counter()
        GaussianMixture(k, covariance_type=cov, max_iter=iterations, tol=0, reg_covar=0, random_state=0).fit(x)
        sk_times.append(time.perf_counter() - t)
    sk_mean = float(np.mean(sk_times)) if sk_times else None
    sk_full = None if sk_mean is None else sk_mean * n_fits
    out = {"machine": machine_before, "device": res.device, "workers": res.workers,
           "load_average_before": machine_before["load_average"], "load_average_after": machine()["load_average"],
           "attributes": n, "facies": 3,
           "voxels_per_facies": args.voxels, "sem_iter": args.sem_iter, "models": list(MODELS), "max_clusters": 2,
           "dims_timed": dims, "batched_timed_s": timed, "fraction_of_work_timed": frac,
           "batched_full_s_extrapolated": batched_full, "extrapolated": frac < 1,
           "sklearn_sample_fits": args.sklearn_sample, "sklearn_mean_fit_s": sk_mean,
           "sklearn_full_s_extrapolated": sk_full, "fits": n_fits,
           "speedup": None if sk_full is None else sk_full / batched_full,
           "note": "sklearn runs sem_iter EM iterations (tol=0) per two-cluster fit, comparable to our SEM "
                   "iterations, and one iteration per one-cluster fit (closed form in the batched path)"}
    write_result(args.out, out)
    print(f"batched {timed:.1f} s timed, {batched_full:.0f} s extrapolated"
          + ("" if sk_full is None else f"; scikit-learn {sk_full:.0f} s extrapolated: x{sk_full / batched_full:.2f}"))


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
