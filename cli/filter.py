"""``facies filter``: stencil filters streamed brick by brick (resumable, local or on Dask).

Each command is a thin wrapper: parse, build the operator, call
:func:`facies.engine.bricks.run.run_bricks` (or :func:`~facies.engine.bricks.dask_runner.run_dask`
with ``--dask``), print the final line. ``kuwahara`` calls
:func:`facies.engine.operators.kuwahara.filter_kuwahara` (several inputs in one run).
"""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import int_tuple
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.memory import DEFAULT_FRACTION
from facies.engine.operators import LocalMean, LocalVariance, filter_kuwahara
from facies.engine.store import Survey

app = typer.Typer(help="Stencil filters over whole surveys, streamed brick by brick (resumable).",
                  no_args_is_help=True)

_STORE = typer.Argument(..., help="Survey store (a .zarr folder).")
_INPUT = typer.Option(..., "--input", "-i", help="Array to filter.")
_RADIUS = typer.Option(1, "--radius", "-r", help="Half-width of the box: 1 is 3x3x3.", min=0)
_OUTPUT = typer.Option(None, "--output", "-o", help="Array to write (default: INPUT_mean_rR / INPUT_var_rR).")
_BOUNDARY = typer.Option("nan", "--boundary", help="Outside the survey: nan (ignored), reflect or nearest.")
_DEVICE = typer.Option("auto", "--device", help="auto, cpu or gpu.")
_BRICK = typer.Option(None, "--brick", help="Brick size IL,XL[,S] in voxels, rounded up to whole chunks "
                                            "(default: from free memory).")
_FRACTION = typer.Option(DEFAULT_FRACTION, "--memory-fraction", help="Share of free host/GPU memory bricks may use.")
_RESUME = typer.Option(False, "--resume", help="Continue an interrupted run (same parameters), skipping done bricks.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace the output array if it exists.")
_DASK = typer.Option(None, "--dask", help="Run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'.")
_DASK_GPU = typer.Option(False, "--dask-gpu", help="With --dask: compute on CuPy chunks (dask-cuda workers).")


def parse_brick(text: str | None) -> tuple[int, ...] | None:
    """``"64,64"`` -> ``(64, 64)``; ``"64,64,128"`` -> ``(64, 64, 128)``."""
    return int_tuple(text, "--brick", lengths=(2, 3), example="256,256")


def run_filter(store: Path, operator, output: str, *, command: str, device: str, brick: str | None,
               memory_fraction: float, resume: bool, overwrite: bool, dask: str | None, dask_gpu: bool) -> None:
    """Run one filter operator over ``store`` and print the final line (shared by the commands)."""
    survey = Survey.open(store)
    outputs = {operator.outputs[0].name: output}
    if dask:
        if resume or brick:
            raise FaciesError("--resume and --brick apply to local runs; with --dask re-run the command instead")
        from facies.engine.bricks.dask_runner import run_dask  # noqa: PLC0415 - Dask only when asked

        result = run_dask(survey, [operator], outputs, scheduler=dask, command=command, gpu=dask_gpu,
                          overwrite=overwrite)
    else:
        with exit_130_when_interrupted():
            result = run_bricks(survey, [operator], outputs, command=command, device=device,
                                brick=parse_brick(brick), memory_fraction=memory_fraction, resume=resume,
                                overwrite=overwrite)
    console.print(result.summary)


def mean(store: Path = _STORE, input: str = _INPUT, radius: int = _RADIUS, output: str | None = _OUTPUT,
         boundary: str = _BOUNDARY, device: str = _DEVICE, brick: str | None = _BRICK,
         memory_fraction: float = _FRACTION, resume: bool = _RESUME, overwrite: bool = _OVERWRITE,
         dask: str | None = _DASK, dask_gpu: bool = _DASK_GPU) -> None:
    """Local mean of INPUT over a (2R+1)^3 box, ignoring NaNs."""
    output = output or f"{input}_mean_r{radius}"
    run_filter(store, LocalMean(input, "mean", radius=radius, boundary=boundary), output,
               command="facies filter mean", device=device, brick=brick, memory_fraction=memory_fraction,
               resume=resume, overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)


def variance(store: Path = _STORE, input: str = _INPUT, radius: int = _RADIUS, output: str | None = _OUTPUT,
             boundary: str = _BOUNDARY, device: str = _DEVICE, brick: str | None = _BRICK,
             memory_fraction: float = _FRACTION, resume: bool = _RESUME, overwrite: bool = _OVERWRITE,
             dask: str | None = _DASK, dask_gpu: bool = _DASK_GPU) -> None:
    """Local variance of INPUT over a (2R+1)^3 box (two passes on shifted data), ignoring NaNs."""
    output = output or f"{input}_var_r{radius}"
    run_filter(store, LocalVariance(input, "variance", radius=radius, boundary=boundary), output,
               command="facies filter variance", device=device, brick=brick, memory_fraction=memory_fraction,
               resume=resume, overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)


def parse_radius(text: str) -> int | tuple[int, int, int]:
    """``"2"`` -> ``2``; ``"1,1,3"`` -> ``(1, 1, 3)`` (inline, crossline, sample)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 3) or any(v < 0 for v in values) or not any(values):
        raise FaciesError(f"--radius {text!r} must be R or IL,XL,S non-negative integers, not all 0 "
                          "(e.g. --radius 2 or --radius 1,1,3)")
    return values[0] if len(values) == 1 else values


def kuwahara(store: Path = _STORE,
             input: list[str] | None = typer.Option(None, "--input", "-i", help="Array to filter (repeatable)."),
             all_: bool = typer.Option(False, "--all", help="Filter every attribute volume not already named *SUFFIX."),
             radius: str = typer.Option("2", "--radius", "-r", help="R, or IL,XL,S: half-size (octant) or "
                                        "half-width a (shifted) per axis."),
             mode: str = typer.Option("octant", "--mode", help="octant (8 sub-cubes with p at a corner) or shifted "
                                      "(every (2a+1)^3 window containing p)."),
             stat: str = typer.Option("mean", "--stat", help="mean or median of the chosen window."),
             suffix: str = typer.Option("_kuw", "--suffix", help="Output name = INPUT + SUFFIX."),
             device: str = _DEVICE, brick: str | None = _BRICK, memory_fraction: float = _FRACTION,
             resume: bool = _RESUME, overwrite: bool = typer.Option(False, "--overwrite",
                                                                    help="Replace existing output arrays."),
             dask: str | None = _DASK) -> None:
    """Adaptive 3D Kuwahara filter (edge-preserving smoothing) of attribute volumes, into INPUT_kuw arrays."""
    if all_ and input:
        raise FaciesError("give either --input NAME (repeatable) or --all, not both")
    if not all_ and not input:
        raise FaciesError("no input: pass --input NAME (repeatable) or --all")
    with exit_130_when_interrupted():
        result = filter_kuwahara(Survey.open(store), "all" if all_ else list(input), parse_radius(radius),
                                 mode=mode, stat=stat, suffix=suffix, device=device, brick=parse_brick(brick),
                                 memory_fraction=memory_fraction, resume=resume, overwrite=overwrite, dask=dask)
    console.print(result.summary)


app.command("mean")(mean)
app.command("variance")(variance)
app.command("kuwahara")(kuwahara)
