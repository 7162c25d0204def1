"""``facies filter``: stencil filters streamed brick by brick (resumable, local or on Dask).

Each command is a thin wrapper: parse its options (the run's into one
:class:`~facies.engine.bricks.options.RunOptions`), call its workflow in :mod:`facies.engine.filtering`
(which builds the operators, names the outputs and runs them, locally or on Dask), print the final line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import BRICK, DASK, DASK_GPU, DEVICE, MEMORY_FRACTION, OVERWRITE, RESUME, STORE, run_options
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.bricks.options import RunOptions
from facies.engine.errors import FaciesError
from facies.engine.filtering import filter_box, filter_kuwahara
from facies.engine.store import Survey

app = typer.Typer(help="Stencil filters over whole surveys, streamed brick by brick (resumable).",
                  no_args_is_help=True)

_INPUT = typer.Option(..., "--input", "-i", help="Array to filter.")
_RADIUS = typer.Option(1, "--radius", "-r", help="Half-width of the box: 1 is 3x3x3.", min=0)
_OUTPUT = typer.Option(None, "--output", "-o", help="Array to write (default: INPUT_mean_rR / INPUT_var_rR).")
_BOUNDARY = typer.Option("nan", "--boundary", help="Outside the survey: nan (ignored), reflect or nearest.")


def _box_filter(statistic: str, store: Path, input: str, radius: int, output: str | None, boundary: str,
                options: RunOptions) -> None:
    """What ``mean`` and ``variance`` share: run the workflow, print its final line."""
    with exit_130_when_interrupted():
        result = filter_box(Survey.open(store), statistic, input, radius, output=output, boundary=boundary,
                            options=options)
    console.print(result.summary)


def mean(store: Path = STORE, input: str = _INPUT, radius: int = _RADIUS, output: str | None = _OUTPUT,
         boundary: str = _BOUNDARY, device: str = DEVICE, brick: str | None = BRICK,
         memory_fraction: float = MEMORY_FRACTION, resume: bool = RESUME, overwrite: bool = OVERWRITE,
         dask: str | None = DASK, dask_gpu: bool = DASK_GPU) -> None:
    """Local mean of INPUT over a (2R+1)^3 box, ignoring NaNs."""
    _box_filter("mean", store, input, radius, output, boundary,
                run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                            overwrite=overwrite, dask=dask, dask_gpu=dask_gpu))


def variance(store: Path = STORE, input: str = _INPUT, radius: int = _RADIUS, output: str | None = _OUTPUT,
             boundary: str = _BOUNDARY, device: str = DEVICE, brick: str | None = BRICK,
             memory_fraction: float = MEMORY_FRACTION, resume: bool = RESUME, overwrite: bool = OVERWRITE,
             dask: str | None = DASK, dask_gpu: bool = DASK_GPU) -> None:
    """Local variance of INPUT over a (2R+1)^3 box (two passes on shifted data), ignoring NaNs."""
    _box_filter("variance", store, input, radius, output, boundary,
                run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                            overwrite=overwrite, dask=dask, dask_gpu=dask_gpu))


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


def kuwahara(store: Path = STORE,
             input: list[str] | None = typer.Option(None, "--input", "-i", help="Attribute to filter (repeatable)."),
             all_: bool = typer.Option(False, "--all", help="Filter every attribute volume not already named *SUFFIX."),
             radius: str = typer.Option("2", "--radius", "-r", help="R, or IL,XL,S: half-size (octant) or "
                                        "half-width a (shifted) per axis."),
             mode: str = typer.Option("octant", "--mode", help="octant (8 sub-cubes with p at a corner) or shifted "
                                      "(every (2a+1)^3 window containing p)."),
             stat: str = typer.Option("mean", "--stat", help="mean or median of the chosen window."),
             suffix: str = typer.Option("_kuw", "--suffix", help="Output name = INPUT + SUFFIX."),
             device: str = DEVICE, brick: str | None = BRICK, memory_fraction: float = MEMORY_FRACTION,
             resume: bool = RESUME, overwrite: bool = OVERWRITE, dask: str | None = DASK,
             dask_gpu: bool = DASK_GPU,
             virtual: bool = typer.Option(False, "--virtual", help="Compute nothing: record the outputs as virtual "
                                          "arrays, computed where they are read (training, GTM sample, apply).")
             ) -> None:
    """Adaptive 3D Kuwahara filter (edge-preserving smoothing) of attribute volumes, into INPUT_kuw arrays."""
    if all_ and input:
        raise FaciesError("give either --input NAME (repeatable) or --all, not both")
    if not all_ and not input:
        raise FaciesError("no input: pass --input NAME (repeatable) or --all")
    radius_value = parse_radius(radius)
    options = run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                          overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)
    with exit_130_when_interrupted():
        result = filter_kuwahara(Survey.open(store), "all" if all_ else list(input), radius_value, mode=mode,
                                 stat=stat, suffix=suffix, options=options, virtual=virtual)
    console.print(result.summary)


app.command("mean")(mean)
app.command("variance")(variance)
app.command("kuwahara")(kuwahara)
