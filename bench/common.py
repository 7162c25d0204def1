"""Helpers every benchmark script shares: timing, a description of the machine, writing results.

The scripts run as ``python bench/<script>.py``, so this folder is on ``sys.path`` and they
import ``from common import ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

from facies.engine.benchmark.timing import time_cpu
from facies.engine.provenance import jsonable


def best_time(fn, repeat: int, warmup: bool = True) -> float:
    """Shortest wall time of ``repeat`` calls of ``fn`` in seconds, after one untimed call when ``warmup``.

    The warm-up call takes what only the first call pays (thread pools, page faults, kernel
    compilation); the minimum is the run least disturbed by other processes.
    """
    return time_cpu(fn, repeat, warmup=warmup).best


def machine() -> dict:
    """Where the numbers were measured: ``facies doctor``'s fields, the CPU model and the load average now
    (the same description as ``facies bench``'s reports).

    The load average matters on shared machines: a benchmark competing with other processes
    measures less than the code can do.
    """
    from facies.engine.benchmark.machine import describe_machine  # noqa: PLC0415 - probes CuPy; only when needed

    return describe_machine()


def write_result(path, obj) -> Path:
    """Write ``obj`` as indented JSON (NumPy values converted) to ``path``, creating its folder; print where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=2))
    print(f"wrote {path}")
    return path
