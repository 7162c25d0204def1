"""Benchmark: GTM fit time, facies' chunked EM against ugtm's ``optimize``, on the same data and thread count.

200 000 standardised points (a mixture of correlated clusters) in D = 4 and 9 attributes, K = 20 x 20 = 400
nodes, M = 5 x 5 = 25 basis functions, a fixed 20 EM iterations. Both fits start from the same W and beta
(ours, from :func:`facies.kernels.gtm.initialise`) and run the same model: basis width ``sqrt(s)`` for
ugtm's ``s = 0.3``, the bias regularised as ugtm does (``regularise_bias=True``), our tolerance 0. ugtm
stops early after four iterations whose printed log-likelihood changes by <= 1e-4; the iterations it ran
are counted from its verbose output and recorded. The initialisation is not timed (PCA, the same for both).

ugtm forms dense n x K matrices (distances, P, R: 640 MB each at 200 000 x 400 in float64) and its time
per point is flat in n, so ``--ugtm-points`` may time it on fewer points (the JSON says so, with the
per-point rate); by default it runs on all of them.

Timings are interleaved (facies, ugtm, facies, ...) after a short warm-up of both, repeated; min and median
are reported with the load average before and after. BLAS threads of both are limited to ``--threads``
(threadpoolctl); the elementwise NumPy work of both is single-threaded. Writes
``bench/results/gtm_fit_cpu.json``.

    .venv/bin/python bench/bench_gtm_fit.py --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
from common import machine, write_result
from threadpoolctl import threadpool_limits


def synthetic(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Three correlated clusters, standardised per attribute (as the engine hands data to the fit)."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=(n // 3 + (i < n % 3), d)) @ rng.normal(size=(d, d)) * 0.5 + 2 * rng.normal(size=d)
             for i in range(3)]
    x = np.concatenate(parts)
    return (x - x.mean(axis=0)) / x.std(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--ugtm-points", type=int, default=None, help="Points for ugtm (default: --points).")
    parser.add_argument("--dims", default="4,9")
    parser.add_argument("--grid", type=int, default=20)
    parser.add_argument("--basis", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "gtm_fit_cpu.json"))
    args = parser.parse_args()

    from ugtm import ugtm_classes, ugtm_gtm

    from facies.kernels.gtm import GtmSettings, basis_matrix, fit_gtm, initialise, latent_grid

    s_ugtm, regul = 0.3, 0.1
    ugtm_points = args.ugtm_points or args.points
    before = machine()
    rows = []
    with threadpool_limits(args.threads):
        for d in (int(v) for v in args.dims.split(",")):
            x = synthetic(args.points, d)
            x_ugtm = x[:ugtm_points]
            latent = latent_grid(args.grid)
            phi = basis_matrix(latent, args.basis, float(np.sqrt(s_ugtm)))
            w0, beta0 = initialise(x, phi, latent)
            k, m = args.grid**2, args.basis**2
            start = ugtm_classes.InitialGTM(latent, latent_grid(args.basis), k, m, s_ugtm * (2 / (args.basis - 1)) ** 2,
                                            phi, w0.T, (phi @ w0).T, 1.0 / beta0, d)

            def ours(iterations, x=x, w0=w0, beta0=beta0):
                settings = GtmSettings(grid=args.grid, basis=args.basis, width=float(np.sqrt(s_ugtm)),
                                       regularisation=regul, iterations=iterations, tolerance=0.0,
                                       regularise_bias=True)
                return fit_gtm(x, settings, init=(w0, beta0))

            def theirs(iterations, x_ugtm=x_ugtm, start=start):
                out = io.StringIO()
                with contextlib.redirect_stdout(out):  # verbose, to count the iterations it ran
                    fit = ugtm_gtm.optimize(x_ugtm, start, regul, iterations, verbose=True)
                return fit, out.getvalue().count("Iter ")

            ours(2)  # warm-up: BLAS thread pools, page faults
            theirs(2)
            times: dict[str, list[float]] = {"facies": [], "ugtm": []}
            ran = []
            for _ in range(args.repeat):  # interleaved, so load changes hit both alike
                t = time.perf_counter()
                fit = ours(args.iterations)
                times["facies"].append(time.perf_counter() - t)
                t = time.perf_counter()
                fit_u, n_iter = theirs(args.iterations)
                times["ugtm"].append(time.perf_counter() - t)
                ran.append(n_iter)
            row = {"attributes": d, "facies_points": args.points, "ugtm_points": ugtm_points,
                   "ugtm_iterations_run": ran, "facies_iterations_run": fit.iterations}
            for name, seconds in times.items():
                n_pts = args.points if name == "facies" else ugtm_points
                its = fit.iterations if name == "facies" else min(ran)
                row[name] = {"min_s": min(seconds), "median_s": statistics.median(seconds), "all_s": seconds,
                             "points_iterations_per_s": n_pts * its / min(seconds)}
            row["speedup_per_point_iteration"] = (row["facies"]["points_iterations_per_s"]
                                                  / row["ugtm"]["points_iterations_per_s"])
            if ugtm_points == args.points and min(ran) == fit.iterations:  # the same run: say how close
                row["max_abs_node_difference"] = float(np.abs(fit.nodes - fit_u.matY.T).max())
            rows.append(row)
            print(f"D={d}: facies min {row['facies']['min_s']:.2f} s (median {row['facies']['median_s']:.2f}); "
                  f"ugtm min {row['ugtm']['min_s']:.2f} s (median {row['ugtm']['median_s']:.2f}) on "
                  f"{ugtm_points} points, {min(ran)} iterations; x{row['speedup_per_point_iteration']:.1f} "
                  "per point-iteration")
    result = {"machine": before, "load_average_before": before["load_average"],
              "load_average_after": machine()["load_average"], "threads": args.threads, "nodes": args.grid**2,
              "basis_functions": args.basis**2, "iterations": args.iterations, "repeat": args.repeat,
              "model": {"ugtm_s": s_ugtm, "width": float(np.sqrt(s_ugtm)), "regularisation": regul,
                        "regularise_bias": True, "tolerance": 0.0},
              "timed": "EM only (same initial W and beta passed to both; the PCA initialisation is not timed)",
              "runs": rows}
    write_result(args.out, result)


if __name__ == "__main__":
    main()
