"""Provenance records: what made an array, from what, with which parameters, and when."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _jsonable(value: Any) -> Any:
    """Convert NumPy scalars, tuples and paths to plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def make_provenance(command: str, parameters: Mapping[str, Any] | None = None,
                    inputs: Sequence[str] = ()) -> dict:
    """Build the provenance record stored with every array.

    Parameters
    ----------
    command : str
        What made the array, e.g. ``"facies ingest"`` or ``"facies.engine.synth.make_synthetic"``.
    parameters : mapping, optional
        The parameters that determine its values.
    inputs : sequence of str
        Source arrays or files.

    Returns
    -------
    dict
        JSON-serialisable record with the time (UTC) and the package version.
    """
    from facies.engine import __version__  # noqa: PLC0415 - import cycle: the package imports store, which imports this

    return {
        "command": command,
        "parameters": _jsonable(dict(parameters or {})),
        "inputs": [str(i) for i in inputs],
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "facies_version": __version__,
        "python": sys.version.split()[0],
        "host": platform.node(),
    }


def jsonable(value: Any) -> Any:
    """Public alias of the JSON conversion used for provenance and run parameters."""
    return _jsonable(value)
