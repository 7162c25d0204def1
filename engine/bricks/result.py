"""What a brick run reports back, local or on Dask: :class:`RunResult`, and :class:`RunInterrupted`.

Both runners return the same result and time the run once, themselves: callers read the elapsed
time and the rate from it rather than timing the call again.
"""

from __future__ import annotations

from dataclasses import dataclass

from facies.engine.bricks.scheduler import SchedulerStats
from facies.engine.errors import FaciesError


class RunInterrupted(FaciesError):
    """Ctrl-C stopped a run cleanly; the message says how to resume it."""


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    outputs : dict of str to str
        Operator output -> store array.
    brick : tuple of int
        Brick shape (Dask runs: the store's chunks).
    device : str
        ``cpu``, ``gpu``, ``dask`` or ``dask-gpu``.
    bricks_total, bricks_skipped : int
        Bricks of the run, and those an earlier, interrupted run had already written.
    stats : SchedulerStats
        ``stats.voxels``: the survey voxels this call computed (skipped bricks not included).
    seconds : float
        Wall time of the whole run, checks and set-up included, as the runner measured it.
    summary : str
        The final line for people.
    already_complete : bool
        ``resume`` found every output finished with the same parameters: nothing was computed.
    """

    outputs: dict[str, str]
    brick: tuple[int, ...]
    device: str
    bricks_total: int
    bricks_skipped: int
    stats: SchedulerStats
    seconds: float
    summary: str
    already_complete: bool = False

    @property
    def rate(self) -> float:
        """Survey voxels computed per second of :attr:`seconds` (0 when no time passed)."""
        return self.stats.voxels / self.seconds if self.seconds > 0 else 0.0
