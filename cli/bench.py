"""``facies bench``: throughput of each workflow stage on this machine, and what it means for a survey."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from facies.cli.console import console, print_json
from facies.cli.options import DEVICE, JSON, OVERWRITE, int_tuple
from facies.cli.runs import INTERRUPTED
from facies.engine.benchmark import BenchSettings, compare_reports, load_report, run_benchmark
from facies.engine.benchmark.output import check_out, write_report
from facies.engine.benchmark.projection import DEFAULT_ATTRIBUTES, DEFAULT_SURVEY, MAX_ATTRIBUTES
from facies.engine.errors import FaciesError
from facies.engine.progress import human_rate

#: This module's commands; cli/app.py adds them to ``facies``.
app = typer.Typer()

_UNITS = {"voxels": "vox", "fits": "fits"}


def _rate(value, unit: str) -> str:
    return "" if value is None else f"{human_rate(value, _UNITS.get(unit, unit))}/s"


def _duration(seconds: float) -> str:
    """``93784`` -> ``1 d 2 h``: the projection's times are hours to weeks."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    for unit, scale, small, small_scale in (("d", 86400, "h", 3600), ("h", 3600, "min", 60)):
        if seconds >= scale:
            return f"{int(seconds // scale)} {unit} {int(seconds % scale // small_scale)} {small}"
    return f"{seconds / 60:.1f} min"


def _print_report(report: dict) -> None:
    table = Table("stage", "device", "throughput", "baseline", "baseline throughput", "ratio", "bound")
    for s in report["stages"]:
        table.add_row(s["label"], s["device"], _rate(s["rate"], s["unit"]), s["baseline"] or "(none here)",
                      _rate(s["baseline_rate"], s["unit"]), "" if s["ratio"] is None else f"x{s['ratio']:.2f}",
                      s["bound"])
    console.print(table)
    p = report["projection"]
    il, xl, ns = p["survey"]
    console.print(f"projection for a {il} x {xl} x {ns} survey ({il * xl / 1e6:.2f} M traces, "
                  f"{p['voxels'] / 1e9:.2f} G voxels), {p['attributes']} attributes:")
    projection = Table("stage", "work", "time")
    for name, st in p["stages"].items():
        work = (f"2^{p['attributes']}-1 combinations, {human_rate(st['units'], 'fits')}" if name == "selection"
                else f"{human_rate(st['units'], 'vox')}" + (f" ({p['attributes']} attributes)"
                                                            if st["per_attribute"] else ""))
        style = "bold" if name == p["wall"] else ""
        projection.add_row(f"[{style}]{name}[/]" if style else name, work, _duration(st["seconds"]))
    console.print(projection)
    if p["wall"] is not None:
        console.print(f"total {_duration(p['total_seconds'])}; the wall is [bold]{p['wall']}[/] "
                      f"({p['stages'][p['wall']]['seconds'] / p['total_seconds']:.0%} of the time)")


def _compare(paths: tuple[Path, Path], as_json: bool) -> None:
    a, b = (load_report(p) for p in paths)
    rows = compare_reports(a, b)
    if as_json:
        print_json({"a": str(paths[0]), "b": str(paths[1]), "stages": rows})
        return
    table = Table("stage", f"A ({paths[0].name})", f"B ({paths[1].name})", "B / A")
    for r in rows:
        table.add_row(r["name"], _rate(r["rate_a"], r["unit"]), _rate(r["rate_b"], r["unit"]),
                      "" if r["ratio"] is None else f"x{r['ratio']:.2f}")
    console.print(table)


@app.command("bench")
def bench(device: str = DEVICE,
          quick: bool = typer.Option(False, "--quick", help="Small sizes, one repeat: under a minute."),
          survey: str = typer.Option(",".join(map(str, DEFAULT_SURVEY)), "--survey",
                                     help="Survey of the projection, IL,XL,NS (default: the 8000 km² example)."),
          attributes: int = typer.Option(DEFAULT_ATTRIBUTES, "--attributes",
                                         help="Attributes N of the projection (selection: 2^N - 1 combinations)."),
          as_json: bool = JSON,
          out: Path = typer.Option(None, "--out", help="Write the report as JSON to this file."),
          overwrite: bool = OVERWRITE,
          compare: tuple[Path, Path] | None = typer.Option(None, "--compare", metavar="A.json B.json",
                                                    help="Print each stage's throughput ratio B / A of two "
                                                         "reports, and measure nothing.")) -> None:
    """Measure each per-voxel stage (store I/O, Kuwahara, GTM projection, forest prediction, attribute selection)
    on synthetic data, each beside a baseline from the same run, and project the whole workflow onto a survey.

    Ctrl-C stops it: what was measured so far is printed (and written with --out), exit 130.
    """
    if compare is not None:
        _compare(compare, as_json)
        return
    shape = int_tuple(survey, "--survey", lengths={3}, example="2900,2930,1250")
    if not 1 <= attributes <= MAX_ATTRIBUTES:
        raise FaciesError(f"--attributes must be 1..{MAX_ATTRIBUTES}, not {attributes}")
    if out is not None:
        check_out(out, overwrite=overwrite)  # before minutes of measuring, not after
    settings = BenchSettings(device=device, quick=quick, survey=shape, attributes=attributes)  # type: ignore[arg-type]
    columns = (TextColumn("[bold]bench[/] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=5)

        def on_stage(name: str, index: int, total: int) -> None:
            bar.update(task, description=name, completed=index, total=total)

        report = run_benchmark(settings, on_stage=on_stage)
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if out is not None:
        write_report(out, report, overwrite=overwrite)
        if not as_json:
            console.print(f"wrote {out}")
    if report["interrupted"] is not None:
        typer.echo(f"facies: interrupted during '{report['interrupted']}'; the stages before it are reported", err=True)
        raise typer.Exit(INTERRUPTED)
