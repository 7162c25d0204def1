"""Benchmark: the fused GTM projection (facies.kernels.gtm.project), voxels per second, K = 400 nodes.

CPU, for D = 4 and 9 attributes (C = 6 facies), at each BLAS thread count of ``--threads`` (threadpoolctl; the
NumPy element-wise passes are single-threaded in all three):

- ``facies``: the NumPy backend (kernels/gtm/_numpy.py), both methods (``gtc``, ``bhattacharyya``);
- ``plain``: the obvious full-matrix vectorised projection in float64, in its best honest form: squared
  distances by matmul (``|t|^2 - 2 t Y^T + |y|^2``), (n, K) responsibilities by max-shifted log-sum-exp,
  ``R @ Z``, ``R @ W^T``, normalise, argmax, dead voxels masked;
- ``ugtm``: ``ugtm.transform(model, train, test, process=False)`` (responsibilities, mean and mode
  positions; no facies), on a model of the same K fitted by ugtm beforehand (not timed), when ugtm imports.

Timings are interleaved (facies, plain, ugtm, facies, ...) and repeated; min and median are reported with the
machine and the load average before and after (bench/common.py). Writes bench/results/gtm_project_cpu.json.

GPU (only where CuPy imports and a device answers): the fused kernel on device arrays, timed with CUDA events
after a warm-up launch (compilation), for the same D and K and both methods; writes
bench/results/gtm_project_gpu.json.

    .venv/bin/python bench/bench_gtm_project.py [--voxels 100000] [--repeat 5] [--threads 1,2] [--gpu-voxels 50000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from common import machine, write_result
from threadpoolctl import threadpool_limits

from facies.engine.benchmark.gtm_data import (BETA, FACIES, K_SIDE, facies_projection, model, plain_projection,
                                               voxels, weights)

RESULTS = Path(__file__).parent / "results"


def ugtm_model(m: dict, x):
    """A ugtm model with K_SIDE^2 nodes fitted (a few iterations, not timed) on standardised training voxels."""
    import ugtm  # noqa: PLC0415 - optional: the comparison is skipped without it

    train = ((x[:3000] - m["mean"]) / m["scale"]).astype(np.float64)
    train = train[np.isfinite(train).all(axis=1)]
    fitted = ugtm.runGTM(train, k=K_SIDE, m=4, niter=5, doPCA=False, missing=False)
    return ugtm, fitted, train


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_cpu(args) -> dict:
    rows = []
    try:
        import ugtm  # noqa: F401, PLC0415
        have_ugtm = True
    except ImportError:
        have_ugtm = False
    for d in (4, 9):
        m = model(d)
        x, live = voxels(m, args.voxels)
        test = ((x - m["mean"]) / m["scale"]).astype(np.float64)
        test = np.where(np.isfinite(test), test, 0)  # ugtm refuses NaN without its own imputation
        ug = ugtm_model(m, x) if have_ugtm else None
        for threads in args.threads:
            runs = {"facies gtc": lambda: facies_projection(m, x, live, "gtc"),
                    "facies bhattacharyya": lambda: facies_projection(m, x, live, "bhattacharyya"),
                    "plain gtc": lambda: plain_projection(m, x, live, "gtc"),
                    "plain bhattacharyya": lambda: plain_projection(m, x, live, "bhattacharyya")}
            if ug is not None:
                lib, fitted, train = ug
                runs["ugtm transform"] = lambda: lib.transform(fitted, train, test, process=False)
            seconds: dict[str, list[float]] = {name: [] for name in runs}
            with threadpool_limits(threads):
                for fn in runs.values():  # warm-up: page faults, thread pools
                    fn()
                for _ in range(args.repeat):
                    for name, fn in runs.items():  # interleaved, so load changes hit all alike
                        seconds[name].append(timed(fn))
            for name, s in seconds.items():
                best, median = min(s), statistics.median(s)
                rows.append({"implementation": name, "attributes": d, "nodes": K_SIDE ** 2, "facies": FACIES,
                             "voxels": args.voxels, "blas_threads": threads, "min_s": best, "median_s": median,
                             "voxels_per_s": args.voxels / best, "voxels_per_s_median": args.voxels / median})
                print(f"D={d} threads={threads} {name:22s} min {best:7.3f} s  median {median:7.3f} s  "
                      f"{args.voxels / best:12,.0f} voxels/s")
    return {"rows": rows, "ugtm": have_ugtm}


def bench_gpu(args) -> dict | None:
    try:
        import cupy as cp  # noqa: PLC0415

        cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - no CuPy or no device: the GPU section is skipped, said so
        print(f"GPU section skipped: {type(exc).__name__}: {exc}")
        return None
    from facies.kernels.gtm import _cuda as gtm_cuda  # noqa: PLC0415

    rows = []
    n = args.gpu_voxels
    for d in (4, 9):
        m = model(d)
        x_host, live_host = voxels(m, min(n, 2_000_000))
        reps = -(-n // len(x_host))
        x = cp.asarray(np.tile(x_host, (reps, 1))[:n])
        live = cp.asarray(np.tile(live_host, reps)[:n])
        out = (cp.empty((FACIES, n), cp.float32), cp.empty(n, cp.uint8), cp.empty(n, cp.float32),
               cp.empty((2, n), cp.float32))
        for method in ("gtc", "bhattacharyya"):
            w, sq = weights(m, method)

            def launch():
                gtm_cuda.project(x, live, m["mean"], m["scale"], m["nodes"], m["beta"], m["latent"], w, sq,  # noqa: B023
                                 m["codes"], *out)  # noqa: B023
            launch()  # warm-up: compilation, module load
            cp.cuda.Device().synchronize()
            times = []
            for _ in range(args.repeat):
                start, end = cp.cuda.Event(), cp.cuda.Event()
                start.record()
                launch()
                end.record()
                end.synchronize()
                times.append(cp.cuda.get_elapsed_time(start, end) / 1000.0)
            best = min(times)
            rows.append({"method": method, "attributes": d, "nodes": K_SIDE ** 2, "facies": FACIES, "voxels": n,
                         "min_s": best, "median_s": statistics.median(times), "voxels_per_s": n / best})
            print(f"GPU D={d} {method:14s} {n / best:14,.0f} voxels/s")
    props = cp.cuda.runtime.getDeviceProperties(0)
    return {"gpu": props["name"].decode(), "rows": rows, "goal": ">= 1e9 voxels/s on an H100 at K = 400, D = 9"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxels", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", default=f"1,{os.cpu_count() or 1}")
    ap.add_argument("--gpu-voxels", type=int, default=50_000_000)
    ap.add_argument("--skip-cpu", action="store_true")
    args = ap.parse_args()
    args.threads = sorted({int(v) for v in args.threads.split(",")})
    if not args.skip_cpu:
        before = machine()
        cpu = bench_cpu(args)
        result = {"machine": before, "load_average_before": before["load_average"],
                  "load_average_after": machine()["load_average"], "repeat": args.repeat, "beta": BETA,
                  "note": "ugtm computes responsibilities, mean and mode positions only (no facies); plain and "
                          "facies compute probabilities, codes, confidence and u", **cpu}
        write_result(RESULTS / "gtm_project_cpu.json", result)
    gpu = bench_gpu(args)
    if gpu is not None:
        gpu["machine"] = machine()
        write_result(RESULTS / "gtm_project_gpu.json", gpu)


if __name__ == "__main__":
    main()
