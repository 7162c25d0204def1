"""``facies verify``: is every array of a store whole, and how to recover what is not."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from facies.cli.console import console, print_json
from facies.cli.options import JSON, STORE
from facies.engine.errors import FaciesError
from facies.engine.ledger import describe_names
from facies.engine.verify import verify_store

_STYLE = {"ok": "green", "incomplete": "yellow", "unchecked": "yellow", "being written": "yellow",
          "damaged": "bold red"}


#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("verify")
def verify(store: Path = STORE, as_json: bool = JSON,
           progress: bool = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bar (default: on a terminal).")) -> None:
    """Check every chunk of every array (present, checksum), read every training table and model through its
    checks, and say how to recover what is damaged.

    Exits with status 2 when something is damaged.
    """
    report = verify_store(store, progress=progress)
    if as_json:
        print_json(report.as_dict())
    else:
        table = Table("array", "status", "chunks", "what is wrong", "to recover")
        for check in report.arrays:
            style = _STYLE[check.status]
            table.add_row(check.path, f"[{style}]{check.status}[/]", str(check.chunks), check.describe(),
                          check.recover if check.status == "damaged" else "")
        console.print(table)
        if not report.records_all_chunks:
            console.print("note: this store was made before facies recorded every chunk: a missing chunk "
                          "cannot be told from an empty one")
        for run in report.interrupted_runs:
            console.print(f"interrupted run {run!r}: finish it with the same command and --resume")
        if report.leftovers:
            console.print(f"{report.leftovers} '.partial' file(s) left by a killed writer (harmless; never read)")
        for save in report.interrupted_saves:
            console.print(f"{save!r}: left by a table or model save in progress or killed (never read; the next "
                          "save of that name removes it)")
    damaged = report.damaged
    if damaged:
        names = describe_names([a.path for a in damaged], limit=3)
        raise FaciesError(f"{len(damaged)} damaged array(s) in {store}: {names}; see the table for how to recover")
    if not as_json:
        console.print(f"[green]{store}: {len(report.arrays)} arrays checked, nothing damaged[/]")
