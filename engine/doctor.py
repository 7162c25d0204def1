"""The environment report behind ``facies doctor``."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from facies.engine import backend as _backend
from facies.engine import memory

PACKAGES = ("facies", "numpy", "scipy", "zarr", "segyio", "typer", "rich", "scikit-learn",
            "matplotlib", "xarray", "dask", "distributed", "cupy", "cuda-bindings", "nvforest")


#: Packages published under one distribution name per CUDA major version: any of them answers for the package.
CUDA_VARIANTS = {"cupy": ("cupy-cuda13x", "cupy-cuda12x"), "nvforest": ("nvforest-cu13", "nvforest-cu12")}


def _version(dist: str) -> str | None:
    """Installed version of ``dist`` (or of one of its CUDA variants, :data:`CUDA_VARIANTS`), else None."""
    for name in (dist, *CUDA_VARIANTS.get(dist, ())):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _cuda_version(code: int) -> str:
    """CUDA's integer versions (12040) as text (12.4)."""
    return f"{code // 1000}.{(code % 1000) // 10}"


def gpu_report() -> dict:
    """What the GPU path would see: name, driver and runtime versions, memory, tier."""
    if _backend.forced_cpu():
        return {"available": False, "reason": f"{_backend.ENV_DEVICE}=cpu forces the CPU", "tier": "none"}
    cupy, reason = _backend.probe_cupy()
    if cupy is None:
        return {"available": False, "reason": reason, "tier": "none"}
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    total, free = memory.gpu_memory(cupy)
    name = props["name"]
    return {
        "available": True,
        "reason": reason,
        "device_count": runtime.getDeviceCount(),
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "driver_cuda_version": _cuda_version(runtime.driverGetVersion()),
        "runtime_cuda_version": _cuda_version(runtime.runtimeGetVersion()),
        "total_bytes": total,
        "free_bytes": free,
        "tier": memory.gpu_tier(free),
        "brick_budget_bytes": memory.brick_budget(free),
    }


def report() -> dict:
    """Everything ``facies doctor`` prints, as a JSON-serialisable dict."""
    total, available = memory.host_memory()
    gpu = gpu_report()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cupy_imports": _cupy_imports(),
        "host": {"cpus": _cpu_count(), "total_bytes": total, "available_bytes": available,
                 "brick_budget_bytes": memory.brick_budget(available)},
        "gpu": gpu,
        "device": "gpu" if gpu["available"] else "cpu",
        "tier": gpu["tier"],
    }


def _cupy_imports() -> bool:
    cupy, reason = _backend.probe_cupy()
    return cupy is not None or reason.startswith("CuPy imports")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
