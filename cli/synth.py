"""``facies synth``: the built-in synthetic survey (facies bodies, truth, attributes, polygons)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from facies.cli.console import console
from facies.cli.options import int_tuple
from facies.engine.synth import make_synthetic, polygons_path


def synth(store: Path = typer.Argument(..., help="New survey store (a .zarr folder)."),
          shape: Optional[tuple[int, int, int]] = typer.Option(
              None, "--shape", metavar="IL XL NS", help="Explicit shape (exclusive with --size)."),
          size: Optional[str] = typer.Option(
              None, "--size", help="tiny (tests), small (demo, the default), medium (a few GB), large (tens of GB)."),
          seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same survey, bit for bit."),
          segy_dir: Optional[Path] = typer.Option(None, "--segy-dir", help="Also write every volume as DIR/<name>.sgy."),
          segy_volumes: Optional[str] = typer.Option(
              None, "--segy-volumes", help="Comma list of volumes to write with --segy-dir (default: all)."),
          chunks: Optional[str] = typer.Option(None, "--chunks", help="Storage chunks IL,XL,S (default 128,128,128)."),
          overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store.")) -> None:
    """Make a synthetic survey with known facies (background, salt, MTD), amplitude, 10 attributes and polygons."""
    start = time.perf_counter()
    survey = make_synthetic(store, shape=shape, size=size, seed=seed,
                            chunks=int_tuple(chunks, "--chunks", lengths=(3,)),
                            segy_dir=segy_dir, overwrite=overwrite,
                            segy_volumes=[v.strip() for v in segy_volumes.split(",")] if segy_volumes else None,
                            on_volume=lambda path: console.print(f"wrote {path}"))
    elapsed = time.perf_counter() - start
    poly = polygons_path(store)
    n_polygons = len(json.loads(poly.read_text())["polygons"])
    console.print(f"[bold]{survey.path}[/]  shape {' x '.join(map(str, survey.shape))}, seed {seed}, "
                  f"{len(survey.volumes())} volumes in {elapsed:.1f} s")
    console.print(f"attributes: {', '.join(survey.attributes())}")
    console.print("truth: facies codes 1..3 = background, salt, mtd (0 = dead trace)")
    console.print(f"polygons: {poly} ({n_polygons} polygons)")
