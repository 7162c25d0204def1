"""``facies training``: training voxels from interpreter polygons (extract, show, export, import)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from facies.cli.console import console, fmt_number, print_json
from facies.cli.options import JSON, OVERWRITE, STORE, name_list
from facies.engine.errors import FaciesError
from facies.engine.store import Survey
from facies.engine.training import TrainingTable, extract_training, import_training, summarise

app = typer.Typer(help="Training voxels from interpreter polygons: extract, show, export, import.",
                  no_args_is_help=True)


def _attribute_list(attributes: str | None, use_all: bool) -> list[str] | None:
    if use_all == (attributes is not None):
        raise FaciesError("choose the attributes with --attributes A,B,... or take every one with --all (exactly one)")
    names = name_list(attributes)
    if names == []:
        raise FaciesError("no attribute chosen; pass --attributes A,B,... or --all")
    return names


def _print_summary(rep: dict) -> None:
    console.print(f"[bold]{rep['rows']}[/] training voxels from {rep['source']} "
                  f"({len(rep['attributes'])} attributes: {', '.join(rep['attributes'])})")
    facies = Table("code", "facies", "voxels", "needs", title="voxels per facies")
    for f in rep["facies"]:
        style = "" if f["enough"] else "[yellow]"
        facies.add_row(str(f["code"]), f["name"], f"{style}{f['voxels']}", str(f["needs"]))
    console.print(facies)
    polygons = Table("polygon", "facies", "slice", "rasterised", "repeated", "dead traces", "NaN", "kept",
                     title="voxels per polygon")
    for p in rep["polygons"]:  # a stored report is read as written: any key may be missing
        at = p.get("at")
        slice_ = f"{p.get('slice', '')} {at:g}" if isinstance(at, (int, float)) else str(p.get("slice", ""))
        polygons.add_row(str(p.get("label", "")), str(p.get("facies", "")), slice_.strip(),
                         *(str(p.get(k, "")) for k in ("rasterised", "repeated", "dead", "nan", "kept")))
    console.print(polygons)
    stats = Table("facies", "attribute", "mean", "std", "min", "max", title="attribute statistics per facies")
    for name, per_attr in rep["statistics"].items():
        for attr, s in per_attr.items():
            stats.add_row(name, attr, *(fmt_number(s[k]) for k in ("mean", "std", "min", "max")))
    console.print(stats)
    for w in rep["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


@app.command("extract")
def extract(store: Path = STORE,
            polygons: Path = typer.Argument(..., help="Polygon file (.json or .csv), in survey units."),
            attributes: str | None = typer.Option(None, "--attributes", "-a", help="Comma-separated attribute names."),
            use_all: bool = typer.Option(False, "--all", help="Use every attribute volume of the survey."),
            name: str = typer.Option("picks", "--name", help="Name of the training table in the store."),
            overwrite: bool = OVERWRITE) -> None:
    """Rasterise the polygons, read the attributes there and store the table as training/NAME."""
    table = extract_training(Survey.open(store), polygons, _attribute_list(attributes, use_all), name,
                             overwrite=overwrite)
    console.print(f"stored training/{name} in {store}")
    _print_summary(summarise(table))


@app.command("show")
def show(store: Path = STORE,
         name: str = typer.Option("picks", "--name", help="Name of the training table."),
         as_json: bool = JSON) -> None:
    """Voxels per facies and per polygon, and attribute mean/std/min/max per facies."""
    rep = summarise(TrainingTable.load(Survey.open(store, mode="r"), name))
    if as_json:
        print_json(rep)
    else:
        _print_summary(rep)


@app.command("export")
def export(store: Path = STORE,
           out: Path = typer.Argument(..., help="CSV file to write."),
           name: str = typer.Option("picks", "--name", help="Name of the training table."),
           overwrite: bool = typer.Option(False, "--overwrite", help="Replace the CSV file if it exists.")) -> None:
    """Write the table as CSV: facies,inline,crossline,time|depth,<attribute>..."""
    table = TrainingTable.load(Survey.open(store, mode="r"), name)
    table.to_csv(out, overwrite=overwrite)
    console.print(f"wrote {len(table)} rows to {out}")


@app.command("import")
def import_(store: Path = STORE,
            csv_path: Path = typer.Argument(..., help="CSV file: facies,inline,crossline,time|depth,<attribute>..."),
            name: str = typer.Option("picks", "--name", help="Name of the training table in the store."),
            facies: str | None = typer.Option(None, "--facies",
                                              help="Facies names in code order (default: order of first appearance)."),
            overwrite: bool = OVERWRITE) -> None:
    """Store a table made elsewhere, after checking its values, attributes and positions against the survey.

    Refused, naming the CSV line: a file that is not UTF-8, an empty facies name, a value that is NaN, infinite or
    out of range, a position off the grid, and a voxel given twice (with one facies or two).
    """
    order = name_list(facies) or None
    table = import_training(Survey.open(store), csv_path, name, facies_names=order, overwrite=overwrite)
    console.print(f"stored training/{name} ({len(table)} rows) in {store}")
    _print_summary(summarise(table))
