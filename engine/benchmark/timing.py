"""How a stage is timed: wall clock on the CPU (min and median of repeats), CUDA events on a GPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds of the timed calls of one measurement.

    Attributes
    ----------
    seconds : tuple of float
        Each timed call, in order.
    clock : {"wall", "cuda-events"}
        How they were measured.
    """

    seconds: tuple[float, ...]
    clock: str = "wall"

    @property
    def best(self) -> float:
        """The shortest call: the one least disturbed by other processes."""
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict:
        return {"seconds": list(self.seconds), "min_s": self.best, "median_s": self.median, "clock": self.clock}


def time_cpu(fn: Callable[[], object], repeat: int, *, warmup: bool = False) -> Timing:
    """Wall time of ``repeat`` calls of ``fn``, after one untimed call when ``warmup``.

    The warm-up pays what only a first call pays (thread pools, page faults); ``facies bench --quick``
    skips it to stay short, the bench scripts take it.
    """
    if warmup:
        fn()
    seconds = []
    for _ in range(max(1, int(repeat))):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return Timing(tuple(seconds))


def time_gpu(fn: Callable[[], object], repeat: int, cupy) -> Timing:
    """Device time of ``repeat`` calls of ``fn`` measured with CUDA events, after one warm-up call.

    The warm-up compiles and loads the kernels; events measure the work queued on the current stream
    between them, not the host's time to queue it. ``cupy`` is passed in, so this module never imports it.
    """
    fn()
    cupy.cuda.Device().synchronize()
    seconds = []
    for _ in range(max(1, int(repeat))):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        seconds.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return Timing(tuple(seconds), clock="cuda-events")
