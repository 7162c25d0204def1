"""Benchmark of the GLCM texture measures: voxels per second, with baselines measured in the same run.

CPU (always), each case timed alternately with its baseline (interleaved repeats, min and median), wall and
process CPU time (the machine may be shared: CPU time is what the work itself took):

- ``slice``: a window one sample thick (5 x 5 x 1), the 4 directions of a time slice, distance 1, 16 levels,
  where scikit-image computes the same thing: our NumPy backend on the whole volume against
  ``graycomatrix`` + ``graycoprops`` (4 angles pooled, contrast, homogeneity, ASM, entropy) called per window,
  the natural per-window peer, timed on ``--peer-windows`` windows and counted per voxel;
- ``3d``: the default attribute (5 x 5 x 9 window, 13 directions, 16 levels), one thread and ``--workers``.
  scikit-image has no 3D co-occurrence, so this case has no peer.

GPU (when CuPy and a device answer): the fused ``glcm_measures`` kernel against the same array formulation
the NumPy backend uses (quantise, pair histogram, measures) run with CuPy on the whole brick, CUDA events after
warm-up; results checked equal; and the GPU over the CPU on the same volume.

    .venv/bin/python bench/bench_attributes_texture.py [--shape 32 32 64] [--repeat 5] [--gpu-shape 128 128 256]

Writes bench/results/attributes_texture_cpu.json (and attributes_texture_gpu.json on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from common import machine, write_result

from facies.kernels.glcm import glcm_texture, offsets_for
from facies.kernels.glcm import _numpy as glcm_numpy
from facies.kernels.glcm.definition import check_pairs, glcm_halo, normalise_offsets, quantisation

RESULTS = Path(__file__).resolve().parent / "results"
RANGE = (-2.5, 2.5)


def test_volume(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.01] = np.nan
    return x


def timed(fn) -> tuple[float, float]:
    """Wall and process CPU seconds of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def interleaved(variants: dict, repeat: int) -> dict:
    """Each variant ``name: (fn, voxels)`` timed once per round, in turn, after one warm-up call each."""
    for fn, _ in variants.values():
        fn()
    seconds: dict[str, list] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, (fn, _) in variants.items():
            seconds[name].append(timed(fn))
    out = {}
    for name, (_, voxels) in variants.items():
        wall = [w for w, _ in seconds[name]]
        cpu = [c for _, c in seconds[name]]
        out[name] = dict(voxels=voxels, wall_s=wall, cpu_s=cpu, voxels_per_s_min_wall=voxels / min(wall),
                         voxels_per_s_median_wall=voxels / statistics.median(wall),
                         voxels_per_s_min_cpu=voxels / min(cpu))
    return out


def skimage_windows(lev: np.ndarray, windows: int, levels: int):
    """A function computing the 4 measures of the first ``windows`` 5 x 5 windows of time slices with scikit-image."""
    from skimage.feature import graycomatrix, graycoprops

    n_il, n_xl, n_t = lev.shape
    voxels = [(i, j, k) for k in range(n_t) for i in range(n_il) for j in range(n_xl)][:windows]
    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]

    def run():
        out = np.empty((4, len(voxels)))
        for v, (i, j, k) in enumerate(voxels):
            patch = lev[max(0, i - 2):i + 3, max(0, j - 2):j + 3, k]
            pooled = graycomatrix(patch, [1], angles, levels=levels, symmetric=True).sum(axis=3, keepdims=True)
            out[:, v] = [graycoprops(pooled, p)[0, 0] for p in ("contrast", "homogeneity", "ASM", "entropy")]
        return out

    return run, voxels


def bench_cpu(shape, repeat: int, workers: int, peer_windows: int) -> dict:
    x = test_volume(shape)
    levels = 16
    rows = {}
    # The slice case: ours on the whole volume, scikit-image per window on the first windows (finite data: it has
    # no NaN handling, and a NaN would only change which pairs count).
    finite = np.nan_to_num(x)
    low, scale = quantisation(levels, RANGE)
    lev = glcm_numpy.quantise(finite, levels, low, scale).astype(np.uint8)
    peer, voxels = skimage_windows(lev, peer_windows, levels)
    ours = glcm_texture(finite, value_range=RANGE, levels=levels, window=(5, 5, 1), directions="lateral")
    check = peer()
    got = np.stack([ours[(slice(None), i, j, k)] for i, j, k in voxels], axis=1)
    np.testing.assert_allclose(got, check, rtol=2e-7, atol=1e-7)  # the same measures, before timing them
    slice_case = interleaved({
        "numpy": (lambda: glcm_texture(finite, value_range=RANGE, levels=levels, window=(5, 5, 1),
                                       directions="lateral", workers=1), finite.size),
        "skimage_per_window": (peer, len(voxels)),
    }, repeat)
    slice_case["numpy_over_skimage_min_wall"] = (slice_case["numpy"]["voxels_per_s_min_wall"]
                                                 / slice_case["skimage_per_window"]["voxels_per_s_min_wall"])
    slice_case["numpy_over_skimage_min_cpu"] = (slice_case["numpy"]["voxels_per_s_min_cpu"]
                                                / slice_case["skimage_per_window"]["voxels_per_s_min_cpu"])
    rows["slice_5x5x1_lateral"] = slice_case
    print(f"slice 5x5x1, 4 directions: NumPy {slice_case['numpy']['voxels_per_s_min_wall'] / 1e3:.0f} kvox/s, "
          f"scikit-image per window {slice_case['skimage_per_window']['voxels_per_s_min_wall'] / 1e3:.1f} kvox/s "
          f"(x{slice_case['numpy_over_skimage_min_wall']:.0f} wall, x{slice_case['numpy_over_skimage_min_cpu']:.0f} "
          "CPU time)")
    three_d = interleaved({
        "numpy_1_thread": (lambda: glcm_texture(x, value_range=RANGE, workers=1), x.size),
        f"numpy_{workers}_threads": (lambda: glcm_texture(x, value_range=RANGE, workers=workers), x.size),
    }, repeat)
    rows["3d_5x5x9_all"] = three_d
    print("3D 5x5x9, 13 directions: " + ", ".join(
        f"{name} {r['voxels_per_s_min_wall'] / 1e3:.0f} kvox/s wall ({r['voxels_per_s_min_cpu'] / 1e3:.0f} per CPU s)"
        for name, r in three_d.items()))
    return dict(machine=machine(), shape=list(shape), dtype="float32", levels=levels, value_range=list(RANGE),
                repeat=repeat, peer_windows=len(voxels),
                note="variants timed alternately (one call each per round) after a warm-up; min and median of the "
                     "wall time, min of the process CPU time; scikit-image = graycomatrix + 4 graycoprops per "
                     "window (scikit-image's per-window API), rate per window = per voxel",
                results=rows)


def bench_gpu(shape, repeat: int) -> dict | None:
    from facies.engine.backend import probe_cupy
    from facies.engine.benchmark.timing import time_gpu

    cp, reason = probe_cupy()
    if cp is None:
        print(f"GPU part skipped: {reason}")
        return None
    host = test_volume(shape)
    x = cp.asarray(host)
    levels, window = 16, (5, 5, 9)
    offsets = normalise_offsets(offsets_for("all"))
    low, scale = quantisation(levels, RANGE)
    radius = glcm_halo(window)
    pairs = check_pairs(window, offsets)

    def array_formulation():
        lev = cp.pad(glcm_numpy.quantise(x, levels, low, scale), [(r, r) for r in radius], constant_values=-1)
        return glcm_numpy.measures(glcm_numpy.pair_histogram(lev, levels, radius, offsets, x.shape), levels, pairs)

    fused = glcm_texture(x, value_range=RANGE)
    array = array_formulation()
    array[:, ~cp.isfinite(x)] = cp.nan
    equal = bool(cp.array_equal(fused, array, equal_nan=True))
    t_fused = time_gpu(lambda: glcm_texture(x, value_range=RANGE), repeat, cp)
    t_array = time_gpu(array_formulation, max(1, repeat // 2), cp)
    cpu = timed(lambda: glcm_texture(host, value_range=RANGE))[0]
    row = dict(fused_voxels_per_s=x.size / t_fused.best, array_formulation_voxels_per_s=x.size / t_array.best,
               fused_over_array=t_array.best / t_fused.best, cpu_voxels_per_s=host.size / cpu,
               gpu_over_cpu=cpu / t_fused.best, results_equal=equal, fused=t_fused.as_dict(), array=t_array.as_dict())
    print(f"GPU {shape}: fused {row['fused_voxels_per_s'] / 1e6:.1f} Mvox/s, array formulation "
          f"{row['array_formulation_voxels_per_s'] / 1e6:.1f} Mvox/s (fused x{row['fused_over_array']:.1f}), "
          f"x{row['gpu_over_cpu']:.0f} vs CPU; equal: {equal}")
    props = cp.cuda.runtime.getDeviceProperties(0)
    return dict(device=props["name"].decode(), machine=machine(), shape=list(shape), levels=levels,
                window=list(window), directions="all",
                note="CUDA events after warm-up; array formulation = kernels/glcm/_numpy.py quantise + pair_histogram "
                     "+ measures on CuPy arrays, one tile = the whole volume", results=row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[32, 32, 64])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-windows", type=int, default=1500)
    parser.add_argument("--gpu-shape", type=int, nargs=3, default=[128, 128, 256])
    args = parser.parse_args()
    write_result(RESULTS / "attributes_texture_cpu.json",
                 bench_cpu(tuple(args.shape), args.repeat, args.workers, args.peer_windows))
    gpu = bench_gpu(tuple(args.gpu_shape), args.repeat)
    if gpu is not None:
        write_result(RESULTS / "attributes_texture_gpu.json", gpu)


if __name__ == "__main__":
    main()
