"""Random-forest prediction speed: scikit-learn vs nvForest (CPU), and nvForest on the GPU.

The forest: 100 trees, maximum depth 16, 9 attributes, 3 facies, trained on rows whose facies
depend non-linearly on the attributes (so the trees do reach depth 16). Prediction rows are
float32 from the same distribution.

CPU part (always): rows/s of ``RandomForestClassifier.predict_proba`` and of nvForest's CPU
classifier built from the same forest's stored trees (as ``facies rf train`` stores them), in the same run,
and their ratio; the largest probability difference between the two is recorded, and whether it is within 1e-6
(``probabilities_match``).

GPU part (when a GPU answers): rows/s of nvForest's GPU classifier on CuPy arrays (goal on an
H100: >= 2e8 rows/s), and the whole-survey prediction through the brick engine
(``predict_survey`` on a synthetic store, ``--survey-size``) in voxels/s.

Usage::

    python bench/bench_forest.py [--rows 500000] [--repeat 3] [--gpu-rows 100000000] [--survey-size small]

Writes bench/results/forest_cpu.json (and forest_gpu.json with a GPU).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import best_time, machine, write_result
from sklearn.ensemble import RandomForestClassifier

from facies.engine.forest.model import ForestModel, trees_from_sklearn
from facies.engine.forest.predict import ForestPredictor
from facies.engine.forest.train import make_classifier

RESULTS = Path(__file__).resolve().parent / "results"
N_ATTRIBUTES, N_TREES, MAX_DEPTH = 9, 100, 16


def make_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, N_ATTRIBUTES)).astype(np.float32)
    score = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * np.abs(x[:, 3]) - 0.3 * x[:, 4] ** 2
    y = np.digitize(score + 0.3 * rng.standard_normal(n), [-0.5, 0.5]) + 1
    return x, y


def train(n_train: int, seed: int) -> tuple[RandomForestClassifier, ForestModel]:
    x, y = make_rows(n_train, seed)
    forest = make_classifier(N_TREES, MAX_DEPTH, seed, n_jobs=-1).fit(x, y)  # the settings 'rf train' uses
    model = ForestModel(name="bench", forest=trees_from_sklearn(forest),
                        attributes=[f"a{i}" for i in range(N_ATTRIBUTES)],
                        facies_names=["f1", "f2", "f3"], codes=[1, 2, 3], trees=N_TREES, max_depth=MAX_DEPTH)
    return forest, model


def bench_cpu(forest, model, rows: int, repeat: int) -> dict:
    x, _ = make_rows(rows, 99)
    sk = best_time(lambda: forest.predict_proba(x), repeat, warmup=False)
    predictor = ForestPredictor(model, "cpu", engine="nvforest")
    predictor.predict_proba(x[:1000])  # warm-up (thread pool, layout)
    nv = best_time(lambda: predictor.predict_proba(x), repeat, warmup=False)
    difference = float(np.abs(predictor.predict_proba(x) - forest.predict_proba(x)).max())
    return {"rows": rows, "sklearn_rows_per_s": rows / sk, "nvforest_cpu_rows_per_s": rows / nv,
            "nvforest_over_sklearn": sk / nv, "max_abs_probability_difference": difference,
            "probabilities_match": difference <= 1e-6,
            "sklearn_seconds": sk, "nvforest_cpu_seconds": nv}


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
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gpu-rows", type=int, default=100_000_000)
    parser.add_argument("--survey-size", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    forest, model = train(args.train_rows, args.seed)
    depth = max(t.get_depth() for t in forest.estimators_)
    cpu = {"trees": N_TREES, "max_depth": MAX_DEPTH, "reached_depth": depth, "attributes": N_ATTRIBUTES,
           "machine": machine(), **bench_cpu(forest, model, args.rows, args.repeat)}
    write_result(RESULTS / "forest_cpu.json", cpu)
    print(f"CPU, {args.rows} rows: scikit-learn {cpu['sklearn_rows_per_s']:.3g} rows/s, nvForest "
          f"{cpu['nvforest_cpu_rows_per_s']:.3g} rows/s (x{cpu['nvforest_over_sklearn']:.2f}); "
          f"max |dp| {cpu['max_abs_probability_difference']:.1e}")

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
