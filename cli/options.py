"""Options shared by several commands: their definitions, the parsing of their values (comma lists of
integers), and :func:`run_options`, which turns a brick-streaming command's options into one
:class:`~facies.engine.bricks.options.RunOptions`."""

from __future__ import annotations

from collections.abc import Collection

import typer

from facies.engine.bricks.options import RunOptions
from facies.engine.errors import FaciesError
from facies.engine.memory import DEFAULT_FRACTION

# Options several commands share: one definition each, so their names, defaults and help agree.
STORE = typer.Argument(..., help="Survey store (a .zarr folder).")
DEVICE = typer.Option("auto", "--device", help="auto (GPU when one answers), cpu or gpu.")
BRICK = typer.Option(None, "--brick", help="Brick size IL,XL[,S] in voxels, rounded up to whole chunks "
                                           "(default: from free memory).")
MEMORY_FRACTION = typer.Option(DEFAULT_FRACTION, "--memory-fraction",
                               help="Share of free host/GPU memory the bricks may use.")
RESUME = typer.Option(False, "--resume", help="Continue an interrupted run (same parameters), skipping finished work.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace the outputs if they exist.")
DASK = typer.Option(None, "--dask", help="Run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'.")
DASK_GPU = typer.Option(False, "--dask-gpu", help="With --dask: compute on CuPy chunks (dask-cuda workers).")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def int_tuple(text: str | None, option: str, *, lengths: Collection[int] | None = None,
              example: str = "128,128,128") -> tuple[int, ...] | None:
    """``"64,64,128"`` -> ``(64, 64, 128)``; None stays None.

    Parameters
    ----------
    text : str or None
        The option's value.
    option : str
        Its name, for the error message (``"--chunks"``).
    lengths : collection of int, optional
        Allowed numbers of values (any when None).
    example : str
        A valid value, shown in the error message.

    Raises
    ------
    FaciesError
        When a value is not a positive integer or their number is not allowed.
    """
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1 or (lengths is not None and len(values) not in lengths):
        count = "" if lengths is None else " " + " or ".join(str(n) for n in sorted(lengths))
        raise FaciesError(f"{option} must be{count} comma-separated positive integers, e.g. {option} {example}, "
                          f"not {text!r}")
    return values


def parse_brick(text: str | None) -> tuple[int, ...] | None:
    """``"64,64"`` -> ``(64, 64)``; ``"64,64,128"`` -> ``(64, 64, 128)`` (the ``--brick`` option)."""
    return int_tuple(text, "--brick", lengths=(2, 3), example="256,256")


def run_options(*, device: str, brick: str | None, memory_fraction: float, resume: bool, overwrite: bool,
                dask: str | None = None, dask_gpu: bool = False) -> RunOptions:
    """The :class:`RunOptions` of a command that streams bricks, from its shared options (``--device``,
    ``--brick``, ``--memory-fraction``, ``--resume``, ``--overwrite``, ``--dask``, ``--dask-gpu``).

    Raises
    ------
    FaciesError
        A malformed ``--brick``, or a combination :class:`RunOptions` refuses.
    """
    return RunOptions(device=device, brick=parse_brick(brick), memory_fraction=memory_fraction, resume=resume,
                      overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)


def name_list(text: str | None) -> list[str] | None:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None (option not given) stays None."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]
