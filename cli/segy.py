"""``facies ingest`` and ``facies export``: SEG-Y in and out of a survey store."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import RESUME, STORE, int_tuple
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.progress import human_rate
from facies.engine.segy import export_segy, ingest_segy

_PROGRESS = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal).")


#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("ingest")
def ingest(files: list[Path] = typer.Argument(..., help="SEG-Y files; the first defines the geometry."),
           survey: Path = typer.Option(..., "--survey", help="Store to create or add to (a .zarr folder)."),
           name: list[str] = typer.Option(None, "--name", help="Array name, one per file (default: amplitude, "
                                          "then the file stem)."),
           preset: str = typer.Option("standard", "--preset", help="Header bytes: standard (189/193/181/185) or "
                                      "petrel (9/21/73/77)."),
           iline_byte: int = typer.Option(None, "--iline-byte", help="Inline number byte (overrides the preset)."),
           xline_byte: int = typer.Option(None, "--xline-byte", help="Crossline number byte."),
           cdpx_byte: int = typer.Option(None, "--cdpx-byte", help="CDP X byte."),
           cdpy_byte: int = typer.Option(None, "--cdpy-byte", help="CDP Y byte."),
           chunks: str = typer.Option(None, "--chunks", help="Storage chunks IL,XL,S (default 128,128,128)."),
           sample_axis: str = typer.Option(None, "--sample-axis", help="time or depth (default: decided from "
                                           "the headers and file name, see docs/segy.md)."),
           sample_interval: float = typer.Option(None, "--sample-interval", help="Sample interval in ms (time) or "
                                                 "m/ft (depth), instead of the headers'; required when they say 0."),
           compression: str = typer.Option("zstd", "--compression", help="zstd or none (new stores only)."),
           resume: bool = RESUME,
           overwrite: bool = typer.Option(False, "--overwrite", help="Replace an array of the same name that "
                                          "ingest made (e.g. to start an interrupted ingest over)."),
           progress: bool = _PROGRESS) -> None:
    """Ingest post-stack 3D SEG-Y files into a survey store."""
    start = time.perf_counter()
    with exit_130_when_interrupted():
        result = ingest_segy(files, survey, names=name or None, preset=preset, iline_byte=iline_byte,
                             xline_byte=xline_byte, cdpx_byte=cdpx_byte, cdpy_byte=cdpy_byte,
                             chunks=int_tuple(chunks, "--chunks", lengths=(3,)), resume=resume, overwrite=overwrite,
                             progress=progress, sample_axis=sample_axis, sample_interval=sample_interval,
                             compression=compression)
    elapsed = time.perf_counter() - start
    g = result.geometry
    read = sum(f.stat().st_size for f in files)
    console.print(f"[bold]{result.path}[/]: {' x '.join(map(str, g.shape))} ({', '.join(g.dims)}); inline "
                  f"{g.inlines[0]}..{g.inlines[-1]} step {g.line_step(g.inlines)}, crossline {g.crosslines[0]}.."
                  f"{g.crosslines[-1]} step {g.line_step(g.crosslines)}, {g.sample_axis} {g.samples[0]:g}.."
                  f"{g.samples[-1]:g} {g.sample_unit}")
    console.print(f"live traces {int(g.trace_mask.sum())} of {g.trace_mask.size}; arrays {', '.join(result.volumes())}")
    console.print(f"read {human_rate(read, 'B')} in {elapsed:.1f} s ({human_rate(read / max(elapsed, 1e-9), 'B')}/s)")


@app.command("export")
def export(store: Path = STORE,
           array: str = typer.Argument(..., help="3D array to export (attribute, classes, probabilities)."),
           out: Path = typer.Argument(..., help="SEG-Y file to write."),
           format: str = typer.Option("ieee", "--format", help="Sample format: ieee (exact) or ibm."),
           overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it is a SEG-Y file facies "
                                          "export wrote (only once the new file is complete); any other file, "
                                          "a link or a folder is never replaced."),
           progress: bool = _PROGRESS) -> None:
    """Export a 3D array of a survey as a post-stack 3D SEG-Y.

    OUT must lie outside every survey store; an existing OUT is replaced only with --overwrite and
    only when facies export wrote it (docs/segy.md).
    """
    start = time.perf_counter()
    path = export_segy(store, array, out, format=format, overwrite=overwrite, progress=progress)
    elapsed = time.perf_counter() - start
    size = path.stat().st_size
    console.print(f"wrote {path} ({human_rate(size, 'B')}, {format}) in {elapsed:.1f} s "
                  f"({human_rate(size / max(elapsed, 1e-9), 'B')}/s)")
