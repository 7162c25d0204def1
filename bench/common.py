"""Helpers every benchmark script shares: timing, a description of the machine, writing results.

The scripts run as ``python bench/<script>.py``, so this folder is on ``sys.path`` and they
import ``from common import ...``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from facies.engine.provenance import jsonable


def best_time(fn, repeat: int, warmup: bool = True) -> float:
    """Shortest wall time of ``repeat`` calls of ``fn`` in seconds, after one untimed call when ``warmup``.

    The warm-up call takes what only the first call pays (thread pools, page faults, kernel
    compilation); the minimum is the run least disturbed by other processes.
    """
    if warmup:
        fn()
    times = []
    for _ in range(max(1, int(repeat))):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> dict:
    """Where the numbers were measured: ``facies doctor``'s fields and the load average now.

    The load average matters on shared machines: a benchmark competing with other processes
    measures less than the code can do.
    """
    from facies.engine.doctor import report  # noqa: PLC0415 - probes CuPy; only when a result is written

    r = report()
    gpu = r["gpu"]
    return {"platform": r["platform"], "python": r["python"], "cpus": r["host"]["cpus"],
            "memory_bytes": r["host"]["total_bytes"], "numpy": r["packages"].get("numpy"),
            "gpu": gpu.get("name") if gpu.get("available") else None, "load_average": list(os.getloadavg())}


def write_result(path, obj) -> Path:
    """Write ``obj`` as indented JSON (NumPy values converted) to ``path``, creating its folder; print where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=2))
    print(f"wrote {path}")
    return path
