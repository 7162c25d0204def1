"""Choosing the compute backend: NumPy on the CPU or CuPy on a GPU.

``device="auto"`` picks the GPU when CuPy imports and a device answers, otherwise NumPy,
and logs one line saying why. ``FACIES_DEVICE=cpu`` forces the CPU (tests, broken drivers).
CuPy is imported only here and only on the GPU path, so ``import facies.engine`` works on a
machine with no CUDA at all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np

from facies.engine.errors import FaciesError
from facies.kernels.array_module import array_module  # noqa: F401 - re-exported for existing callers

log = logging.getLogger("facies")

DEVICES = ("auto", "cpu", "gpu")
ENV_DEVICE = "FACIES_DEVICE"


@dataclass(frozen=True)
class Backend:
    """The array module to compute with, and why it was chosen.

    Attributes
    ----------
    name : {"cpu", "gpu"}
    xp : module
        ``numpy`` or ``cupy``.
    reason : str
        One line for the log: why this backend.
    """

    name: str
    xp: ModuleType
    reason: str

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    def to_device(self, array: np.ndarray):
        """Copy a host array to the backend (a no-op on the CPU)."""
        return self.xp.asarray(array) if self.is_gpu else array

    def to_host(self, array) -> np.ndarray:
        """Copy a backend array to host memory (a no-op on the CPU)."""
        return self.xp.asnumpy(array) if self.is_gpu else np.asarray(array)


@lru_cache(maxsize=1)
def probe_cupy() -> tuple[ModuleType | None, str]:
    """Import CuPy and ask for a device; return (module or None, reason)."""
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return None, f"CuPy does not import ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CuPy and the CUDA runtime raise several types
        return None, f"CuPy imports but no CUDA device answers ({type(exc).__name__})"
    if n < 1:
        return None, "CuPy imports but sees no CUDA device"
    return cupy, f"CUDA device 0 of {n} answers"


def forced_cpu() -> bool:
    """Whether ``FACIES_DEVICE=cpu`` is set."""
    return os.environ.get(ENV_DEVICE, "").strip().lower() == "cpu"


def get_backend(device: str = "auto") -> Backend:
    """Resolve ``device`` to a backend.

    Parameters
    ----------
    device : {"auto", "cpu", "gpu"}
        ``auto`` prefers the GPU; ``gpu`` fails with a clear error when none answers.

    Returns
    -------
    Backend
    """
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise FaciesError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    env = os.environ.get(ENV_DEVICE, "").strip().lower()
    if env and env not in DEVICES:
        raise FaciesError(f"{ENV_DEVICE}={env!r} is not one of {', '.join(DEVICES)}; unset it or fix it")
    if device == "auto" and env in ("cpu", "gpu"):
        device = env
    if device == "cpu":
        why = f"{ENV_DEVICE}=cpu" if env == "cpu" else "asked for the CPU"
        backend = Backend("cpu", np, f"NumPy on the CPU ({why})")
    elif forced_cpu():
        raise FaciesError(f"--device gpu was asked but {ENV_DEVICE}=cpu forces the CPU; "
                          f"unset {ENV_DEVICE} or use --device cpu")
    else:
        cupy, reason = probe_cupy()
        if cupy is not None:
            backend = Backend("gpu", cupy, f"CuPy on the GPU ({reason})")
        elif device == "gpu":
            raise FaciesError(f"--device gpu was asked but {reason}; run 'facies doctor' or use --device cpu")
        else:
            backend = Backend("cpu", np, f"NumPy on the CPU ({reason})")
    log.info("backend: %s", backend.reason)
    return backend

