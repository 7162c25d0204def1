"""``facies info``: geometry and arrays of a survey store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from facies.cli.console import console, fmt_number, print_json
from facies.cli.options import JSON, STORE
from facies.engine.info import describe
from facies.engine.progress import human_rate
from facies.engine.store import Survey


#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()


@app.command("info")
def info(store: Path = STORE,
         as_json: bool = JSON,
         stats: bool = typer.Option(True, "--stats/--no-stats", help="Read every array for min/max/mean.")) -> None:
    """Print geometry, sample axis, and every array with dtype, chunks, compression, size and statistics."""
    rep = describe(Survey.open(store, mode="r"), stats=stats)
    if as_json:
        print_json(rep)
        return
    il, xl, s = rep["inline"], rep["crossline"], rep["sample"]
    console.print(f"[bold]{rep['path']}[/]  shape {' x '.join(map(str, rep['shape']))} ({', '.join(rep['dims'])})")
    console.print(f"inline {il['first']}..{il['last']} step {il['step']} ({il['count']}), "
                  f"crossline {xl['first']}..{xl['last']} step {xl['step']} ({xl['count']}), "
                  f"{s['axis']} {s['first']:g}..{s['last']:g} {s['unit']} "
                  f"every {s['interval']:g} {s['unit']} ({s['count']})")
    console.print(f"live traces {rep['live_traces']} of {rep['total_traces']}; "
                  f"on disk {human_rate(rep['disk_bytes'], 'B')}")
    table = Table("array", "kind", "dtype", "chunks", "compression", "on disk", "min", "max", "mean", "made by")
    for a in rep["arrays"]:
        name = a["name"] if a["complete"] else f"{a['name']} [red](incomplete)[/]"
        name += " [yellow](being written)[/]" if a.get("being_written") else ""
        table.add_row(name, a["kind"], a["dtype"], "x".join(map(str, a["chunks"])), a["compression"],
                      human_rate(a["disk_bytes"], "B"), *(fmt_number(a.get(k)) for k in ("min", "max", "mean")),
                      a["provenance"] or "")
    console.print(table)
    for v in rep["virtual"]:
        console.print(f"{v['name']}: {v['description']}", markup=False)
    for m in rep["gtm_models"]:
        console.print(f"GTM model {m['name']}: {m['grid']} x {m['grid']} nodes on {', '.join(m['attributes'] or [])}; "
                      f"facies {', '.join(m['facies'] or [])} (training {m['training']}, sample {m['sample_size']})")
    for name, reason in rep["unreadable"].items():
        console.print(f"[bold red]{name}: metadata unreadable ({reason}); run 'facies verify {rep['path']}'[/]")
