"""Scale: the fused apply pass and the staged commands on a survey of tens of GB, beside plain Zarr, in one run.

For each size (``--gigabytes G``, or ``--sizes A,B`` to show that peak memory does not grow with the survey):

1. a survey of ``--attributes N`` float32 volumes taking G GB on disk is made from a small synthetic survey
   (bench/survey_data.py), on which a GTM and a forest were fitted once (on the filtered versions of
   ``--model-attributes``); the models are copied into it;
2. then, each mode in child processes of its own (bench/survey_child.py: wall time, peak RSS, CPU time, I/O
   counters per step), in this order, ``--repeat`` times:

   - ``zarr_copy``: plain Zarr read and write of the models' input volumes (the baseline);
   - ``staged``: ``facies filter kuwahara`` (writes ``<x>_kuw``), ``facies gtm project``, ``facies rf predict``;
   - ``fused``: ``facies filter kuwahara --virtual``, then ``facies apply --gtm --rf`` (one read per brick);

   the staged and fused outputs are compared value for value (a hash of each array) and removed after each mode.

From the measured rates it projects the 8000 km² survey (2900 x 2930 traces of 1250 samples, 9 attributes) on
this machine, and on a GPU where bench/results holds a ``facies bench --device gpu`` report. The folder it makes
is removed at the end, also on Ctrl-C (exit 130), unless ``--keep``. Before writing a survey it checks the free
disk space and refuses with one line when the run would not fit.

    .venv/bin/python bench/bench_survey.py --sizes 5,20 --attributes 32   # bench/results/survey_cpu.json, 40 min
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import datetime
import hashlib
import math
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import machine, write_result
from survey_child import load_average, run_step
from survey_data import (FOREST_NAME, GTM_NAME, Models, bytes_on_disk, compression_ratio, copy_models, fit_on_tile,
                         make_survey, remove, survey_shape, volume_names)

from facies.engine.benchmark import load_report, project_workflow
from facies.engine.benchmark.projection import DEFAULT_ATTRIBUTES, DEFAULT_SURVEY
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.errors import FaciesError
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import output_names as forest_names
from facies.engine.gtm.model_io import load_gtm
from facies.engine.gtm.operator import output_names as gtm_names
from facies.engine.store import Survey
from facies.engine.synth import FACIES_NAMES

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "survey_cpu.json"
OUTPUT_KINDS = ("classes", "probabilities", "confidence", "latent")
BYTES_NOTE = ("read_bytes/write_bytes: what the child process read from and wrote to the storage layer "
              "(/proc/<pid>/io; page-cache hits are not in read_bytes); rchar/wchar: every byte it passed to "
              "read/write calls (page cache included, its own imports too); array_bytes_read/_written: the on-disk "
              "(compressed) size of the arrays each step reads and writes, summed over steps")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gigabytes", type=float, default=20.0, help="Input size on disk in GB (default 20).")
    p.add_argument("--sizes", help="Several input sizes in GB, e.g. 2,20 (overrides --gigabytes): peak memory "
                                   "must not grow with the survey.")
    p.add_argument("--attributes", type=int, default=8, help="Attribute volumes in the survey (default 8).")
    p.add_argument("--model-attributes", default="envelope,similarity",
                   help="Volumes the models use, filtered (default envelope,similarity).")
    p.add_argument("--samples", type=int, default=1250, help="Samples per trace (default 1250).")
    p.add_argument("--tile", default="128,128,250", help="Shape of the synthetic survey the models are fitted on "
                                                         "and the large survey repeats (default 128,128,250).")
    p.add_argument("--chunks", default="64,64,128", help="Storage chunks (default 64,64,128).")
    p.add_argument("--brick", default="64,64", help="Brick IL,XL (full traces) of every mode (default 64,64).")
    p.add_argument("--gtm-grid", type=int, default=8)
    p.add_argument("--gtm-basis", type=int, default=3)
    p.add_argument("--gtm-iterations", type=int, default=50)
    p.add_argument("--trees", type=int, default=20)
    p.add_argument("--max-depth", type=int, default=10)
    p.add_argument("--fused-outputs", default="all", help="What facies apply writes: all (what the staged "
                                                          "commands write) or kinds such as classes,confidence.")
    p.add_argument("--device", default="cpu", help="--device of every facies command (default cpu).")
    p.add_argument("--repeat", type=int, default=1, help="Rounds of the three modes, interleaved (default 1).")
    p.add_argument("--folder", help="Where to build (a new folder is made in it; default: the system temp folder).")
    p.add_argument("--keep", action="store_true", help="Keep the folder with the stores.")
    p.add_argument("--out", default=str(RESULTS), help=f"JSON report (default {RESULTS}).")
    return p.parse_args(argv)


def ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise FaciesError(f"{what} must be comma-separated integers, not {text!r}") from None
    if min(values) < 1:
        raise FaciesError(f"{what} must be positive integers, not {text!r}")
    return values


def fused_kinds(text: str) -> tuple[str, ...]:
    kinds = OUTPUT_KINDS if text == "all" else tuple(text.split(","))
    if not kinds or any(k not in OUTPUT_KINDS for k in kinds):
        raise FaciesError(f"--fused-outputs must be all or some of {','.join(OUTPUT_KINDS)}, not {text!r}")
    return kinds


# ---------------------------------------------------------------------------------------------- disk space
def outputs_per_voxel(models: Models, facies: int) -> dict:
    """Raw bytes per survey voxel each mode writes (float32 arrays, uint8 classes): an upper bound on disk."""
    gtm = 4 * (facies + 3) + 1   # probabilities, confidence, u1, u2; classes
    forest = 4 * (facies + 1) + 1
    d = len(models.attributes)
    return {"zarr_copy": 4 * d, "staged": 4 * d + gtm + forest, "fused": gtm + forest}


def check_disk(folder: Path, gigabytes: float, voxels: int, per_voxel: dict, *, keep_sizes: float = 0) -> None:
    """Refuse, in one line, a size whose survey and largest mode's outputs would not fit on the disk."""
    need = gigabytes * 1e9 + voxels * max(per_voxel.values())
    need = need * 1.05 + 1e9 + keep_sizes  # 5% and 1 GB spare: metadata, ledgers, other writers
    free = shutil.disk_usage(folder).free
    if free < need:
        raise FaciesError(f"{gigabytes:g} GB needs about {need / 1e9:.1f} GB free in {folder} (the survey and the "
                          f"largest mode's outputs), {free / 1e9:.1f} GB are free; choose a smaller size or "
                          "another --folder")


# ---------------------------------------------------------------------------------------------- modes
def new_volumes(survey_path: Path, before: set[str]) -> list[str]:
    return sorted(set(Survey.open(survey_path, mode="r").volumes(include_incomplete=True)) - before)


def run_mode(mode: str, steps: list[tuple[str, str, list[str], list[str]]], survey_path: Path, work: Path,
             voxels: int) -> dict:
    """Run a mode's steps (label, what, args, arrays read) one after another; sum what they measured."""
    results = []
    for label, what, args, reads in steps:
        before = set(Survey.open(survey_path, mode="r").volumes(include_incomplete=True))
        result = run_step(f"{mode}_{label}", what, args, work)
        written = new_volumes(survey_path, before)
        result["arrays_read"], result["arrays_written"] = reads, written
        result["array_bytes_read"] = sum(bytes_on_disk(survey_path / n) for n in reads)
        result["array_bytes_written"] = sum(bytes_on_disk(survey_path / n) for n in written)
        print(f"  {mode:9s} {label:8s} {result['wall_s']:8.1f} s  peak RSS {result['peak_rss_bytes'] / 1e9:5.2f} GB"
              f"  CPU {result['cpu_share']:4.2f} cores  load {result['load_average_after'][0]:.1f}", flush=True)
        results.append(result)
    wall = sum(r["wall_s"] for r in results)
    total = {k: sum(r[k] or 0 for r in results) for k in ("rchar", "wchar", "read_bytes", "write_bytes",
                                                          "array_bytes_read", "array_bytes_written", "cpu_s")}
    return {"wall_s": wall, "voxels_per_s": voxels / wall, "voxels_per_cpu_s": voxels / total["cpu_s"],
            "peak_rss_bytes": max(r["peak_rss_bytes"] for r in results), **total,
            "load_average_before": results[0]["load_average_before"],
            "load_average_after": results[-1]["load_average_after"], "steps": results}


def mode_steps(store: str, models: Models, brick: str, device: str, kinds: tuple[str, ...]) -> dict:
    """Each mode's steps: (label, what the child runs, its arguments, the arrays it reads)."""
    inputs = [a for name in models.attributes for a in ("-i", name)]
    run = ["--device", device, "--brick", brick, "--overwrite"]
    filtered, raw = models.filtered, list(models.attributes)
    kuwahara = ["filter", "kuwahara", store, *inputs, "--radius", str(models.radius)]
    fused = ["apply", store, "--gtm", GTM_NAME, "--rf", FOREST_NAME, *run]
    if kinds != OUTPUT_KINDS:
        fused += ["--outputs", ",".join(kinds)]
    return {
        "zarr_copy": [("copy", "zarr-copy", [store, brick, *raw], raw)],
        "staged": [("filter", "facies", kuwahara + run, raw),
                   ("gtm", "facies", ["gtm", "project", store, "--model", GTM_NAME, *run], filtered),
                   ("forest", "facies", ["rf", "predict", store, "--model", FOREST_NAME, *run], filtered)],
        "fused": [("declare", "facies", kuwahara + ["--virtual", "--overwrite"], []),
                  ("apply", "facies", fused, raw)],
    }


def compared_names(survey: Survey, kinds: tuple[str, ...]) -> list[str]:
    """The arrays both modes write: the fused pass's outputs of ``kinds``."""
    names = []
    for found in (gtm_names(load_gtm(survey, GTM_NAME)), forest_names(load_model(survey, FOREST_NAME))):
        for kind in kinds:
            value = found.get(kind, [])
            names += value if isinstance(value, list) else [value]
    return names


def hashes(survey_path: Path, names: list[str], brick) -> dict:
    """A BLAKE2 hash of each array's values, read brick by brick (two arrays at a time)."""
    survey = Survey.open(survey_path, mode="r")

    def one(name):
        array, digest = survey.array(name), hashlib.blake2b(digest_size=16)
        for b in BrickPlan(survey.shape, survey.chunks, (*brick, survey.shape[2])):
            digest.update(array[region_slices(b.region)].tobytes())
        return name, digest.hexdigest()

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, names))


def clear_outputs(survey_path: Path, keep: list[str]) -> None:
    """Delete every volume but the survey's attributes (a mode's outputs), so the next mode starts alike."""
    survey = Survey.open(survey_path)
    for name in survey.volumes(include_incomplete=True):
        if name not in keep:
            survey.delete(name)


def summarise(rounds: list[dict]) -> dict:
    """A mode over its rounds: the fastest round's figures, each round's wall time, the median."""
    walls = sorted(r["wall_s"] for r in rounds)
    best = min(rounds, key=lambda r: r["wall_s"])
    return {**best, "rounds_wall_s": [r["wall_s"] for r in rounds], "median_wall_s": walls[len(walls) // 2]}


def measure_size(gigabytes: float, root: Path, tile: Survey, names: list[str], args, models: Models,
                 kinds: tuple[str, ...]) -> dict:
    """Make the survey of one size, run every mode ``--repeat`` times, compare, clean up."""
    ratio = compression_ratio(tile, names)
    shape = survey_shape(gigabytes, len(names), args.samples, ratio)
    voxels = math.prod(shape)
    check_disk(root, gigabytes, voxels, outputs_per_voxel(models, len(FACIES_NAMES)))
    brick, chunks = ints(args.brick, "--brick"), ints(args.chunks, "--chunks")
    path = root / f"survey_{gigabytes:g}GB.zarr"
    print(f"size {gigabytes:g} GB: survey {shape} x {len(names)} volumes ({voxels / 1e6:.0f} Mvox each)", flush=True)
    start = time.perf_counter()
    survey = make_survey(path, tile, shape, names, chunks=chunks, brick=brick)
    copy_models(tile, survey)
    made = time.perf_counter() - start
    on_disk = bytes_on_disk(path)
    print(f"  made in {made:.0f} s: {on_disk / 1e9:.2f} GB on disk ({on_disk / made / 1e6:.0f} MB/s)", flush=True)
    steps = mode_steps(str(path), models, args.brick, args.device, kinds)
    compare = compared_names(survey, kinds)
    rounds: dict[str, list] = {m: [] for m in steps}
    identical, compare_seconds = [], 0.0
    for _ in range(args.repeat):
        digests = {}
        for mode, mode_step_list in steps.items():
            rounds[mode].append(run_mode(mode, mode_step_list, path, root, voxels))
            if mode != "zarr_copy":
                start = time.perf_counter()
                digests[mode] = hashes(path, compare, brick)
                compare_seconds += time.perf_counter() - start
            clear_outputs(path, names)
        identical.append(digests["staged"] == digests["fused"])
        differing = [n for n in compare if digests["staged"][n] != digests["fused"][n]]
        print(f"  fused == staged on {', '.join(compare)}: {not differing}"
              + (f" (differ: {', '.join(differing)})" if differing else ""), flush=True)
    modes = {m: summarise(r) for m, r in rounds.items()}
    base, staged, fused = (modes[m]["wall_s"] for m in ("zarr_copy", "staged", "fused"))
    result = {"gigabytes_target": gigabytes, "shape": list(shape), "voxels": voxels, "volumes": len(names),
              "volume_names": names, "compression_ratio_estimate": ratio, "input_bytes_on_disk": on_disk,
              "model_input_bytes_on_disk": {n: bytes_on_disk(path / n) for n in models.attributes},
              "make_seconds": made, "modes": modes, "compared_arrays": compare, "compare_seconds": compare_seconds,
              "fused_equals_staged": all(identical),
              "ratios": {"fused_over_staged_time": fused / staged, "staged_over_fused_speed": staged / fused,
                         "staged_over_zarr_copy_time": staged / base, "fused_over_zarr_copy_time": fused / base}}
    print(f"  wall: zarr copy {base:.1f} s, staged {staged:.1f} s, fused {fused:.1f} s; fused/staged "
          f"{fused / staged:.2f}, staged/zarr {staged / base:.1f}, fused/zarr {fused / base:.1f}", flush=True)
    if not args.keep:
        remove(path)
    return result


# ---------------------------------------------------------------------------------------------- projection
def step_wall(mode: dict, label: str) -> float:
    return next(s["wall_s"] for s in mode["steps"] if s["step"].endswith(f"_{label}"))


def project_here(size: dict, d: int, cores: int) -> dict:
    """The 8000 km² survey at this size's rates: the same modes and models, and the whole staged workflow."""
    voxels, modes = size["voxels"], size["modes"]
    target = math.prod(DEFAULT_SURVEY)
    scale = target / voxels
    rates = {"store": d * voxels / modes["zarr_copy"]["wall_s"],
             "kuwahara": d * voxels / step_wall(modes["staged"], "filter"),
             "gtm": voxels / step_wall(modes["staged"], "gtm"),
             "forest": voxels / step_wall(modes["staged"], "forest")}
    workflow = project_workflow(rates, DEFAULT_SURVEY, DEFAULT_ATTRIBUTES)
    return {"survey": list(DEFAULT_SURVEY), "voxels": target, "from_size_gigabytes": size["gigabytes_target"],
            "same_models_seconds": {m: modes[m]["wall_s"] * scale for m in ("zarr_copy", "staged", "fused")},
            "same_models_cpu_seconds_per_core": {m: modes[m]["cpu_s"] * scale / cores
                                                 for m in ("zarr_copy", "staged", "fused")},
            "zarr_copy_of_9_attributes_seconds": modes["zarr_copy"]["wall_s"] * scale * DEFAULT_ATTRIBUTES / d,
            "workflow": workflow,
            "note": (f"same_models_seconds: each mode's wall time per voxel here x {target:.3g} voxels, with these "
                     f"models ({d} filtered attributes); workflow: facies bench's projection with the staged steps' "
                     f"rates, every one of {DEFAULT_ATTRIBUTES} attributes filtered and copied, the GTM and forest "
                     f"at their {d}-attribute rates (models on 9 attributes cost more per voxel: not measured). "
                     "Wall times include each command's start (a few seconds) and whatever share of the cores "
                     "other processes took (see the load averages); same_models_cpu_seconds_per_core: the CPU time "
                     f"per voxel here x the voxels / {cores} cores, the wall time if every core were this run's "
                     "alone and fully used (a lower bound).")}


def project_gpu(results_dir: Path) -> dict:
    """The 8000 km² survey at the rates of a ``facies bench --device gpu`` report in bench/results, if any."""
    for path in sorted(results_dir.glob("*.json")):
        try:
            report = load_report(path)
        except FaciesError:
            continue
        if (report.get("backend") or {}).get("device") != "gpu":
            continue
        rates = {s["name"]: s["rate"] for s in report["stages"] if s["name"] in ("store", "kuwahara", "gtm", "forest")}
        gpu = (report.get("machine") or {}).get("gpu")
        return {"available": True, "source": path.name, "gpu": gpu,
                "workflow": project_workflow(rates, DEFAULT_SURVEY, DEFAULT_ATTRIBUTES),
                "note": "facies bench's kernel rates (GTM K=400 on its --attributes, its forest), not this "
                        "benchmark's models; the fused pass was not measured on a GPU"}
    return {"available": False,
            "note": f"{results_dir.name}/ holds no GPU kernel figures (no facies bench report made with --device "
                    "gpu); no GPU projection is made"}


# ---------------------------------------------------------------------------------------------- main
def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> dict:
    sizes = [float(v) for v in args.sizes.split(",")] if args.sizes else [args.gigabytes]
    if min(sizes) <= 0:
        raise FaciesError(f"sizes must be positive GB, not {sizes}")
    tile_shape, kinds = ints(args.tile, "--tile"), fused_kinds(args.fused_outputs)
    models = Models(attributes=tuple(args.model_attributes.split(",")), gtm_grid=args.gtm_grid,
                    gtm_basis=args.gtm_basis, gtm_iterations=args.gtm_iterations, trees=args.trees,
                    max_depth=args.max_depth)
    if args.attributes < len(models.attributes):
        raise FaciesError(f"--attributes {args.attributes} is fewer than the models' {len(models.attributes)}")
    folder = Path(args.folder or tempfile.gettempdir())
    if not folder.is_dir():
        raise FaciesError(f"--folder {folder} is not a folder")
    if args.out and not Path(args.out).parent.is_dir():
        raise FaciesError(f"--out {args.out}: its folder does not exist")
    # A first check before anything is made: at least the largest survey itself must fit.
    if shutil.disk_usage(folder).free < max(sizes) * 1e9 * 1.05 + 1e9:
        raise FaciesError(f"{max(sizes):g} GB does not fit in {folder}: {shutil.disk_usage(folder).free / 1e9:.1f} "
                          "GB free; choose a smaller size or another --folder")
    report = {"benchmark": "bench_survey", "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "command": ["bench/bench_survey.py", *sys.argv[1:]], "machine": machine(),
              "load_average_before": load_average(), "bytes_note": BYTES_NOTE}
    root = Path(tempfile.mkdtemp(prefix="facies-survey-", dir=folder))
    if not args.keep:
        atexit.register(remove, root)  # after Python has joined the threads an interrupt left writing into it
    print(f"building in {root}", flush=True)
    try:
        start = time.perf_counter()
        tile = fit_on_tile(root, tile_shape, models)
        names = volume_names(models, args.attributes)
        report["settings"] = {"sizes_gigabytes": sizes, "attributes": args.attributes, "samples": args.samples,
                              "tile": list(tile_shape), "chunks": list(ints(args.chunks, "--chunks")),
                              "brick": [*ints(args.brick, "--brick"), args.samples], "device": args.device,
                              "repeat": args.repeat, "fused_outputs": list(kinds), "models": dataclasses.asdict(models),
                              "gtm_method": "bhattacharyya", "facies": list(FACIES_NAMES),
                              "note": (f"the models read {len(models.attributes)} of the {args.attributes} volumes "
                                       "(filtered); the others are on disk and not read. Small models (GTM "
                                       f"{models.gtm_grid}x{models.gtm_grid} nodes, forest {models.trees} trees of "
                                       f"depth {models.max_depth}) keep two passes over the survey (staged and "
                                       "fused) within the run")}
        report["fit_seconds"] = time.perf_counter() - start
        print(f"models fitted on the {tile_shape} tile in {report['fit_seconds']:.0f} s", flush=True)
        report["sizes"] = [measure_size(g, root, tile, names, args, models, kinds) for g in sizes]
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            remove(root)
    report["load_average_after"] = load_average()
    report["peak_memory"] = {mode: {f"{s['gigabytes_target']:g}GB": s["modes"][mode]["peak_rss_bytes"]
                                    for s in report["sizes"]} for mode in ("zarr_copy", "staged", "fused")}
    if len(report["sizes"]) > 1:
        small, large = report["sizes"][0], report["sizes"][-1]
        report["peak_memory"]["largest_over_smallest"] = {
            m: large["modes"][m]["peak_rss_bytes"] / small["modes"][m]["peak_rss_bytes"]
            for m in ("zarr_copy", "staged", "fused")}
        report["peak_memory"]["voxels_largest_over_smallest"] = large["voxels"] / small["voxels"]
    largest = max(report["sizes"], key=lambda s: s["voxels"])
    report["projection"] = {"this_machine": project_here(largest, len(models.attributes), report["machine"]["cpus"]),
                            "gpu": project_gpu(RESULTS_DIR)}
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted: the benchmark's folder was removed" + (" (kept: --keep)" if args.keep else ""))
        return 130
    except (FaciesError, RuntimeError) as exc:
        print(f"error: {exc}")
        return 2
    if args.out:
        write_result(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
