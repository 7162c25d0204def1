"""Memory budgets: how much host and GPU memory a run may use, and the GPU tier.

Like photo editors that scale their tiles to VRAM, facies sizes its bricks from free memory
rather than a constant. The tiers reported by ``facies doctor``:

- ``none``: no GPU answers; bricks are sized from host memory and computed with NumPy.
- ``limited``: a GPU answers but its free memory is below :data:`FULL_TIER_BYTES`; bricks are
  smaller than a full column of chunks across all attributes and the run streams more often.
- ``full``: free GPU memory holds full-height bricks of several chunk columns for every attribute.
"""

from __future__ import annotations

import os

#: Share of free memory a run may use by default (the rest is left to the OS, the driver and Zarr's codecs).
DEFAULT_FRACTION = 0.5
#: Free GPU memory from which the tier is "full": a 512 x 512 x 1250 brick of nine float32
#: attributes with inputs, outputs and scratch (x 3) needs about 35 GB; half of that is 16 GiB.
FULL_TIER_BYTES = 16 * 2**30


def host_memory() -> tuple[int, int]:
    """(total, available) host memory in bytes, from /proc/meminfo where it exists."""
    try:
        fields = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0]) * 1024
        return fields["MemTotal"], fields.get("MemAvailable", fields["MemFree"])
    except (OSError, KeyError, ValueError):
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return pages * size, os.sysconf("SC_AVPHYS_PAGES") * size


def gpu_memory(cupy) -> tuple[int, int]:
    """(total, free) memory of the current GPU in bytes."""
    free, total = cupy.cuda.runtime.memGetInfo()
    return int(total), int(free)


def gpu_tier(free_bytes: int | None) -> str:
    """The tier for ``free_bytes`` of free GPU memory (None: no GPU)."""
    if free_bytes is None:
        return "none"
    return "full" if free_bytes >= FULL_TIER_BYTES else "limited"


def brick_budget(free_bytes: int, fraction: float = DEFAULT_FRACTION) -> int:
    """Bytes a run may hold in bricks: ``fraction`` of ``free_bytes``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"memory fraction must be in (0, 1], not {fraction}")
    return int(free_bytes * fraction)
