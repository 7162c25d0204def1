"""Where figures were measured: CPU model, cores, memory, load average, package versions, GPU.

Shared by ``facies bench`` and the scripts of ``bench/`` (``bench/common.py``), so that every result
file describes its machine the same way.
"""

from __future__ import annotations

import os
import platform

from facies.engine.doctor import report


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none): a benchmark competing
    with other processes measures less than the code can do."""
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def describe_machine() -> dict:
    """``facies doctor``'s facts in the shape of ``bench/results/*.json``'s ``machine``, plus the CPU model,
    package versions, GPU memory and tier.

    Returns
    -------
    dict
        ``platform``, ``python``, ``cpus``, ``cpu_model``, ``memory_bytes``, ``numpy``, ``gpu`` (name or None),
        ``gpu_memory_bytes``, ``tier``, ``versions``, ``load_average``.
    """
    rep = report()  # probes CuPy (lazily, in engine/backend.py)
    gpu = rep["gpu"]
    return {"platform": rep["platform"], "python": rep["python"], "cpus": rep["host"]["cpus"],
            "cpu_model": cpu_model(), "memory_bytes": rep["host"]["total_bytes"],
            "numpy": rep["packages"].get("numpy"),
            "gpu": gpu.get("name") if gpu.get("available") else None,
            "gpu_memory_bytes": gpu.get("total_bytes") if gpu.get("available") else None,
            "tier": rep["tier"], "versions": {k: v for k, v in rep["packages"].items() if v},
            "load_average": load_average()}
