"""Brick engine throughput against Zarr alone, in the same run.

Writes a float32 survey of ``--gb`` GB to /tmp, then copies it region by region:

1. ``zarr_loop``: a plain loop ``dst[r] = src[r]`` over the bricks (Zarr alone, one thread);
2. ``zarr_threads``: the same regions from a thread pool (Zarr alone, as parallel as we can make it);
3. ``scheduler_copy``: the Copy operator through :func:`run_bricks` (goal: >= 0.8 x the best baseline);
4. ``scheduler_mean``: a 3x3x3 LocalMean through :func:`run_bricks` (compute on top of I/O);

and on a GPU the same on the GPU backend with the share of wall time the GPU is busy.
Prints ratios and writes JSON to bench/results/bricks.json. The store is deleted at the end.

    .venv/bin/python bench/bench_bricks.py --gb 2
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import machine, write_result

from facies.engine.backend import probe_cupy
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.geometry import Geometry
from facies.engine.operators import Copy, LocalMean
from facies.engine.store import Survey

RESULTS = Path(__file__).resolve().parent / "results" / "bricks.json"


def make_store(root: Path, gb: float, n_samples: int, chunks) -> Survey:
    side = max(chunks[0], int(math.sqrt(gb * 1e9 / 4 / n_samples)))
    geometry = Geometry(inlines=np.arange(side, dtype=np.int32), crosslines=np.arange(side, dtype=np.int32),
                        samples=np.arange(n_samples, dtype=np.float32) * 4)
    survey = Survey.create(root / "bench.zarr", geometry, chunks=chunks)
    source = survey.create_volume("amp", provenance={"command": "bench"})
    rng = np.random.default_rng(0)
    for brick in BrickPlan(survey.shape, survey.chunks, (chunks[0], chunks[1], n_samples)):
        # Smooth-ish values with noise: compresses a little, like real attributes.
        shape = brick.shape
        block = np.cumsum(rng.standard_normal(shape, dtype=np.float32), axis=2) * 0.01
        source[region_slices(brick.region)] = block.astype(np.float32)
    survey.mark_complete("amp")
    return survey


def zarr_copy(survey: Survey, brick, threads: int) -> float:
    src = survey.array("amp")
    dst = survey.create_volume("zarr_copy", provenance={"command": "bench"}, overwrite=True)
    regions = [region_slices(b.region) for b in BrickPlan(survey.shape, survey.chunks, brick)]

    def one(r):
        dst[r] = src[r]

    start = time.perf_counter()
    if threads == 1:
        for r in regions:
            one(r)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, regions))
    return time.perf_counter() - start


def warm_page_cache(survey: Survey, brick) -> None:
    """Read every brick once and drop it, so every variant starts from the same (warm) page cache."""
    source = survey.array("amp")
    for b in BrickPlan(survey.shape, survey.chunks, brick):
        source[region_slices(b.region)]


def through_scheduler(survey: Survey, op, output: str, brick, device: str):
    start = time.perf_counter()
    result = run_bricks(survey, [op], {op.outputs[0].name: output},
                        options=RunOptions(device=device, brick=brick, overwrite=True, progress=False))
    return time.perf_counter() - start, result.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="Survey size in GB of float32 (default 2).")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--chunks", default="64,64,128")
    parser.add_argument("--brick", default="128,128", help="Brick IL,XL (full height) for every variant.")
    parser.add_argument("--threads", type=int, default=4, help="Threads of the threaded Zarr baseline.")
    args = parser.parse_args()
    chunks = tuple(int(v) for v in args.chunks.split(","))
    root = Path(tempfile.mkdtemp(prefix="facies-bench-", dir="/tmp"))
    try:
        t0 = time.perf_counter()
        survey = make_store(root, args.gb, args.samples, chunks)
        brick = tuple(int(v) for v in args.brick.split(",")) + (survey.shape[2],)
        nbytes = math.prod(survey.shape) * 4
        print(f"survey {survey.shape} float32 = {nbytes / 1e9:.2f} GB, chunks {chunks}, brick {brick} "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        warm_page_cache(survey, brick)
        timings = {}
        timings["zarr_loop"] = zarr_copy(survey, brick, 1)
        timings["zarr_threads"] = zarr_copy(survey, brick, args.threads)
        timings["scheduler_copy"], copy_stats = through_scheduler(survey, Copy("amp", "c"), "copied", brick, "cpu")
        timings["scheduler_mean"], mean_stats = through_scheduler(survey, LocalMean("amp", "m"), "mean", brick, "cpu")
        report = {"machine": machine(), "shape": survey.shape, "gigabytes": nbytes / 1e9, "chunks": chunks,
                  "brick": brick, "seconds": timings,
                  "stats": {"copy": copy_stats.as_dict(), "mean": mean_stats.as_dict()}}
        best_zarr = min(timings["zarr_loop"], timings["zarr_threads"])
        report["ratio_copy_vs_zarr_loop"] = timings["zarr_loop"] / timings["scheduler_copy"]
        report["ratio_copy_vs_best_zarr"] = best_zarr / timings["scheduler_copy"]
        report["ratio_mean_vs_copy"] = timings["scheduler_copy"] / timings["scheduler_mean"]
        if probe_cupy()[0] is not None:
            for name, op in (("gpu_copy", Copy("amp", "c")), ("gpu_mean", LocalMean("amp", "m"))):
                seconds, stats = through_scheduler(survey, op, name, brick, "gpu")
                timings[name] = seconds
                report[f"{name}_busy_share"] = stats.gpu_busy_seconds / stats.wall_seconds
            report["ratio_gpu_copy_vs_best_zarr"] = best_zarr / timings["gpu_copy"]
        report["gb_per_s"] = {k: nbytes / v / 1e9 for k, v in timings.items()}  # GPU variants included
        for k, v in timings.items():
            print(f"{k:16s} {v:7.2f} s  {nbytes / v / 1e9:6.2f} GB/s")
        print(f"copy through scheduler / best zarr: {report['ratio_copy_vs_best_zarr']:.2f} (goal >= 0.8); "
              f"/ zarr loop: {report['ratio_copy_vs_zarr_loop']:.2f}; "
              f"mean / copy speed: {report['ratio_mean_vs_copy']:.2f}")
        write_result(RESULTS, report)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
