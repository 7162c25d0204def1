"""Benchmark of the structure and coherence attributes on the CPU, against their peers, in voxels per second.

Ours are the kernels as the brick operators call them (``facies.kernels.structure``, ``facies.kernels.coherence``)
on a float32 volume in memory (dipping reflectors with noise), with one thread (``workers=1``: the peers have
one) and with the default thread pool. Peers:

- bruges (https://github.com/agile-geoscience/bruges, ``pip install bruges``, not a dependency), the natural
  Python peer: ``marfurt`` (semblance) and ``gersztenkorn`` (eigenstructure) through its ``moving_window``
  (``scipy.ndimage.generic_filter`` with a Python function per voxel), and ``gst_discontinuity`` (a gradient
  structure tensor summed over a box and ``eigvalsh`` per voxel, in a Python loop). They are slow, so they run
  on a small volume (``--peer-shape``) and ours run on that volume too, for the ratio; the values are compared
  where the windows lie inside the volume (bruges reflects at the edges);
- for semblance, a vectorised SciPy composition with running-sum box filters (``uniform_filter``: fast, but
  not brick-exact, which is why the kernel does not use it);
- for the structure tensor's eigen-analysis, ``numpy.linalg.eigh`` on the stacked 3x3 matrices in place of
  the closed form.

Each row's two sides are timed alternately (``--repeat`` rounds after one untimed call each, ours first in even
rounds), so load changes fall on both; min and median are recorded with the machine and its load average.
Writes bench/results/attributes_structure_cpu.json.

    .venv/bin/python bench/bench_attributes_structure.py [--shape 48 48 128] [--peer-shape 10 10 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
from common import machine, write_result

from facies.kernels.coherence import eigenstructure, semblance
from facies.kernels.structure import structure_attributes, structure_tensor, tensor_attributes

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW = (3, 3, 9)


def import_bruges():
    """bruges' discontinuity module, or None. bruges 0.5 imports ``pkg_resources`` for its version alone, which
    recent setuptools no longer ship: a stand-in module answers that one call."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401, PLC0415
        except ImportError:
            stand_in = types.ModuleType("pkg_resources")
            stand_in.DistributionNotFound = LookupError  # type: ignore[attr-defined]
            stand_in.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
                version=importlib.metadata.version(name))
            sys.modules["pkg_resources"] = stand_in
    try:  # the module: bruges.attribute's own namespace holds the function of the same name
        return importlib.import_module("bruges.attribute.discontinuity")
    except ImportError as exc:
        print(f"bruges not available ({exc}); its rows are skipped")
        return None


def volume(shape, seed=0) -> np.ndarray:
    """Dipping reflectors (0.5 and -0.3 samples per trace) with 10% noise, float32."""
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    tau = k - 0.5 * i + 0.3 * j
    x = np.sin(2 * np.pi * tau / 12) + 0.5 * np.sin(2 * np.pi * tau / 7 + 1.0)
    return (x + 0.1 * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def interleaved(first, second, repeat: int) -> tuple[list[float], list[float]]:
    """Wall times of ``first`` and ``second`` called alternately, after one untimed call of each."""
    first(), second()
    a, b = [], []
    for r in range(repeat):
        order = ((first, a), (second, b)) if r % 2 == 0 else ((second, b), (first, a))
        for fn, times in order:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return a, b


def scipy_semblance(x):
    """Semblance from running-sum box filters: the fast, not brick-exact SciPy way (no NaNs in the data)."""
    traces = WINDOW[0] * WINDOW[1]
    s = ndi.uniform_filter(x.astype(np.float64), (WINDOW[0], WINDOW[1], 1), mode="constant") * traces
    q = ndi.uniform_filter(x.astype(np.float64) ** 2, (WINDOW[0], WINDOW[1], 1), mode="constant") * traces
    num = ndi.uniform_filter1d(s * s, WINDOW[2], axis=2, mode="constant")
    den = ndi.uniform_filter1d(q, WINDOW[2], axis=2, mode="constant") * traces
    return num / den


def eigh_attributes(x):
    """The structure pipeline with ``numpy.linalg.eigh`` in place of the closed form."""
    t = structure_tensor(x).astype(np.float64)
    a = np.empty((*t.shape[1:], 3, 3))
    for c, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
        a[..., i, j] = a[..., j, i] = t[c]
    w, v = np.linalg.eigh(a)
    n = v[..., 2]
    return -n[..., 0] / n[..., 2], -n[..., 1] / n[..., 2], 2 * w[..., 1] / (w[..., 2] + w[..., 0]) - 1


def row(name, ours, peer, peer_name, voxels, repeat):
    a, b = interleaved(ours, peer, repeat)
    result = {"attribute": name, "peer": peer_name, "voxels": voxels,
              "ours": {"min_s": min(a), "median_s": statistics.median(a), "seconds": a,
                       "voxels_per_s": voxels / min(a)},
              "peer_timing": {"min_s": min(b), "median_s": statistics.median(b), "seconds": b,
                              "voxels_per_s": voxels / min(b)},
              "speedup_min": min(b) / min(a), "speedup_median": statistics.median(b) / statistics.median(a)}
    print(f"{name:<34} {voxels / min(a) / 1e6:9.3f} Mvox/s   {peer_name:<40} {voxels / min(b) / 1e6:9.4f} Mvox/s"
          f"   x{result['speedup_min']:.1f} (median x{result['speedup_median']:.1f})")
    return result


def solo(name, fn, voxels, repeat):
    fn()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    print(f"{name:<34} {voxels / min(seconds) / 1e6:9.3f} Mvox/s   (no peer)")
    return {"attribute": name, "peer": None, "voxels": voxels, "ours": {
        "min_s": min(seconds), "median_s": statistics.median(seconds), "seconds": seconds,
        "voxels_per_s": voxels / min(seconds)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[48, 48, 128])
    parser.add_argument("--peer-shape", type=int, nargs=3, default=[10, 10, 40])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bruges = import_bruges()
    x = volume(tuple(args.shape))
    small = volume(tuple(args.peer_shape), seed=1)
    n, m = x.size, small.size
    workers = min(os.cpu_count() or 1, 8)
    rows, agreement = [], {}

    s = structure_attributes(x)
    dips = (s.inline_dip, s.crossline_dip)
    small_s = structure_attributes(small)
    small_dips = (small_s.inline_dip, small_s.crossline_dip)
    print(f"volume {tuple(args.shape)} ({n} voxels), peer volume {tuple(args.peer_shape)} ({m} voxels), "
          f"window {WINDOW}, {workers} threads where 'pool'")
    rows.append(row("structure (eigen, 1 thread)", lambda: tensor_attributes(structure_tensor(x), workers=1),
                    lambda: eigh_attributes(x), "tensor + numpy.linalg.eigh", n, args.repeat))
    rows.append(row("semblance (1 thread)", lambda: semblance(x, WINDOW, workers=1), lambda: scipy_semblance(x),
                    "scipy uniform_filter (running sums)", n, args.repeat))
    rows.append(solo("semblance (pool)", lambda: semblance(x, WINDOW), n, args.repeat))
    rows.append(solo("steered semblance (1 thread)", lambda: semblance(x, WINDOW, dips=dips, workers=1), n,
                     args.repeat))
    rows.append(solo("steered semblance (pool)", lambda: semblance(x, WINDOW, dips=dips), n, args.repeat))
    rows.append(solo("eigenstructure (pool)", lambda: eigenstructure(x, WINDOW), n, args.repeat))
    inner = tuple(slice(r, -r if r else None) for r in (w // 2 for w in WINDOW))
    plain = semblance(x, WINDOW)[inner]
    agreement["semblance vs scipy uniform_filter, interior max abs"] = float(np.max(np.abs(
        plain - scipy_semblance(x)[inner])))
    if bruges is not None:
        rows.append(row("semblance (1 thread, peer volume)", lambda: semblance(small, WINDOW, workers=1),
                        lambda: bruges.moving_window(small, bruges.marfurt, WINDOW), "bruges marfurt", m, args.repeat))
        rows.append(row("eigenstructure (1 thread, peer vol.)", lambda: eigenstructure(small, WINDOW, workers=1),
                        lambda: bruges.moving_window(small, bruges.gersztenkorn, WINDOW), "bruges gersztenkorn", m,
                        args.repeat))
        rows.append(row("structure (1 thread, peer volume)", lambda: structure_attributes(small, workers=1),
                        lambda: bruges.gst_discontinuity(small, (5, 5, 5)), "bruges gst_discontinuity (5x5x5)", m,
                        args.repeat))
        rows.append(row("steered semblance (1 thr., peer vol.)",
                        lambda: semblance(small, WINDOW, dips=small_dips, workers=1),
                        lambda: bruges.moving_window(small, bruges.marfurt, WINDOW), "bruges marfurt (unsteered)", m,
                        args.repeat))
        small_inner = tuple(slice(r, -r if r else None) for r in (w // 2 for w in WINDOW))
        agreement["semblance vs bruges marfurt, interior max abs"] = float(np.max(np.abs(
            semblance(small, WINDOW)[small_inner]
            - bruges.moving_window(small, bruges.marfurt, WINDOW)[small_inner])))
        agreement["eigenstructure vs bruges gersztenkorn, interior max abs"] = float(np.max(np.abs(
            eigenstructure(small, WINDOW)[small_inner]
            - bruges.moving_window(small, bruges.gersztenkorn, WINDOW)[small_inner])))
    for key, value in agreement.items():
        print(f"{key}: {value:.2e}")
    write_result(RESULTS / "attributes_structure_cpu.json", {
        "benchmark": "attributes_structure", "shape": args.shape, "peer_shape": args.peer_shape, "window": WINDOW,
        "repeat": args.repeat, "threads_pool": workers,
        "bruges": importlib.metadata.version("bruges") if bruges is not None else None,
        "method": "voxels/s from the fastest (and median) of interleaved timed calls after one warm-up each",
        "rows": rows, "agreement": agreement, "machine": machine()})


if __name__ == "__main__":
    main()
