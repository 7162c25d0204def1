"""Progress bars for long work: voxels (or bytes) per second and ETA, via rich.

Bars go to stderr so ``--json`` output on stdout stays clean, and disappear when
stderr is not a terminal unless asked for (CI logs stay short).
"""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

_console = Console(stderr=True)


def human_rate(value: float, unit: str) -> str:
    """``1.2e9, "vox"`` -> ``"1.20 Gvox"`` (SI prefixes)."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


class _RateColumn(ProgressColumn):
    """Work per second in the task's unit (``fields['unit']``), over the whole run so far."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.fields.get("work_done", 0) / elapsed if elapsed > 0 else 0.0
        return Text(f"{human_rate(rate, task.fields.get('unit', 'vox'))}/s", style="progress.data.speed")


class WorkProgress:
    """A progress bar over tasks that also counts work units (voxels, bytes) for the rate.

    Parameters
    ----------
    description : str
        What is running.
    total_tasks : int
        Number of tasks (bricks, columns).
    unit : str
        Work unit shown in the rate (``"vox"``, ``"B"``).
    enabled : bool, optional
        Force the bar on or off; default: on when stderr is a terminal.
    """

    def __init__(self, description: str, total_tasks: int, unit: str = "vox", enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.unit = unit
        self.work_done = 0
        self._lock = threading.Lock()  # workers of several commands advance the bar from their threads
        self.start = time.perf_counter()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=_console, disable=not self.enabled, transient=False)
        self._task = self._progress.add_task(description, total=total_tasks, work_done=0, unit=unit)

    def __enter__(self) -> WorkProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def advance(self, tasks: int = 1, work: int = 0) -> None:
        """Count ``tasks`` finished tasks holding ``work`` units."""
        with self._lock:
            self.work_done += int(work)
            self._progress.update(self._task, advance=tasks, work_done=self.work_done)

    def skip(self, tasks: int) -> None:
        """Count tasks already done by an earlier run (no work, so the rate stays honest)."""
        self._progress.update(self._task, advance=tasks)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def summary(self) -> str:
        """One line with totals and throughput, for the end of a run."""
        rate = self.work_done / self.elapsed if self.elapsed > 0 else 0.0
        return f"{human_rate(self.work_done, self.unit)} in {self.elapsed:.1f} s ({human_rate(rate, self.unit)}/s)"
