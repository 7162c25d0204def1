"""One entry point for the commands that stream bricks: :func:`run_operators`, here or on Dask.

The runners do not know of each other: the local one (:mod:`.run`) and the Dask one
(:mod:`.dask_runner`) share only the output bookkeeping (:mod:`.outputs`) and the result
(:mod:`.result`). :class:`~facies.engine.bricks.options.RunOptions` has already refused the option
combinations one runner would ignore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from facies.engine.bricks.operator import Operator
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunResult
from facies.engine.bricks.run import run_bricks


def run_operators(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None,
                  options: RunOptions | None = None, *, command: str,
                  kind: str | Mapping[str, str] = "result") -> RunResult:
    """Run ``operators`` over ``survey`` here (:func:`~facies.engine.bricks.run.run_bricks`) or, when
    ``options.dask`` names a cluster, on Dask (:func:`~facies.engine.bricks.dask_runner.run_dask`).

    Parameters
    ----------
    survey : Survey
    operators : sequence of Operator
    outputs : mapping of str to str, optional
        Operator output -> store array name; default: the final outputs under their own names.
    options : RunOptions, optional
        Default: ``RunOptions()`` (a local run).
    command : str
        For provenance (e.g. ``"facies filter mean"``).
    kind : str
        Kind of the output arrays in the store.

    Returns
    -------
    RunResult
    """
    options = options or RunOptions()
    if not options.dask:
        return run_bricks(survey, operators, outputs, options, command=command, kind=kind)
    from facies.engine.bricks.dask_runner import run_dask  # noqa: PLC0415 - Dask only when asked

    return run_dask(survey, operators, outputs, options, command=command, kind=kind)
