"""Attributes computed by facies from the synthetic amplitude against the generator's own, for classification.

The synthetic survey comes with ten candidate attributes made by its generator (engine/synth). This
script computes every attribute of ``facies attributes --all`` from the same amplitude and runs the
same workflow on each set, with the demo's settings: Kuwahara filter (radius 2), training voxels from
the interpreter polygons, attribute selection over pairs, a random forest on the whole set, and the
forest's accuracy against the synthetic truth away from the polygons (``facies rf evaluate``). Nothing
is tuned to make one set win: both take the same commands and settings.

Usage::

    python bench/bench_attributes_accuracy.py [--size small] [--out bench/results/attributes_accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

GENERATOR = ("dip_deviation", "envelope", "instantaneous_frequency", "noise_a", "noise_b", "reflection_strength",
             "rms_amplitude", "similarity", "spectral_bandwidth", "texture_contrast")
SUFFIX = "_fx"


def facies(*args: str) -> str:
    """Run ``facies ARGS`` in its own process; its stdout (a failure stops the script with its stderr)."""
    done = subprocess.run([sys.executable, "-m", "facies.cli.app", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"facies {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def evaluate_set(store: Path, polygons: Path, work: Path, label: str, attributes: list[str]) -> dict:
    """Filter, extract, select and classify with ``attributes``; accuracy of the forest and the selection's choice."""
    start = time.perf_counter()
    inputs = [arg for name in attributes for arg in ("--input", name)]
    facies("filter", "kuwahara", store, *inputs, "--radius", "2", "--device", "cpu", "--overwrite")
    filtered = ",".join(f"{name}_kuw" for name in attributes)
    facies("training", "extract", store, polygons, "--attributes", filtered, "--name", f"picks_{label}", "--overwrite")
    selection = work / f"selection_{label}"
    facies("select", store, "--training", f"picks_{label}", "--dims", "1-2", "--sem-iter", "50",
           "--select-by", "validation", "--out", selection)
    summary = json.loads((selection / "summary.json").read_text())
    facies("rf", "train", store, "--training", f"picks_{label}", "--attributes", filtered, "--name", f"rf_{label}",
           "--trees", "50", "--max-depth", "12", "--overwrite")
    facies("rf", "predict", store, "--model", f"rf_{label}", "--device", "cpu", "--overwrite")
    scored = json.loads(facies("rf", "evaluate", store, "--model", f"rf_{label}", "--labels", "truth",
                               "--training", f"picks_{label}", "--json"))
    return {"attributes": attributes, "forest_evaluation": scored, "selection_best": summary.get("best"),
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", help="synthetic survey size (tiny, small, ...)")
    parser.add_argument("--out", default="bench/results/attributes_accuracy.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facies-attr-acc-") as folder:
        work = Path(folder)
        store = work / "survey.zarr"
        facies("synth", store, "--size", args.size)
        polygons = work / "survey.polygons.json"
        start = time.perf_counter()
        facies("attributes", store, "--from", "amplitude", "--all", "--suffix", SUFFIX, "--device", "cpu")
        attributes_seconds = time.perf_counter() - start
        from facies.engine.attributes.registry import all_specs  # noqa: PLC0415 - after the run, same install
        computed = [f"{name}{SUFFIX}" for name in all_specs()]
        generator = evaluate_set(store, polygons, work, "generator", list(GENERATOR))
        ours = evaluate_set(store, polygons, work, "computed", computed)
    result = {"machine": machine(), "size": args.size, "attributes_seconds": attributes_seconds,
              "generator": generator, "computed": ours,
              "note": "same commands and settings for both sets; accuracy of the forest against truth away from "
                      "the polygons (rf evaluate, min distance 3 voxels)"}
    for label in ("generator", "computed"):
        scored = result[label]["forest_evaluation"]
        print(f"{label:9s}: {len(result[label]['attributes'])} attributes, forest accuracy "
              f"{scored.get('accuracy')}, selection best {result[label]['selection_best']}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
