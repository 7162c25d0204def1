"""``facies apply``: the stored models over the whole survey in one pass (filter, GTM projection, forest)."""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import (BRICK, DASK, DASK_GPU, DEVICE, MEMORY_FRACTION, OVERWRITE, RESUME, STORE, name_list,
                                run_options)
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.store import Survey

#: This module's command; cli/app.py adds it to ``facies``.
app = typer.Typer()


@app.command("apply")
def apply(store: Path = STORE,
          gtm: str | None = typer.Option(None, "--gtm", help="GTM model to project on (gtm_models/<name>)."),
          rf: str | None = typer.Option(None, "--rf", help="Random forest to classify with (models/<name>)."),
          method: str = typer.Option("bhattacharyya", "--method", help="bhattacharyya|gtc: how a voxel's GTM "
                                                                       "responsibilities become probabilities."),
          engine: str = typer.Option("auto", "--engine", help="The forest's engine on the CPU: auto, or one "
                                                              "docs/forest.md names (the GPU uses nvForest)."),
          outputs: str | None = typer.Option(None, "--outputs", help="What to write, comma-separated: classes, "
                                                                      "probabilities, confidence, latent "
                                                                      "(default: all)."),
          write_filtered: bool = typer.Option(False, "--write-filtered", help="Also write the virtual attributes "
                                                                              "filtered on the way, as stored data "
                                                                              "(with --overwrite: replaces their "
                                                                              "recipes)."),
          device: str = DEVICE, brick: str | None = BRICK, memory_fraction: float = MEMORY_FRACTION,
          resume: bool = RESUME, overwrite: bool = OVERWRITE, dask: str | None = DASK,
          dask_gpu: bool = DASK_GPU) -> None:
    """Filter, project and classify every voxel in one read of each brick; write what gtm project/rf predict write.

    Virtual attributes (facies filter kuwahara --virtual) are filtered in memory, written only with --write-filtered.
    """
    from facies.engine.apply.workflow import apply_models  # noqa: PLC0415 - the models' libraries load only when used

    options = run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                          overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)
    with exit_130_when_interrupted():
        result = apply_models(Survey.open(store), gtm=gtm, forest=rf, method=method, engine=engine,
                              outputs=name_list(outputs), write_filtered=write_filtered, options=options)
    console.print(result.run.summary)
    if result.gtm:
        console.print(f"GTM {gtm} ({result.method}): {', '.join(result.gtm)}")
    if result.forest:
        console.print(f"random forest {rf}: {', '.join(result.forest)}")
    if result.computed:
        state = "written" if result.filtered else "computed in memory, not written (--write-filtered writes them)"
        console.print(f"filtered on the way: {', '.join(result.computed)} ({state})")
    elif write_filtered:
        console.print("--write-filtered: the models read no virtual attribute; nothing was filtered")
