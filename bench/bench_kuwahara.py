"""Benchmark of the 3D Kuwahara filter: voxels per second, with baselines measured in the same run.

CPU (always): the fast NumPy backend against
  - a straightforward SciPy implementation (``uniform_filter`` box means of count, value and
    square, all windows stacked, ``argmin``), and
  - the brute-force float64 reference, timed on a small volume (``2 * halo + 1`` voxels per axis,
    so that some voxels have every window inside it) and extrapolated per voxel (it is far too
    slow for the benchmark volume; the JSON says so).
GPU (when CuPy and a device answer): the CUDA kernel's voxels/s and effective bandwidth (one
read + one write of float32 per voxel) against a device-to-device copy of the same volume,
CUDA events after warm-up, and the GPU / CPU ratio with the CPU timed on the same volume.
Engine (``--engine``): the whole-survey filter through the brick engine
(:func:`facies.engine.filtering.filter_kuwahara`, store -> store, resumable runs) on a temporary
store, against the same kernel on the volume in memory and against a plain copy through the
engine (the store's read + write floor), on the CPU, and on the GPU when one answers.
Crop (``--crop``): what the brick operator saves by computing only a brick's interior
(``out_region``) instead of the whole brick grown by its halo: the kernel on a ``--crop-shape``
kept region plus its halo, whole vs ``out_region`` = the kept region, timed alternately in the
same run (best of ``--repeat`` each), octant r=2 and shifted a=2 (mean), CPU and GPU.

    .venv/bin/python bench/bench_kuwahara.py [--shape 32 96 256] [--repeat 3] [--gpu-shape 256 256 512]
    .venv/bin/python bench/bench_kuwahara.py --engine [--survey-shape 128 128 512] [--inputs 2] [--skip-kernel]
    .venv/bin/python bench/bench_kuwahara.py --crop [--crop-shape 128 128 128] [--workers 1] [--repeat 21] --skip-kernel

Writes bench/results/kuwahara_cpu.json (and kuwahara_gpu.json on a GPU); with --engine
kuwahara_engine_cpu.json (and kuwahara_engine_gpu.json); with --crop kuwahara_crop_cpu.json (and
kuwahara_crop_gpu.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_time, machine, write_result

from facies.engine.benchmark.kuwahara_baseline import scipy_kuwahara  # shared with facies bench
from facies.kernels.kuwahara import kuwahara
from facies.kernels.kuwahara.windows import kuwahara_halo

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CASES = [(r, mode, "mean") for mode in ("octant", "shifted") for r in (1, 2, 3)] + [
    (2, "octant", "median"), (1, "shifted", "median")]


def test_volume(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.01] = np.nan
    return x


def reference_filter():
    """The brute-force reference, which lives with the tests (tests/kuwahara_reference.py)."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # run as bench/bench_kuwahara.py: its folder is on the path, not the repo
    from tests.kuwahara_reference import kuwahara_reference  # noqa: PLC0415

    return kuwahara_reference


def bench_cpu(shape, repeat: int) -> dict:
    kuwahara_reference = reference_filter()
    x = test_volume(shape)
    rows = []
    for r, mode, stat in CASES:
        small = test_volume(tuple(2 * h + 1 for h in kuwahara_halo(r, mode)), seed=1)
        fast = x.size / best_time(lambda: kuwahara(x, r, mode=mode, stat=stat), repeat)
        one = x.size / best_time(lambda: kuwahara(x, r, mode=mode, stat=stat, workers=1), repeat)
        ref = small.size / best_time(lambda: kuwahara_reference(small, r, mode=mode, stat=stat), 1, warmup=False)
        row = dict(radius=r, mode=mode, stat=stat, fast_voxels_per_s=fast, fast_1_thread_voxels_per_s=one,
                   reference_shape=list(small.shape), reference_voxels_per_s_extrapolated=ref,
                   speedup_vs_reference=fast / ref)
        if stat == "mean":
            scipy_rate = x.size / best_time(lambda: scipy_kuwahara(x, r, mode), 1, warmup=False)
            row.update(scipy_uniform_filter_voxels_per_s=scipy_rate, speedup_vs_scipy=fast / scipy_rate)
        rows.append(row)
        print(f"r={r} {mode:7s} {stat:6s} fast {fast / 1e6:7.2f} Mvox/s (1 thread {one / 1e6:6.2f})  "
              f"x{row['speedup_vs_reference']:8.0f} vs reference"
              + (f"  x{row['speedup_vs_scipy']:5.2f} vs scipy uniform_filter" if stat == "mean" else ""))
    return dict(machine=machine(), shape=list(shape), dtype="float32", nan_fraction=0.01, repeat=repeat,
                note="reference timed on a (2 halo + 1)^3 volume (reference_shape) and extrapolated per voxel; "
                     "best of `repeat` runs after a warm-up",
                results=rows)


def bench_gpu(shape, repeat: int) -> dict | None:
    from facies.engine.backend import probe_cupy

    cp, reason = probe_cupy()
    if cp is None:
        print(f"GPU part skipped: {reason}")
        return None

    def event_time(fn) -> float:
        for _ in range(2):
            fn()
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        best = np.inf
        for _ in range(repeat):
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            best = min(best, cp.cuda.get_elapsed_time(start, stop) / 1e3)
        return best

    host = test_volume(shape)
    x = cp.asarray(host)
    out = cp.empty_like(x)
    copy_s = event_time(lambda: cp.copyto(out, x))
    floor = x.size / copy_s
    rows = []
    for r, mode, stat in CASES:
        t = event_time(lambda: kuwahara(x, r, mode=mode, stat=stat, out=out))
        rate = x.size / t
        # the CPU on this very volume: rates on different shapes differ by their edges and caches
        cpu_rate = host.size / best_time(lambda: kuwahara(host, r, mode=mode, stat=stat), 1)
        row = dict(radius=r, mode=mode, stat=stat, gpu_voxels_per_s=rate, cpu_voxels_per_s=cpu_rate,
                   effective_bandwidth_GBps=2 * x.nbytes / t / 1e9, fraction_of_copy=rate / floor,
                   gpu_over_cpu=rate / cpu_rate)
        rows.append(row)
        print(f"GPU r={r} {mode:7s} {stat:6s} {rate / 1e9:7.2f} Gvox/s  {row['effective_bandwidth_GBps']:7.1f} GB/s  "
              f"{row['fraction_of_copy']:.2f} of copy  x{row['gpu_over_cpu']:.0f} vs CPU")
    props = cp.cuda.runtime.getDeviceProperties(0)
    return dict(device=props["name"].decode(), machine=machine(), shape=list(shape), dtype="float32",
                copy_voxels_per_s=floor, copy_bandwidth_GBps=2 * x.nbytes / copy_s / 1e9,
                note="CUDA events, best of `repeat` after 2 warm-up runs; copy = cupy.copyto d2d", results=rows)


def bench_engine(shape, n_inputs: int, device: str, repeat: int) -> dict:
    """Whole-survey filter through the brick engine against the in-memory kernel and a copy."""
    from facies.engine.backend import get_backend
    from facies.engine.bricks.options import RunOptions
    from facies.engine.bricks.run import run_bricks
    from facies.engine.filtering import filter_kuwahara
    from facies.engine.geometry import Geometry
    from facies.engine.operators import Copy
    from facies.engine.store import Survey

    backend = get_backend(device)
    names = [f"attr{k}" for k in range(n_inputs)]
    with tempfile.TemporaryDirectory(prefix="bench_kuwahara_") as tmp:
        geometry = Geometry(inlines=np.arange(shape[0], dtype=np.int32), crosslines=np.arange(shape[1], dtype=np.int32),
                            samples=np.arange(shape[2], dtype=np.float32) * 4)
        survey = Survey.create(os.path.join(tmp, "s.zarr"), geometry, chunks=(64, 64, 128))
        volumes = {}
        for k, name in enumerate(names):
            volumes[name] = test_volume(shape, seed=k)
            survey.add_volume(name, volumes[name], provenance={"command": "bench"})

        def engine_run():
            filter_kuwahara(survey, names, 2, options=RunOptions(device=backend.name, overwrite=True, progress=False))

        def copy_run():
            run_bricks(survey, [Copy(n, f"{n}_copy") for n in names],
                       options=RunOptions(device=backend.name, overwrite=True, progress=False))

        def kernel_run():
            for name in names:
                x = backend.to_device(volumes[name])
                backend.to_host(kuwahara(x, 2))

        voxels = np.prod(shape) * n_inputs
        engine = voxels / best_time(engine_run, repeat)
        copy = voxels / best_time(copy_run, repeat)
        kernel = voxels / best_time(kernel_run, repeat)
    row = dict(device=backend.name, survey_shape=list(shape), chunks=[64, 64, 128], inputs=n_inputs,
               radius=2, mode="octant", stat="mean", engine_voxels_per_s=engine, kernel_in_memory_voxels_per_s=kernel,
               engine_copy_voxels_per_s=copy, engine_over_kernel=engine / kernel, engine_over_copy=engine / copy,
               note="voxels counted per input; engine = store -> store (zstd) incl. reads, writes, ledger; "
                    "kernel = the same volumes in memory; copy = Copy operator through the engine")
    print(f"engine {backend.name}: {engine / 1e6:.2f} Mvox/s through the brick engine, kernel in memory "
          f"{kernel / 1e6:.2f} Mvox/s (x{row['engine_over_kernel']:.2f}), engine copy {copy / 1e6:.2f} Mvox/s")
    return row


#: The cases of the crop measurement: (radius, mode, stat).
CROP_CASES = [(2, "octant", "mean"), (2, "shifted", "mean")]


def bench_crop(kept, repeat: int, device: str = "cpu", workers: int | None = None) -> dict | None:
    """Kernel time on a brick grown by its halo: whole brick (then cut) vs ``out_region`` = the kept region.

    Both are timed alternately (whole, crop, crop, whole, ...) in the same run, best of ``repeat``
    each, so that the load of a shared machine weighs on both alike; the results must be equal.
    On the CPU the process CPU time (all threads) is recorded too: the work itself, which other
    processes on a shared machine disturb less than the wall time.
    """
    if device == "gpu":
        from facies.engine.backend import probe_cupy

        cp, reason = probe_cupy()
        if cp is None:
            print(f"GPU crop part skipped: {reason}")
            return None

        def timed(fn) -> tuple[float, float]:
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return cp.cuda.get_elapsed_time(start, stop) / 1e3, np.nan
    else:
        cp = None

        def timed(fn) -> tuple[float, float]:
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            return time.perf_counter() - start, time.process_time() - cpu

    rows = []
    load_before = os.getloadavg()
    for r, mode, stat in CROP_CASES:
        halo = kuwahara_halo(r, mode)
        grown = tuple(k + 2 * h for k, h in zip(kept, halo))
        host = test_volume(grown, seed=2)
        x = host if cp is None else cp.asarray(host)
        interior = tuple((h, h + k) for h, k in zip(halo, kept))
        cut = tuple(slice(a, b) for a, b in interior)

        def whole():
            return kuwahara(x, r, mode=mode, stat=stat, workers=workers)[cut]

        def crop():
            return kuwahara(x, r, mode=mode, stat=stat, workers=workers, out_region=interior)

        a, b = whole(), crop()  # warm-up (thread pools, compilation) and the check
        equal = np.array_equal(*(v if cp is None else cp.asnumpy(v) for v in (a, b)), equal_nan=True)
        assert equal, f"out_region result differs from the cut whole-brick result ({mode} r={r})"
        t_whole, t_crop = [], []
        for k in range(max(1, repeat)):
            pair = [(t_whole, whole), (t_crop, crop)]
            for times, fn in (pair if k % 2 == 0 else pair[::-1]):
                times.append(timed(fn))
        (best_whole, cpu_whole), (best_crop, cpu_crop) = (np.min(np.asarray(t), axis=0) for t in (t_whole, t_crop))
        voxel_fraction = 1 - np.prod(kept) / np.prod(grown)
        row = dict(radius=r, mode=mode, stat=stat, kept_shape=list(kept), grown_shape=list(grown),
                   whole_brick_s=best_whole, out_region_s=best_crop, saving=1 - best_crop / best_whole,
                   halo_voxel_fraction=voxel_fraction, bit_identical=equal,
                   whole_brick_all_s=[w for w, _ in t_whole], out_region_all_s=[w for w, _ in t_crop])
        if cp is None:
            row.update(whole_brick_cpu_s=cpu_whole, out_region_cpu_s=cpu_crop, cpu_saving=1 - cpu_crop / cpu_whole)
        rows.append(row)
        label = device if cp is not None or workers is None else f"{device} ({workers} workers)"
        print(f"crop {label} {mode:7s} r={r} {stat}: kept {'x'.join(map(str, kept))} of grown "
              f"{'x'.join(map(str, grown))}: whole brick {best_whole * 1e3:7.1f} ms, out_region "
              f"{best_crop * 1e3:7.1f} ms: saving {row['saving']:.1%}"
              + (f" (CPU time {cpu_whole * 1e3:.0f} -> {cpu_crop * 1e3:.0f} ms: {row['cpu_saving']:.1%})"
                 if cp is None else "") + f"; halo voxels {voxel_fraction:.1%}")
    return dict(device=device, machine=machine(), load_average_before=list(load_before), repeat=repeat,
                workers=workers if device == "cpu" else None, dtype="float32", nan_fraction=0.01,
                note="best of `repeat` per variant, timed alternately in one run after a warm-up; "
                     "whole brick = kuwahara(grown)[interior], out_region = kuwahara(grown, out_region=interior)"
                     + ("; CUDA events" if device == "gpu" else "; wall and process CPU time"),
                results=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 96, 256))
    parser.add_argument("--gpu-shape", type=int, nargs=3, default=(256, 256, 512))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", action="store_true", help="Also time the whole-survey filter through the engine.")
    parser.add_argument("--skip-kernel", action="store_true",
                        help="Skip the kernel throughput suite (only the --engine / --crop measurements).")
    parser.add_argument("--crop", action="store_true",
                        help="Time the kernel on a brick grown by its halo: whole vs out_region = its interior.")
    parser.add_argument("--crop-shape", type=int, nargs=3, default=(128, 128, 128),
                        help="Kept region of the --crop measurement (the brick is this plus its halo).")
    parser.add_argument("--workers", type=int, default=None,
                        help="CPU threads of the --crop measurement (default: the kernel's own default).")
    parser.add_argument("--survey-shape", type=int, nargs=3, default=(128, 128, 512))
    parser.add_argument("--inputs", type=int, default=2)
    args = parser.parse_args()
    if args.engine:
        from facies.engine.backend import probe_cupy

        for device in ("cpu", "gpu"):
            if device == "gpu" and probe_cupy()[0] is None:
                print("GPU engine part skipped: no GPU answers")
                continue
            row = bench_engine(tuple(args.survey_shape), args.inputs, device, args.repeat)
            row["machine"] = machine()
            write_result(RESULTS / f"kuwahara_engine_{device}.json", row)
    if args.crop:
        for device in ("cpu", "gpu"):
            result = bench_crop(tuple(args.crop_shape), args.repeat, device, args.workers)
            if result is not None:
                write_result(RESULTS / f"kuwahara_crop_{device}.json", result)
    if args.skip_kernel:
        return
    write_result(RESULTS / "kuwahara_cpu.json", bench_cpu(tuple(args.shape), args.repeat))
    gpu = bench_gpu(tuple(args.gpu_shape), max(args.repeat, 5))
    if gpu is not None:
        write_result(RESULTS / "kuwahara_gpu.json", gpu)


if __name__ == "__main__":
    main()
