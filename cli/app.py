"""The ``facies`` command: one Typer app, one module per command group.

Each command parses its options, calls one engine function and prints. Errors the user can
fix (:class:`~facies.engine.errors.FaciesError`) print as one line, ``error: ...``, on stderr
with exit code 2, both from the console script and under Typer's ``CliRunner``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import NoReturn

import typer
from typer.core import TyperGroup

from facies.cli import apply, attributes, bench, doctor, gtm, info, report, rf, run, segy, synth, training, verify
from facies.cli import filter as filter_cli
from facies.cli import select as select_cmd
from facies.engine.errors import FaciesError
from facies.engine.oserrors import describe_os_error

try:  # typer >= 0.20 carries its own copy of click, whose exceptions its commands raise
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import UsageError
#: "facies" (or a group) without arguments shows its help: a UsageError subclass to let through.
_SHOWS_HELP = tuple(cls for cls in UsageError.__subclasses__() if cls.__name__ == "NoArgsIsHelpError")

#: Exit status of a user error (bad input, missing array...): distinct from crashes (1).
USER_ERROR = 2


class _FaciesGroup(TyperGroup):
    """Prints a FaciesError, OSError or MemoryError from any command or sub-command, and a mistyped
    option or argument, as one line and exits with USER_ERROR."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except _SHOWS_HELP:
            raise  # "facies" alone shows the help
        except UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _SHOWS_HELP:
            raise
        except UsageError as exc:  # raised while a sub-command parses its options
            _usage_error(exc)
        except FaciesError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(USER_ERROR) from None
        except (OSError, MemoryError) as exc:  # a permission, a full disk, a long name: the user's to fix
            typer.echo(f"error: {describe_os_error(exc)}", err=True)
            raise typer.Exit(USER_ERROR) from None


def _usage_error(exc: UsageError) -> NoReturn:
    """Print a usage error (unknown option, bad value, missing argument) as one line; exit USER_ERROR."""
    command = exc.ctx.command_path if exc.ctx is not None else "facies"
    message = " ".join(exc.format_message().split())
    typer.echo(f"error: {message} (see '{command} --help')", err=True)
    raise typer.Exit(USER_ERROR) from None


app = typer.Typer(
    name="facies",
    cls=_FaciesGroup,
    help="Seismic facies analysis on whole 3D surveys, on a GPU or with NumPy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v",
                                        help="Log what the engine decides (device, brick sizes).")) -> None:
    logging.basicConfig(format="facies: %(message)s", stream=sys.stderr)
    logging.getLogger("facies").setLevel(logging.INFO if verbose else logging.WARNING)
    # When a chunk read fails (a damaged chunk), Zarr's other reads of the same call are cancelled and
    # asyncio reports each as "Task was destroyed but it is pending!": noise after the one-line error.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    # Dask's scheduler, nanny and workers log their life at INFO through the root logger set up above:
    # thirty lines around every --dask local run. Shown with -v only.
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


# One way to register commands: every module of cli/ declares its commands on its own Typer app with
# @app.command; a module of top-level commands is merged in (no name), a command group gets its name.
for module in (doctor, info, verify, synth, segy, attributes, apply, run, report, bench):
    app.add_typer(module.app)
app.add_typer(filter_cli.app, name="filter")
app.add_typer(training.app, name="training")
app.add_typer(select_cmd.app)
app.add_typer(rf.app, name="rf")
app.add_typer(gtm.app, name="gtm")


def main() -> None:
    """Entry point of the ``facies`` console script."""
    # A damaged chunk stops a read while Zarr has other chunk reads queued; Python then reports each
    # as "coroutine ... was never awaited" at exit, two lines of noise after the one-line error.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    app()


if __name__ == "__main__":  # python -m facies.cli.app, as bench/gpu_check.sh runs it
    main()
