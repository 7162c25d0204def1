"""``facies synth``: the built-in synthetic survey (facies bodies, truth, attributes, polygons)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from facies.cli.console import console
from facies.cli.options import OVERWRITE, int_tuple, name_list


# The store argument is not options.STORE: synth creates a new store rather than reading one.
#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("synth")
def synth(store: Path = typer.Argument(..., help="New survey store (a .zarr folder)."),
          shape: Optional[tuple[int, int, int]] = typer.Option(
              None, "--shape", metavar="IL XL NS", help="Explicit shape (exclusive with --size)."),
          size: Optional[str] = typer.Option(
              None, "--size", help="tiny (tests), small (demo, the default), medium (a few GB), large (tens of GB)."),
          seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same survey, bit for bit."),
          segy_dir: Optional[Path] = typer.Option(
              None, "--segy-dir", help="Also write every volume as DIR/<name>.sgy (DIR is made if needed)."),
          segy_volumes: Optional[str] = typer.Option(
              None, "--segy-volumes", help="Comma list of volumes to write with --segy-dir (default: all)."),
          chunks: Optional[str] = typer.Option(None, "--chunks", help="Storage chunks IL,XL,S (default 128,128,128)."),
          overwrite: bool = OVERWRITE) -> None:
    """Make a synthetic survey with known facies (background, salt, MTD), amplitude, 10 attributes and polygons.

    --overwrite replaces only what facies synth made: a facies store, its polygon file, its SEG-Y files.
    """
    # imported here: the attributes need scipy.signal, about a second to import, which other commands never use
    from facies.engine.synth import FACIES_NAMES, make_synthetic  # noqa: PLC0415
    start = time.perf_counter()
    polygons = []
    survey = make_synthetic(store, shape=shape, size=size, seed=seed,
                            chunks=int_tuple(chunks, "--chunks", lengths=(3,)),
                            segy_dir=segy_dir, overwrite=overwrite, segy_volumes=name_list(segy_volumes),
                            on_volume=lambda path: console.print(f"wrote {path}"),
                            on_polygons=lambda path, count: polygons.append((path, count)))
    elapsed = time.perf_counter() - start
    console.print(f"[bold]{survey.path}[/]  shape {' x '.join(map(str, survey.shape))}, seed {seed}, "
                  f"{len(survey.volumes())} volumes in {elapsed:.1f} s")
    console.print(f"attributes: {', '.join(survey.attributes())}")
    console.print(f"truth: facies codes 1..{len(FACIES_NAMES)} = {', '.join(FACIES_NAMES)} (0 = dead trace)")
    for path, count in polygons:
        console.print(f"polygons: {path} ({count} polygons)")
