"""``facies bench``'s run: every stage in a temporary folder, a report even when Ctrl-C stops it."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from facies.engine.backend import get_backend
from facies.engine.benchmark import stages
from facies.engine.benchmark.compare import REPORT_KEY, REPORT_VERSION
from facies.engine.benchmark.machine import describe_machine, load_average
from facies.engine.benchmark.projection import DEFAULT_ATTRIBUTES, DEFAULT_SURVEY, project_workflow
from facies.engine.bricks.result import RunInterrupted
from facies.engine.errors import FaciesError

#: The stages, in the order they run (cheapest evidence first).
STAGES = ("store", "kuwahara", "gtm", "forest", "selection")


@dataclass(frozen=True)
class BenchSettings:
    """What ``facies bench`` measures and projects.

    Attributes
    ----------
    device : {"auto", "cpu", "gpu"}
    quick : bool
        Small sizes and one repeat (under a minute on two cores), instead of three repeats.
    survey : (IL, XL, NS)
        The survey of the projection.
    attributes : int
        N: attributes of the projection, of the GTM and forest inputs, and (capped) of the selection.
    """

    device: str = "auto"
    quick: bool = False
    survey: tuple[int, int, int] = DEFAULT_SURVEY
    attributes: int = DEFAULT_ATTRIBUTES

    @property
    def repeat(self) -> int:
        return 1 if self.quick else 3


def sizes(quick: bool, gpu: bool) -> dict:
    """The size of each stage's input. A GPU gets volumes large enough to fill it; the CPU baselines stay at
    the CPU sizes (their rates are per voxel, so the ratio compares like with like per voxel)."""
    cpu = {"store_shape": (64, 64, 256) if quick else (128, 128, 512), "chunks": (64, 64, 128),
           "kuwahara_shape": (32, 64, 128) if quick else (64, 128, 256),
           "gtm_voxels": 10_000 if quick else 100_000,
           "forest_rows": 20_000 if quick else 200_000, "forest_trees": 20 if quick else 100,
           "forest_depth": 10 if quick else 16, "forest_train_rows": 5_000 if quick else 20_000,
           # A scaled AASPI selection (the full one is N = 9, 10 000 voxels per facies, 200 SEM iterations).
           "selection_attributes": 3 if quick else 4, "selection_voxels": 500 if quick else 2_000,
           "selection_sem_iter": 30 if quick else 200,
           "selection_models": None, "selection_workers": 1 if quick else 0}
    if gpu:
        return {**cpu, "gpu_kuwahara_shape": (256, 256, 512), "gpu_gtm_voxels": 20_000_000,
                "gpu_forest_rows": 10_000_000, "selection_attributes": 4 if quick else 9,
                "selection_voxels": 2_000 if quick else 10_000}
    return cpu


def run_benchmark(settings: BenchSettings, *, on_stage: Callable[[str, int, int], None] | None = None) -> dict:
    """Measure every stage (:data:`STAGES`) and project the workflow onto ``settings.survey``.

    The synthetic store lives in a temporary folder, removed afterwards whatever happens. Ctrl-C stops the
    run between or inside a stage: the report then holds the stages finished so far and ``interrupted``
    names the stage that was running.

    Parameters
    ----------
    settings : BenchSettings
    on_stage : callable(name, index, total), optional
        Called before each stage (and with ``"done"`` at the end), for a progress display.

    Returns
    -------
    dict
        The report (docs/benchmark.md): ``facies_bench``, ``created``, ``settings``, ``machine``,
        ``load_average_before``/``_after``, ``backend``, ``sizes``, ``stages``, ``projection``,
        ``interrupted``.
    """
    if not 1 <= settings.attributes <= 30:
        raise FaciesError(f"--attributes must be 1..30, not {settings.attributes}")
    backend = get_backend(settings.device)
    before = describe_machine()
    size = sizes(settings.quick, backend.is_gpu)
    repeat, n = settings.repeat, settings.attributes
    results: list = []
    interrupted = None
    transfer = None
    notify = on_stage or (lambda name, index, total: None)
    root = Path(tempfile.mkdtemp(prefix="facies-bench-"))
    gpu = backend.is_gpu
    plan: dict[str, Callable[[], object]] = {
        "store": lambda: stages.measure_store(root, size["store_shape"], size["chunks"], repeat, backend),
        "kuwahara": lambda: stages.measure_kuwahara(size["gpu_kuwahara_shape" if gpu else "kuwahara_shape"],
                                                    size["kuwahara_shape"], repeat, backend, transfer),
        "gtm": lambda: stages.measure_gtm(size["gpu_gtm_voxels" if gpu else "gtm_voxels"], size["gtm_voxels"], n,
                                          repeat, backend, transfer),
        "forest": lambda: stages.measure_forest(size["gpu_forest_rows" if gpu else "forest_rows"],
                                                size["forest_rows"], n, size["forest_trees"], size["forest_depth"],
                                                size["forest_train_rows"], repeat, backend, transfer),
        "selection": lambda: stages.measure_selection(min(n, size["selection_attributes"]), size["selection_voxels"],
                                                      size["selection_sem_iter"], size["selection_models"],
                                                      size["selection_workers"], repeat, backend),
    }
    start = time.perf_counter()
    current = "set-up"
    try:
        transfer = stages.host_to_device_rate(backend)
        for index, name in enumerate(STAGES):
            current = name
            notify(name, index, len(STAGES))
            results.append(plan[name]())
        notify("done", len(STAGES), len(STAGES))
    except (KeyboardInterrupt, RunInterrupted):
        interrupted = current  # what was measured so far is reported; the caller exits 130
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rates = {r.name: r.rate for r in results}
    selection = next((r for r in results if r.name == "selection"), None)
    projection = project_workflow(rates, settings.survey, n,
                                  fits_per_combination=selection.details["fits_per_combination"] if selection
                                  else None)
    return {REPORT_KEY: REPORT_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "settings": {**asdict(settings), "repeat": repeat}, "machine": before,
            "load_average_before": before["load_average"], "load_average_after": load_average(),
            "backend": {"device": backend.name, "reason": backend.reason, "tier": before["tier"],
                        "host_to_device_bytes_per_s": transfer},
            "sizes": size, "seconds": time.perf_counter() - start,
            "stages": [r.as_dict() for r in results], "projection": projection, "interrupted": interrupted}
