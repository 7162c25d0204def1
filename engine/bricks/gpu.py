"""The GPU side of the pipeline: one CUDA stream per compute lane, pinned host buffers, OOM.

CuPy is imported only by the callers that run on the GPU (never at import time). Each compute
lane owns a non-blocking stream: while one lane computes, another copies its next brick in,
so host-to-device copies, kernels and device-to-host copies of different bricks overlap.
Copies go through page-locked (pinned) host buffers from CuPy's pinned memory pool, which is
what lets ``ndarray.set``/``get`` run asynchronously on a stream; freed buffers return to the pool.
"""

from __future__ import annotations

import sys

import numpy as np


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure worth retrying with a smaller brick.

    Host ``MemoryError`` and CuPy's ``OutOfMemoryError``, plus CUDA runtime errors with status
    ``cudaErrorMemoryAllocation`` (2) that libraries such as cuBLAS raise instead.
    """
    if isinstance(exc, MemoryError):
        return True
    cupy = sys.modules.get("cupy")  # if CuPy was never imported, no CuPy error can occur
    if cupy is None:
        return False
    if isinstance(exc, cupy.cuda.memory.OutOfMemoryError):
        return True
    return isinstance(exc, cupy.cuda.runtime.CUDARuntimeError) and getattr(exc, "status", None) == 2


def release_memory() -> None:
    """Return CuPy's cached device blocks to the driver after an out-of-memory."""
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()


def pinned_empty(cupy, shape, dtype) -> np.ndarray:
    """A NumPy array in page-locked host memory (from CuPy's pinned memory pool)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    memory = cupy.cuda.alloc_pinned_memory(max(1, count * dtype.itemsize))
    # frombuffer keeps ``memory`` alive for as long as the array lives.
    return np.frombuffer(memory, dtype, count).reshape(shape)


class DeviceLane:
    """A compute lane on the GPU: its stream, its copies and its busy time.

    Parameters
    ----------
    cupy : module
        The imported CuPy.
    """

    def __init__(self, cupy):
        self.cupy = cupy
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.busy_seconds = 0.0  # kernel time between events, for the GPU busy share
        self._keep = []          # pinned buffers in use by queued async copies
        self._events = None      # (start, end) of the last run, until synchronize accounts it

    def to_device(self, host: np.ndarray):
        """Queue a copy of ``host`` to the device on this lane's stream."""
        pinned = pinned_empty(self.cupy, host.shape, host.dtype)
        np.copyto(pinned, host)
        device = self.cupy.empty(host.shape, host.dtype)
        device.set(pinned, stream=self.stream)
        self._keep.append(pinned)  # must outlive the asynchronous copy
        return device

    def to_host(self, device) -> np.ndarray:
        """Queue a copy of ``device`` into a pinned host array (valid after :meth:`synchronize`)."""
        pinned = pinned_empty(self.cupy, device.shape, device.dtype)
        device.get(stream=self.stream, out=pinned, blocking=False)
        return pinned

    def run(self, fn, *args):
        """Call ``fn(*args)`` with this lane's stream current, timing it with CUDA events."""
        start, end = self.cupy.cuda.Event(), self.cupy.cuda.Event()
        with self.stream:
            start.record(self.stream)
            result = fn(*args)
            end.record(self.stream)
        self._events = (start, end)
        return result

    def synchronize(self) -> None:
        """Wait for this lane's queued work; account its kernel time; free staging buffers."""
        self.stream.synchronize()
        if self._events is not None:
            self.busy_seconds += self.cupy.cuda.get_elapsed_time(*self._events) / 1000.0
            self._events = None
        self._keep.clear()
