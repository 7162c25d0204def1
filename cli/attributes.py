"""``facies attributes``: seismic attributes of an amplitude volume, streamed brick by brick (docs/attributes.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from facies.cli.console import console
from facies.cli.options import BRICK, DASK, DASK_GPU, DEVICE, MEMORY_FRACTION, OVERWRITE, RESUME, run_options
from facies.cli.runs import exit_130_when_interrupted
from facies.engine.attributes.parameters import parse_assignments
from facies.engine.attributes.registry import all_specs
from facies.engine.attributes.workflow import compute_attributes, halo_of, physical, plan_attributes, survey_sampling
from facies.engine.errors import FaciesError
from facies.engine.store import Survey

app = typer.Typer()


def _list_attributes() -> None:
    """Print every attribute: name, family, definition, parameters with defaults and units, halo."""
    table = Table(title="Attributes (facies attributes STORE --from amplitude -a NAME)", show_lines=True)
    for column in ("name", "family", "definition", "parameters (default, unit)", "halo (il, xl, samples)"):
        table.add_column(column, overflow="fold")
    for spec in all_specs().values():
        params = "\n".join(f"{p.name} = {_text(p.default)}" + (f" ({p.unit})" if p.unit else "") + (
            f": {p.help}" if p.help else "") for p in spec.parameters)
        table.add_row(spec.name, spec.family, f"{spec.definition}\n[dim]{spec.reference}[/dim]", params or "-",
                      halo_of(spec))
    console.print(table)


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@app.command("attributes")
def attributes(
        store: Path | None = typer.Argument(None, help="Survey store (a .zarr folder)."),
        source: str = typer.Option("amplitude", "--from", help="The volume the attributes are computed from."),
        names: list[str] | None = typer.Option(None, "--attribute", "-a", help="Attribute to compute (repeatable)."),
        all_: bool = typer.Option(False, "--all", help="Compute every attribute (see --list)."),
        window: str | None = typer.Option(None, "--window", help="The window of every requested attribute that has "
                                          "one: N or IL,XL,S (traces, traces, samples)."),
        param: list[str] | None = typer.Option(None, "--param", "-p", help="ATTRIBUTE.PARAMETER=VALUE (repeatable), "
                                               "e.g. -p semblance.window=3,3,9."),
        suffix: str = typer.Option("", "--suffix", help="Output name = attribute name + SUFFIX."),
        list_: bool = typer.Option(False, "--list", help="List the attributes, their definitions, parameters and "
                                   "halos, and exit."),
        device: str = DEVICE, brick: str | None = BRICK, memory_fraction: float = MEMORY_FRACTION,
        resume: bool = RESUME, overwrite: bool = OVERWRITE, dask: str | None = DASK, dask_gpu: bool = DASK_GPU,
) -> None:
    """Seismic attributes of an amplitude volume (complex trace, RMS, spectral, dip, coherence, GLCM texture),
    each into its own array, in one resumable brick run."""
    if list_:
        _list_attributes()
        return
    if store is None:
        raise FaciesError("no store: facies attributes STORE --from amplitude -a NAME (or --list)")
    if all_ and names:
        raise FaciesError("give either -a NAME (repeatable) or --all, not both")
    if not all_ and not names:
        raise FaciesError("no attribute: pass -a NAME (repeatable) or --all (facies attributes --list shows them)")
    options = run_options(device=device, brick=brick, memory_fraction=memory_fraction, resume=resume,
                          overwrite=overwrite, dask=dask, dask_gpu=dask_gpu)
    survey = Survey.open(store, mode="r+")
    parameters = parse_assignments(param)
    requested = "all" if all_ else list(names or [])
    sampling = survey_sampling(survey)
    plan = plan_attributes(survey, source, requested, parameters=parameters, window=window, suffix=suffix,
                           sampling=sampling)
    left_out = [name for name in all_specs() if all_ and name not in {p.spec.name for p in plan}]
    if left_out:
        console.print(f"left out on this {sampling.sample_unit} axis (they need a time axis): {', '.join(left_out)}")
    for planned in plan:
        described = []
        for p in planned.spec.parameters:
            value = planned.parameters[p.name]
            extra = physical(value, p.unit, sampling)
            described.append(f"{p.name}={_text(value)}" + (f" ({extra})" if extra else ""))
        console.print(f"{planned.output}: {planned.spec.definition}" + (f"; {', '.join(described)}" if described
                                                                          else ""))
    with exit_130_when_interrupted():
        result = compute_attributes(survey, source, requested, parameters=parameters, window=window, suffix=suffix,
                                    options=options)
    console.print(result.summary)
