"""Benchmark: SEG-Y ingest throughput against segyio's raw trace read, with peak memory.

Usage::

    .venv/bin/python bench/bench_ingest.py --gb 2            # make a 2 GB input with segyio.create
    .venv/bin/python bench/bench_ingest.py --segy big.sgy    # or use an existing file

Each measurement runs in its own subprocess so its peak RSS is its own:

- ``segyio``: ``segyio.open(ignore_geometry=True)`` and ``f.trace.raw[a:b]`` in slices of
  ``--slice`` traces (bounded memory), the baseline;
- ``ingest_zstd`` / ``ingest_none``: :func:`facies.engine.segy.ingest_segy` into a new store
  with zstd or no compression.

Reports MB/s of SEG-Y read (file size / seconds) and of store written (store size on disk /
seconds), the ratio of ingest time to the segyio read time, and the peak RSS of each child
(``ru_maxrss`` of the child itself, and ``RUSAGE_CHILDREN`` seen by the parent, which is a
running maximum). The file is read once before timing so every measurement starts from the
same page-cache state (warm); results go to ``bench/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import machine, write_result

N_SAMPLES = 1000


def make_input(path: Path, gb: float, seed: int = 0) -> dict:
    """Write a deterministic, seismic-like post-stack cube with segyio.create (IEEE float, 4 ms)."""
    import segyio

    record = 240 + 4 * N_SAMPLES
    n_traces = int(gb * 1e9 / record)
    n_il = max(2, int(np.sqrt(n_traces * 0.8)))
    n_xl = max(2, n_traces // n_il)
    rng = np.random.default_rng(seed)
    # Layered reflectivity with a gentle dip, convolved with a 30 Hz Ricker wavelet, plus noise.
    margin = 400
    reflectivity = rng.standard_normal(N_SAMPLES + margin) * (rng.random(N_SAMPLES + margin) < 0.08)
    t = np.arange(-32, 33) * 0.004
    ricker = (1 - 2 * (np.pi * 30 * t) ** 2) * np.exp(-(np.pi * 30 * t) ** 2)
    base = np.convolve(reflectivity, ricker, mode="same").astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(base, N_SAMPLES)
    spec = segyio.spec()
    spec.ilines, spec.xlines = np.arange(1000, 1000 + n_il), np.arange(2000, 2000 + n_xl)
    spec.samples, spec.format, spec.sorting = np.arange(N_SAMPLES) * 4.0, 5, 2
    with segyio.create(str(path), spec) as f:
        k = 0
        for i in range(n_il):
            shift = (0.3 * i + 0.2 * np.arange(n_xl)).astype(int) % margin
            block = windows[shift] + 0.05 * rng.standard_normal((n_xl, N_SAMPLES)).astype(np.float32)
            for j in range(n_xl):
                f.header[k] = {189: 1000 + i, 193: 2000 + j, 181: 100 * i, 185: 100 * j, 71: 1}
                f.trace[k] = block[j]
                k += 1
    return {"made_by": "segyio.create (seismic-like: Ricker-convolved layered reflectivity + noise)",
            "shape": [n_il, n_xl, N_SAMPLES], "seed": seed}


class _AnonPeak:
    """Peak anonymous resident memory of this process, sampled from /proc every 20 ms.

    ``ru_maxrss`` also counts file-backed pages of memory-mapped input (the header scan maps the
    whole SEG-Y), which the kernel reclaims at will; anonymous memory is what ingest really holds.
    """

    def __init__(self):
        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except OSError:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def _measure(kind: str, segy: str, store: str, slice_traces: int) -> dict:
    """Run in the child process: one measurement, returns its figures."""
    anon = _AnonPeak()
    start = time.perf_counter()
    if kind == "segyio":
        import segyio

        with segyio.open(segy, ignore_geometry=True) as f:
            checksum = 0.0
            for a in range(0, f.tracecount, slice_traces):
                checksum += float(f.trace.raw[a:min(a + slice_traces, f.tracecount)][:, 0].sum())
        written = 0
    else:
        from facies.engine.segy import ingest_segy

        ingest_segy(segy, store, compression=kind.split("_")[1], progress=False)
        written = sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
        shutil.rmtree(store)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "store_bytes": written,
            "peak_rss_mb_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_anon_mb_self": anon.stop()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segy", type=Path, help="existing SEG-Y to ingest (default: make one)")
    parser.add_argument("--gb", type=float, default=2.0, help="size of the generated input (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()), help="scratch folder")
    parser.add_argument("--input-note", default="", help="how a given --segy was made (recorded in the JSON)")
    parser.add_argument("--slice", type=int, default=10000, help="traces per segyio.trace.raw slice")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SEGY", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(*args.child, args.slice)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="facies-bench-", dir=args.workdir))
    try:
        if args.segy:
            segy, source = args.segy, {"made_by": args.input_note or "given", "path": str(args.segy)}
        else:
            segy = scratch / "input.sgy"
            t0 = time.perf_counter()
            source = make_input(segy, args.gb)
            source["seconds_to_make"] = time.perf_counter() - t0
        size = segy.stat().st_size
        with open(segy, "rb") as f:  # warm the page cache: every measurement starts equal
            while f.read(64 << 20):
                pass
        results = {}
        for kind in ("segyio", "ingest_zstd", "ingest_none"):
            cmd = [sys.executable, __file__, "--slice", str(args.slice), "--child", kind, str(segy),
                   str(scratch / f"{kind}.zarr")]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["peak_rss_mb_children_running_max"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            r["segy_read_mb_s"] = size / 1e6 / r["seconds"]
            r["store_written_mb_s"] = r["store_bytes"] / 1e6 / r["seconds"]
            results[kind] = r
        for kind in ("ingest_zstd", "ingest_none"):
            results[kind]["time_vs_segyio_raw_read"] = results[kind]["seconds"] / results["segyio"]["seconds"]
        report = {"benchmark": "segy ingest", "segy_bytes": size, "input": source, "results": results,
                  "machine": machine(),
                  "page_cache": "warm (file read once before timing)"}
        write_result(args.out, report)
        print(f"input {size / 1e9:.2f} GB ({source['made_by']}); {os.cpu_count()} CPUs")
        for kind, r in results.items():
            ratio = f", {r['time_vs_segyio_raw_read']:.2f}x segyio time" if "time_vs_segyio_raw_read" in r else ""
            print(f"{kind:12s} {r['seconds']:7.2f} s  read {r['segy_read_mb_s']:7.1f} MB/s  "
                  f"store {r['store_bytes'] / 1e6:8.1f} MB at {r['store_written_mb_s']:7.1f} MB/s  "
                  f"peak RSS {r['peak_rss_mb_self']:.0f} MB (anonymous {r['peak_anon_mb_self']:.0f} MB){ratio}")
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
