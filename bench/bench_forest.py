"""Random-forest prediction speed on the CPU: every engine against scikit-learn on the same threads; and the GPU.

The forest: 100 trees, maximum depth 16, 9 attributes, 3 facies, trained on rows whose facies
depend non-linearly on the attributes (so the trees do reach depth 16). Prediction rows are
float32 from the same distribution.

CPU part (always), every engine on ``--threads`` threads (default: the CPUs this process may use), set
explicitly for each (scikit-learn's ``n_jobs``, facies' ``threads``, OpenMP's limit through threadpoolctl for
nvForest and treelite, ``nthread`` for tl2cgen), timed alternately (one call each per round, after one untimed
call that also gives the probabilities compared with scikit-learn's: ``max_abs_difference``):

- ``sklearn``: ``RandomForestClassifier.predict_proba``, the baseline;
- ``facies_compiled`` and ``facies_numpy``: facies' tree-at-a-time walk (engine/forest/cpu_predict.py), compiled
  C kernel and NumPy; the kernel's first compile and a load from the cache are timed apart (an empty cache folder
  of the run, not the user's);
- ``nvforest_<layout>``: nvForest's CPU classifier in each layout (depth_first is its default), its
  ``optimize()`` choice of layout and chunk size, and single precision (not exact);
- ``treelite_gtil``: treelite's own predictor;
- ``tl2cgen`` (compiled to C per model): code generation and compile time, and speed on the first
  ``--tl2cgen-trees`` trees (its compile of all 100 took over 20 minutes on the 2-core VM), against
  ``sklearn`` and ``facies_compiled`` on the same trees.

Engines known to be slow (nvForest's other options, treelite) predict ``--slow-rows`` rows; rates are rows/s.

GPU part (when a GPU answers): rows/s of nvForest's GPU classifier on CuPy arrays (goal on an
H100: >= 2e8 rows/s), and the whole-survey prediction through the brick engine
(``predict_survey`` on a synthetic store, ``--survey-size``) in voxels/s.

Usage::

    python bench/bench_forest.py [--rows 200000] [--threads 2] [--repeat 3] [--slow-rows 50000]
                                 [--tl2cgen-trees 10] [--gpu-rows 100000000] [--survey-size small]

Writes bench/results/forest_cpu.json (and forest_gpu.json with a GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from common import best_time, machine, write_result
from sklearn.ensemble import RandomForestClassifier

from facies.engine.benchmark.machine import load_average
from facies.engine.forest import cpu_cache, cpu_native
from facies.engine.forest.cpu_predict import available_cpus
from facies.engine.forest.model import ForestModel, trees_from_sklearn
from facies.engine.forest.predict import ForestPredictor
from facies.engine.forest.train import make_classifier

RESULTS = Path(__file__).resolve().parent / "results"
N_ATTRIBUTES, N_TREES, MAX_DEPTH = 9, 100, 16
NVFOREST_LAYOUTS = ("depth_first", "breadth_first", "layered")


def make_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, N_ATTRIBUTES)).astype(np.float32)
    score = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * np.abs(x[:, 3]) - 0.3 * x[:, 4] ** 2
    y = np.digitize(score + 0.3 * rng.standard_normal(n), [-0.5, 0.5]) + 1
    return x, y


def train(n_train: int, seed: int) -> tuple[RandomForestClassifier, ForestModel]:
    x, y = make_rows(n_train, seed)
    forest = make_classifier(N_TREES, MAX_DEPTH, seed, n_jobs=-1).fit(x, y)  # the settings 'rf train' uses
    return forest, model_of(forest, N_TREES)


def model_of(forest: RandomForestClassifier, trees: int) -> ForestModel:
    """The first ``trees`` trees of a fitted forest as facies stores them."""
    return ForestModel(name="bench", forest=trees_from_sklearn(forest)[:trees],
                       attributes=[f"a{i}" for i in range(N_ATTRIBUTES)],
                       facies_names=["f1", "f2", "f3"], codes=[1, 2, 3], trees=trees, max_depth=MAX_DEPTH)


def first_trees(forest: RandomForestClassifier, trees: int, threads: int) -> RandomForestClassifier:
    """A scikit-learn forest of the first ``trees`` trees (the fitted estimators shared, not copied)."""
    subset = make_classifier(trees, MAX_DEPTH, 0, n_jobs=threads)
    for name in ("classes_", "n_classes_", "n_outputs_", "n_features_in_"):
        setattr(subset, name, getattr(forest, name))
    subset.estimators_ = forest.estimators_[:trees]
    return subset


class Engine:
    """One engine of the comparison: what it predicts, on which rows, and what preparing it cost."""

    def __init__(self, predict, rows: np.ndarray, reference, *, setup_s: float = 0.0, **notes):
        self.predict, self.rows, self.reference = predict, rows, reference
        self.setup_s, self.notes, self.seconds = setup_s, notes, []
        self.difference = float("nan")

    def warm(self) -> None:
        """The untimed first call; its probabilities are compared with scikit-learn's."""
        proba = np.asarray(self.predict(self.rows), dtype=np.float64).reshape(self.rows.shape[0], -1)
        self.difference = float(np.abs(proba - self.reference(self.rows)).max())

    def time(self) -> None:
        start = time.perf_counter()
        self.predict(self.rows)
        self.seconds.append(time.perf_counter() - start)

    def result(self, baseline_rate: float | None) -> dict:
        n = self.rows.shape[0]
        rate = n / min(self.seconds)
        out = {"rows": n, "seconds": self.seconds, "rows_per_s_min": rate,
               "rows_per_s_median": n / statistics.median(self.seconds), "max_abs_difference": self.difference,
               "matches_sklearn_1e-12": self.difference <= 1e-12, "setup_s": self.setup_s, **self.notes}
        if baseline_rate:
            out["over_sklearn"] = rate / baseline_rate
        return out


def timed(make):
    start = time.perf_counter()
    made = make()
    return made, time.perf_counter() - start


def interleave(engines: dict[str, Engine], repeat: int) -> None:
    for engine in engines.values():
        engine.warm()
    for _ in range(repeat):
        for engine in engines.values():
            engine.time()


def facies_engines(model, rows, reference, threads: int, cache: Path) -> dict[str, Engine]:
    """facies' compiled and NumPy walks; the kernel's compile timed into an empty cache, then a cached load."""
    before = os.environ.get(cpu_cache.CACHE_ENV)
    os.environ[cpu_cache.CACHE_ENV] = str(cache)
    try:
        cpu_native.forget_loaded()
        compiled, first = timed(lambda: ForestPredictor(model, "cpu", "compiled", threads=threads))
        cpu_native.forget_loaded()
        _, cached = timed(cpu_native.load_kernel)
    finally:
        if before is None:
            os.environ.pop(cpu_cache.CACHE_ENV)
        else:
            os.environ[cpu_cache.CACHE_ENV] = before
    numpy_walk, numpy_setup = timed(lambda: ForestPredictor(model, "cpu", "numpy", threads=threads))
    return {"facies_compiled": Engine(compiled.predict_proba, rows, reference, setup_s=first, engine="compiled",
                                      kernel_load_from_cache_s=cached, threads=threads),
            "facies_numpy": Engine(numpy_walk.predict_proba, rows, reference, setup_s=numpy_setup, engine="numpy",
                                   threads=threads)}


def nvforest_engines(model, rows, slow_rows, reference, threads: int) -> dict[str, Engine]:
    """nvForest's CPU classifier: each layout, its optimize() choice, single precision."""
    import nvforest

    tl_model, build = timed(model.treelite_model)
    engines = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*newer Treelite version.*")
        for layout in NVFOREST_LAYOUTS:
            forest, load = timed(lambda layout=layout: nvforest.load_from_treelite_model(tl_model, device="cpu",
                                                                                       layout=layout))
            engines[f"nvforest_{layout}"] = Engine(
                forest.predict_proba, rows if layout == "depth_first" else slow_rows, reference,
                setup_s=build + load, layout=layout, precision="model's (float64)", omp_threads=threads)
        base = nvforest.load_from_treelite_model(tl_model, device="cpu")
        optimized, tuning = timed(lambda: base.optimize(data=slow_rows[:4096]))
        engines["nvforest_optimized"] = Engine(optimized.predict_proba, slow_rows, reference, setup_s=build + tuning,
                                               layout=optimized.layout, chunk_size=optimized.default_chunk_size,
                                               omp_threads=threads)
        single, load = timed(lambda: nvforest.load_from_treelite_model(tl_model, device="cpu", precision="single"))
        engines["nvforest_single"] = Engine(single.predict_proba, slow_rows, reference, setup_s=build + load,
                                            layout="depth_first", precision="single", omp_threads=threads)
    return engines


def treelite_engine(model, slow_rows, reference, threads: int) -> dict[str, Engine]:
    import treelite.gtil

    tl_model, build = timed(model.treelite_model)
    return {"treelite_gtil": Engine(lambda x: treelite.gtil.predict(tl_model, x, nthread=threads), slow_rows,
                                    reference, setup_s=build, nthread=threads)}


def tl2cgen_engines(forest, rows, trees: int, threads: int, folder: Path) -> tuple[dict[str, Engine], dict]:
    """tl2cgen (treelite's compiler to C) on the first ``trees`` trees, with scikit-learn and facies on them."""
    import tl2cgen

    subset = first_trees(forest, trees, threads)
    model = model_of(forest, trees)
    tl_model = model.treelite_model()
    library = folder / "tl2cgen_model.so"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*newer Treelite version.*")
        _, compile_s = timed(lambda: tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(library),
                                                        params={"parallel_comp": threads}, nthread=threads))
    predictor = tl2cgen.Predictor(str(library), nthread=threads)

    def tl2cgen_predict(x):
        # float64 thresholds need float64 rows; tl2cgen 1.0's DMatrix fails on NumPy 2 unless given them as such
        # (np.array(copy=False) of another dtype)
        return predictor.predict(tl2cgen.DMatrix(np.ascontiguousarray(x, dtype=np.float64), dtype="float64"))

    facies = ForestPredictor(model, "cpu", "compiled", threads=threads)
    engines = {f"sklearn_{trees}_trees": Engine(subset.predict_proba, rows, subset.predict_proba, n_jobs=threads),
               f"facies_compiled_{trees}_trees": Engine(facies.predict_proba, rows, subset.predict_proba,
                                                         threads=threads),
               f"tl2cgen_{trees}_trees": Engine(tl2cgen_predict, rows, subset.predict_proba, setup_s=compile_s,
                                                 nthread=threads)}
    info = {"trees": trees, "version": tl2cgen.__version__, "compile_s": compile_s,
            "note": "tl2cgen 1.0.0 bundles treelite 4.1.2 and warns that the 4.8 model is newer; it compiles and "
                    "predicts it exactly; its DMatrix needs float64 rows on NumPy 2",
            "nodes": sum(t.node_count for t in model.forest), "library_bytes": library.stat().st_size,
            "params": {"parallel_comp": threads}, "toolchain": "gcc (tl2cgen's -O3)"}
    return engines, info


def bench_cpu(forest, model, args) -> dict:
    from threadpoolctl import threadpool_limits

    threads = args.threads or available_cpus()
    rows = make_rows(args.rows, 99)[0]
    slow_rows = rows[:args.slow_rows]
    forest.set_params(n_jobs=threads)
    cache = {}

    def reference(x):  # scikit-learn's probabilities, computed once per row set
        key = x.shape[0]
        if key not in cache:
            cache[key] = forest.predict_proba(x)
        return cache[key]

    with threadpool_limits(limits=threads, user_api="openmp"), tempfile.TemporaryDirectory() as scratch:
        engines = {"sklearn": Engine(forest.predict_proba, rows, reference, n_jobs=threads)}
        engines.update(facies_engines(model, rows, reference, threads, Path(scratch) / "cache"))
        try:
            engines.update(nvforest_engines(model, rows, slow_rows, reference, threads))
        except ImportError:
            print("nvForest does not import: its engines skipped")
        engines.update(treelite_engine(model, slow_rows, reference, threads))
        tl2cgen_info = None
        if args.tl2cgen_trees:
            try:
                more, tl2cgen_info = tl2cgen_engines(forest, rows, args.tl2cgen_trees, threads, Path(scratch))
                engines.update(more)
            except ImportError:
                print("tl2cgen does not import: skipped (pip install tl2cgen)")
        interleave(engines, args.repeat)
    baseline = args.rows / min(engines["sklearn"].seconds)
    results = {}
    for name, engine in engines.items():
        subset_baseline = name.endswith("_trees") and f"sklearn_{args.tl2cgen_trees}_trees"
        base = (args.rows / min(engines[subset_baseline].seconds)) if subset_baseline else baseline
        results[name] = engine.result(base)
    import treelite

    return {"threads": threads, "rows": args.rows, "slow_rows": args.slow_rows, "repeat": args.repeat,
            "treelite": treelite.__version__, "engines": results, "tl2cgen": tl2cgen_info,
            "default_cpu_engine": ForestPredictor(model, "cpu", threads=threads).engine}


def summary(cpu: dict) -> dict:
    """The headline figures (the fields the earlier result files had, and facies' default engine's)."""
    engines = cpu["engines"]
    sk, ours = engines["sklearn"], engines[f"facies_{cpu['default_cpu_engine']}"]
    out = {"sklearn_rows_per_s": sk["rows_per_s_min"], "sklearn_seconds": min(sk["seconds"]),
           "facies_cpu_rows_per_s": ours["rows_per_s_min"], "facies_cpu_seconds": min(ours["seconds"]),
           "facies_over_sklearn": ours["over_sklearn"],
           "facies_over_sklearn_median": ours["rows_per_s_median"] / sk["rows_per_s_median"],
           "max_abs_probability_difference": ours["max_abs_difference"],
           "probabilities_match": ours["max_abs_difference"] <= 1e-12}
    if "nvforest_depth_first" in engines:
        nv = engines["nvforest_depth_first"]
        out.update({"nvforest_cpu_rows_per_s": nv["rows_per_s_min"], "nvforest_cpu_seconds": min(nv["seconds"]),
                    "nvforest_over_sklearn": nv["over_sklearn"]})
    return out


def bench_gpu(model, rows: int, repeat: int, survey_size: str) -> dict:
    import cupy

    from facies.engine.bricks.options import RunOptions
    from facies.engine.forest import predict_survey, save_model
    from facies.engine.store import Survey
    from facies.engine.synth import make_synthetic

    predictor = ForestPredictor(model, "gpu")
    x = cupy.asarray(make_rows(min(rows, 10_000_000), 7)[0])
    if rows > x.shape[0]:
        x = cupy.tile(x, (-(-rows // x.shape[0]), 1))[:rows]
    predictor.predict_proba(x[:100_000])
    cupy.cuda.Device().synchronize()

    def run():
        predictor.predict_proba(x)
        cupy.cuda.Device().synchronize()

    seconds = best_time(run, repeat, warmup=False)
    result = {"rows": rows, "nvforest_gpu_rows_per_s": rows / seconds, "goal_rows_per_s": 2e8,
              "device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.zarr"
        make_synthetic(store, size=survey_size, seed=0)
        survey = Survey.open(store)
        names = [a for a in survey.attributes() if a != "amplitude"][:N_ATTRIBUTES]
        model.attributes = names  # same trees, fed by the survey's attributes (speed, not meaning)
        save_model(survey, model, overwrite=True)
        t0 = time.perf_counter()
        run_result = predict_survey(survey, model.name, options=RunOptions(device="gpu", progress=False))
        wall = time.perf_counter() - t0
        voxels = int(np.prod(survey.shape))
        result.update({"survey_shape": list(survey.shape), "survey_voxels_per_s": voxels / wall,
                       "survey_seconds": wall, "scheduler": run_result.run.stats.as_dict()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--slow-rows", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=None, help="Threads of every engine (default: all CPUs).")
    parser.add_argument("--tl2cgen-trees", type=int, default=10, help="Trees compiled by tl2cgen (0: skip it).")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gpu-rows", type=int, default=100_000_000)
    parser.add_argument("--survey-size", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.slow_rows = min(args.slow_rows, args.rows)

    described = machine()
    forest, model = train(args.train_rows, args.seed)
    depth = max(t.get_depth() for t in forest.estimators_)
    cpu = bench_cpu(forest, model, args)
    cpu = {"trees": N_TREES, "max_depth": MAX_DEPTH, "reached_depth": depth, "attributes": N_ATTRIBUTES,
           "nodes": sum(t.node_count for t in model.forest), "machine": described,
           "load_average_after": load_average(), **summary(cpu), **cpu,
           "method": "engines timed alternately, one call each per round after an untimed call; rates from the "
                     "fastest (and median) call; over_sklearn = rate / scikit-learn's rate in the same run (the "
                     "tl2cgen group against scikit-learn on the same trees)"}
    write_result(RESULTS / "forest_cpu.json", cpu)
    print(f"CPU, {args.rows} rows, {cpu['threads']} threads (load {described['load_average']}):")
    for name, r in cpu["engines"].items():
        print(f"  {name:28s} {r['rows']:>8d} rows {r['rows_per_s_min']:>10.3g} rows/s (median "
              f"{r['rows_per_s_median']:.3g})  x{r.get('over_sklearn', float('nan')):.2f}  "
              f"max |dp| {r['max_abs_difference']:.1e}  setup {r['setup_s']:.2f} s")
    if cpu["tl2cgen"]:
        print(f"  tl2cgen: {cpu['tl2cgen']['trees']} trees ({cpu['tl2cgen']['nodes']} nodes) compiled in "
              f"{cpu['tl2cgen']['compile_s']:.1f} s")

    from facies.engine.backend import forced_cpu, probe_cupy

    if forced_cpu() or probe_cupy()[0] is None:
        print("no GPU answers: GPU part skipped")
        return
    gpu = {"trees": N_TREES, "max_depth": MAX_DEPTH, "attributes": N_ATTRIBUTES, "machine": machine(),
           **bench_gpu(model, args.gpu_rows, args.repeat, args.survey_size)}
    write_result(RESULTS / "forest_gpu.json", gpu)
    print(f"GPU ({gpu['device']}), {args.gpu_rows} rows: nvForest {gpu['nvforest_gpu_rows_per_s']:.3g} rows/s "
          f"(goal 2e8); survey {gpu['survey_shape']}: {gpu['survey_voxels_per_s']:.3g} vox/s")


if __name__ == "__main__":
    main()
