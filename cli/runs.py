"""What every brick-run command does the same way: Ctrl-C exits 130 with the resume hint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from facies.engine.bricks.result import RunInterrupted

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


@contextmanager
def exit_130_when_interrupted() -> Iterator[None]:
    """Turn :class:`~facies.engine.bricks.result.RunInterrupted` into its message on stderr and exit 130.

    The message says how many bricks are recorded and to run again with ``--resume``; without
    this, the app would print it as an ordinary error and exit 2.
    """
    try:
        yield
    except RunInterrupted as exc:
        typer.echo(f"facies: {exc}", err=True)
        raise typer.Exit(INTERRUPTED) from None
