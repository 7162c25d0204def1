"""The measurement of each per-voxel stage of the workflow, engine and baseline in the same run.

Each function builds its own synthetic input, times the engine on ``backend`` (wall clock on the CPU,
CUDA events on a GPU, :mod:`~facies.engine.benchmark.timing`) and its baseline on the CPU, and returns a
:class:`~facies.engine.benchmark.result.StageResult`. CuPy is reached only through ``backend.xp`` on the
GPU path. The bench scripts of ``bench/`` hold the fuller peer comparisons.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facies.engine.backend import Backend
from facies.engine.benchmark import gtm_data
from facies.engine.benchmark.kuwahara_baseline import scipy_kuwahara
from facies.engine.benchmark.result import StageResult, bound_of
from facies.engine.benchmark.timing import Timing, time_cpu, time_gpu
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.bricks.run import run_bricks
from facies.engine.geometry import Geometry
from facies.engine.operators import Copy
from facies.engine.store import Survey
from facies.kernels.gtm import project
from facies.kernels.kuwahara import kuwahara

KUWAHARA_RADIUS, KUWAHARA_MODE = 2, "octant"
FOREST_FACIES = 3


def host_to_device_rate(backend: Backend, nbytes: int = 256 * 2**20) -> float | None:
    """Host-to-device copy bandwidth in bytes/s (pinned memory not used: what the engine's bricks get);
    None on the CPU."""
    if not backend.is_gpu:
        return None
    cp = backend.xp
    host = np.ones(nbytes // 4, np.float32)
    timing = time_gpu(lambda: cp.asarray(host), 3, cp)
    return nbytes / timing.best


def _timed(backend: Backend, fn, repeat: int, warmup: bool) -> Timing:
    return time_gpu(fn, repeat, backend.xp) if backend.is_gpu else time_cpu(fn, repeat, warmup=warmup)


# -- the store ---------------------------------------------------------------------------------------------------

def make_bench_store(path: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int]) -> Survey:
    """A float32 survey ``amp`` of ``shape``: smooth-ish values with noise, which compress a little, like
    real attributes."""
    il, xl, ns = shape
    geometry = Geometry(inlines=np.arange(il, dtype=np.int32), crosslines=np.arange(xl, dtype=np.int32),
                        samples=np.arange(ns, dtype=np.float32) * 4)
    survey = Survey.create(path, geometry, chunks=chunks, provenance={"command": "facies bench"})
    source = survey.create_volume("amp", provenance={"command": "facies bench"})
    rng = np.random.default_rng(0)
    for brick in BrickPlan(survey.shape, survey.chunks, (chunks[0], chunks[1], ns)):
        block = np.cumsum(rng.standard_normal(brick.shape, dtype=np.float32), axis=2) * 0.01
        source[region_slices(brick.region)] = block
    survey.mark_complete("amp")
    return survey


def zarr_copy(survey: Survey, brick: tuple[int, ...], threads: int) -> None:
    """Plain Zarr: ``dst[r] = src[r]`` over the bricks from a pool of ``threads`` threads (no ledger, no
    locks, no pipeline): the floor the engine's copy is measured against."""
    src = survey.array("amp")
    dst = survey.create_volume("zarr_copy", provenance={"command": "facies bench"}, overwrite=True)
    regions = [region_slices(b.region) for b in BrickPlan(survey.shape, survey.chunks, brick)]

    def one(r):
        dst[r] = src[r]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, regions))


def measure_store(root: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int], repeat: int,
                  backend: Backend) -> StageResult:
    """Read and write one attribute through the brick engine (the Copy operator through ``run_bricks``),
    against plain Zarr copying the same bricks."""
    survey = make_bench_store(root / "bench.zarr", shape, chunks)
    brick = (chunks[0], chunks[1], shape[2])
    options = RunOptions(device=backend.name, brick=brick, overwrite=True, progress=False)

    def engine():
        run_bricks(survey, [Copy("amp", "c")], {"c": "copied"}, options=options, command="facies bench")

    # Wall clock on the GPU too: the figure is the store's, with the host-device copies inside it.
    timing = time_cpu(engine, repeat)
    threads = max(2, os.cpu_count() or 1)
    baseline = time_cpu(lambda: zarr_copy(survey, brick, threads), repeat)
    return StageResult("store", "store read + write (copy one attribute)", backend.name, "voxels",
                       math.prod(shape), timing, f"plain Zarr copy, {threads} threads", baseline,
                       bound_of(reads_store=True, rate=0, input_bytes_per_unit=4, transfer_bytes_per_s=None),
                       details={"shape": list(shape), "chunks": list(chunks), "brick": list(brick),
                                "dtype": "float32", "compression": "zstd"})


# -- the Kuwahara filter -----------------------------------------------------------------------------------------

def _volume(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.01] = np.nan
    return x


def measure_kuwahara(shape: tuple[int, int, int], baseline_shape: tuple[int, int, int], repeat: int,
                     backend: Backend, transfer: float | None) -> StageResult:
    """The 3D Kuwahara filter (octant, r = 2, mean) on a volume in memory, against SciPy box filters."""
    host = _volume(shape)
    x = backend.to_device(host)
    out = backend.xp.empty_like(x)
    timing = _timed(backend, lambda: kuwahara(x, KUWAHARA_RADIUS, mode=KUWAHARA_MODE, out=out), repeat, False)
    small = host if tuple(baseline_shape) == tuple(shape) else _volume(baseline_shape)
    baseline = time_cpu(lambda: scipy_kuwahara(small, KUWAHARA_RADIUS, KUWAHARA_MODE), repeat)
    rate = host.size / timing.best
    return StageResult("kuwahara", f"Kuwahara filter ({KUWAHARA_MODE}, r={KUWAHARA_RADIUS}, mean)", backend.name,
                       "voxels", host.size, timing, "SciPy uniform_filter Kuwahara (CPU)", baseline,
                       bound_of(reads_store=False, rate=rate, input_bytes_per_unit=4, transfer_bytes_per_s=transfer),
                       baseline_work=small.size,
                       details={"shape": list(shape), "baseline_shape": list(small.shape), "nan_fraction": 0.01},
                       note="more baselines (brute-force reference, GPU copy floor): bench/bench_kuwahara.py")


# -- GTM projection ----------------------------------------------------------------------------------------------

def measure_gtm(n_voxels: int, baseline_voxels: int, n_attributes: int, repeat: int, backend: Backend,
                transfer: float | None) -> StageResult:
    """The fused GTM projection (K = 400 nodes, GTC) of ``n_attributes`` attributes, against the plain
    full-matrix NumPy projection (float64)."""
    m = gtm_data.model(n_attributes)
    host_x, host_live = gtm_data.voxels(m, n_voxels)
    w, sq = gtm_data.weights(m, "gtc")
    xp = backend.xp
    x, live = backend.to_device(host_x), backend.to_device(host_live)
    out = (xp.empty((gtm_data.FACIES, n_voxels), xp.float32), xp.empty(n_voxels, xp.uint8),
           xp.empty(n_voxels, xp.float32), xp.empty((2, n_voxels), xp.float32))

    def engine():
        project(x, live, m["mean"], m["scale"], m["nodes"], m["beta"], m["latent"], w, sq, m["codes"], *out)

    timing = _timed(backend, engine, repeat, False)
    bx, blive = (host_x, host_live) if baseline_voxels == n_voxels else gtm_data.voxels(m, baseline_voxels)
    baseline = time_cpu(lambda: gtm_data.plain_projection(m, bx, blive, "gtc"), repeat)
    rate = n_voxels / timing.best
    return StageResult("gtm", f"GTM projection (K={gtm_data.K_SIDE ** 2}, D={n_attributes})", backend.name,
                       "voxels", n_voxels, timing, "plain full-matrix NumPy projection (CPU)", baseline,
                       bound_of(reads_store=False, rate=rate, input_bytes_per_unit=4 * n_attributes,
                                transfer_bytes_per_s=transfer),
                       baseline_work=len(bx),
                       details={"voxels": n_voxels, "baseline_voxels": len(bx), "nodes": gtm_data.K_SIDE ** 2,
                                "attributes": n_attributes, "facies": gtm_data.FACIES, "method": "gtc"},
                       note="ugtm and thread counts: bench/bench_gtm_project.py")


# -- forest prediction -------------------------------------------------------------------------------------------

def forest_rows(n: int, n_attributes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose facies depend non-linearly on the attributes, so that the trees grow deep."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_attributes)).astype(np.float32)
    c = [x[:, i % n_attributes] for i in range(5)]
    score = np.sin(2 * c[0]) + c[1] * c[2] + 0.5 * np.abs(c[3]) - 0.3 * c[4] ** 2
    return x, np.digitize(score + 0.3 * rng.standard_normal(n), [-0.5, 0.5]) + 1


def measure_forest(rows: int, baseline_rows: int, n_attributes: int, trees: int, max_depth: int, train_rows: int,
                   repeat: int, backend: Backend, transfer: float | None) -> StageResult:
    """Class probabilities of a stored forest (facies' predictor: nvForest on the GPU, its own compiled tree walk
    on the CPU), against scikit-learn's ``predict_proba`` of the same trees with all cores."""
    from facies.engine.forest.model import ForestModel, trees_from_sklearn  # noqa: PLC0415 - scikit-learn, treelite
    from facies.engine.forest.predict import ForestPredictor  # noqa: PLC0415
    from facies.engine.forest.train import make_classifier  # noqa: PLC0415

    x_train, y_train = forest_rows(train_rows, n_attributes, 0)
    forest = make_classifier(trees, max_depth, 0, n_jobs=-1).fit(x_train, y_train)  # the settings 'rf train' uses
    model = ForestModel(name="bench", forest=trees_from_sklearn(forest),
                        attributes=[f"a{i}" for i in range(n_attributes)],
                        facies_names=[f"f{i + 1}" for i in range(FOREST_FACIES)],
                        codes=list(range(1, FOREST_FACIES + 1)), trees=trees, max_depth=max_depth)
    predictor = ForestPredictor(model, backend.name)
    host = forest_rows(rows, n_attributes, 99)[0]
    x = backend.to_device(host)
    predictor.predict_proba(x[:1000])  # the thread pool and the forest's layout, paid once
    timing = _timed(backend, lambda: predictor.predict_proba(x), repeat, False)
    bx = host if baseline_rows == rows else forest_rows(baseline_rows, n_attributes, 99)[0]
    baseline = time_cpu(lambda: forest.predict_proba(bx), repeat)
    rate = rows / timing.best
    return StageResult("forest", f"forest prediction ({trees} trees, depth {max_depth}, {predictor.engine})",
                       backend.name, "voxels", rows, timing, "scikit-learn predict_proba, all cores (CPU)", baseline,
                       bound_of(reads_store=False, rate=rate, input_bytes_per_unit=4 * n_attributes,
                                transfer_bytes_per_s=transfer),
                       baseline_work=len(bx),
                       details={"rows": rows, "baseline_rows": len(bx), "trees": trees, "max_depth": max_depth,
                                "attributes": n_attributes, "train_rows": train_rows, "engine": predictor.engine},
                       note="nvForest against scikit-learn at 100 trees, depth 16: bench/bench_forest.py")


# -- attribute selection -----------------------------------------------------------------------------------------

def selection_data(n_attributes: int, per_facies: int, seed: int = 0) -> list[np.ndarray]:
    """Three facies of correlated attributes, each a two-cluster mixture (bench/bench_selection.py's data)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(3):
        a = rng.normal(size=(per_facies, n_attributes)) @ rng.normal(size=(n_attributes, n_attributes)) * 0.3
        a[: per_facies // 2] += rng.normal(size=n_attributes) * 2
        out.append(a + f)
    return out


def measure_selection(n_attributes: int, per_facies: int, sem_iter: int, models: tuple[str, ...] | None,
                      workers: int, repeat: int, backend: Backend) -> StageResult:
    """The whole attribute selection (every combination of ``n_attributes``) on random data, in fits/s."""
    from facies.engine.selection import SelectionSettings, run_selection  # noqa: PLC0415 - worker pools

    data = selection_data(n_attributes, per_facies)
    names = [f"a{i}" for i in range(n_attributes)]
    settings = SelectionSettings(sem_iter=sem_iter, holdout=0.0, workers=workers)
    if models is not None:
        settings = dataclasses.replace(settings, models=models)
    fits: list[int] = []

    def engine():
        result = run_selection(data, names, settings=settings, backend=backend, require_gpu=backend.is_gpu)
        fits.append(int(result.counts["fits"]))

    timing = _timed(backend, engine, repeat, False)
    combinations = 2 ** n_attributes - 1
    return StageResult("selection", f"attribute selection (N={n_attributes}, {per_facies} voxels/facies, "
                       f"{sem_iter} SEM iterations)", backend.name, "fits", fits[-1], timing, None, None,
                       "compute", details={"attributes": n_attributes, "combinations": combinations,
                                           "fits_per_combination": fits[-1] / combinations,
                                           "voxels_per_facies": per_facies, "facies": 3, "sem_iter": sem_iter,
                                           "models": list(settings.models), "workers": workers},
                       note="scikit-learn GaussianMixture on the same fits: bench/bench_selection.py")
