"""``facies report``: one self-contained HTML page of a survey's results."""

from __future__ import annotations

from pathlib import Path

import typer

from facies.cli.console import console
from facies.cli.options import OVERWRITE, STORE
from facies.engine.progress import human_rate
from facies.engine.store import Survey

#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("report")
def report(store: Path = STORE,
           out: Path = typer.Option(..., "--out", help="The HTML file to write (outside any survey store)."),
           overwrite: bool = OVERWRITE,
           selection: Path = typer.Option(None, "--selection", help="A 'facies select --out' folder (default: the "
                                                                    "one the store's latest selection names)."),
           inline: float = typer.Option(None, "--inline", help="Inline of the inline slice (default: where most "
                                                               "training polygons lie, else the middle)."),
           crossline: float = typer.Option(None, "--crossline", help="Crossline of the crossline slice."),
           time: float = typer.Option(None, "--time", "--depth", help="Time (or depth) of the horizontal slice."),
           labels: str = typer.Option("truth", "--labels", help="Label volume of known facies for the accuracy."),
           training: str = typer.Option("picks", "--training", help="Training table (drawn, and left out of the "
                                                                    "accuracy).")) -> None:
    """Write the survey, slices, facies and probabilities, models, selection and accuracy as one HTML page."""
    from facies.engine.report import write_report  # noqa: PLC0415 - matplotlib loads only when used

    result = write_report(Survey.open(store, mode="r"), out, overwrite=overwrite, selection=selection,
                          inline=inline, crossline=crossline, sample=time, labels=labels, training=training)
    for section in result.sections:
        state = f"absent: {section.absent}" if section.absent else f"{len(section.figures())} figures"
        console.print(f"  {section.title}: {state}", highlight=False)
    console.print(f"wrote {result.path} ({human_rate(result.size, 'B')})", highlight=False)
