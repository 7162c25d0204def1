"""One stage's figures: :class:`StageResult`, and the rule that says what bounds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from facies.engine.benchmark.timing import Timing

#: What limits a stage (docs/benchmark.md): the store's reads and writes, the copies between host and GPU, or
#: the arithmetic itself.
BOUNDS = ("storage", "device transfer", "compute")


def bound_of(*, reads_store: bool, rate: float, input_bytes_per_unit: float,
             transfer_bytes_per_s: float | None) -> str:
    """The simple rule of ``facies bench``'s "bound" column.

    A stage that streams the store is ``storage``-bound (its figure includes reading and writing chunks).
    An in-memory stage is ``compute``-bound, except on a GPU when feeding it its input from the host at the
    measured host-to-device bandwidth would take longer than computing it: then ``device transfer``.

    Parameters
    ----------
    reads_store : bool
    rate : float
        The stage's units (voxels, rows) per second.
    input_bytes_per_unit : float
        Bytes of input per unit (a float32 voxel of one attribute: 4).
    transfer_bytes_per_s : float or None
        Host-to-device bandwidth; None on the CPU.
    """
    if reads_store:
        return "storage"
    if transfer_bytes_per_s and rate * input_bytes_per_unit > transfer_bytes_per_s:
        return "device transfer"
    return "compute"


@dataclass
class StageResult:
    """The figures of one stage.

    Attributes
    ----------
    name : str
        Key (``store``, ``kuwahara``, ``gtm``, ``forest``, ``selection``).
    label : str
        What was measured, for people.
    device : {"cpu", "gpu"}
    unit : str
        ``voxels`` (a forest's rows are voxels) or ``fits``.
    work : int
        Units per timed call.
    timing : Timing
    baseline : str or None
        What the engine is compared with; None when no baseline runs here (``note`` says where one is).
    baseline_timing : Timing or None
    bound : str
        One of :data:`BOUNDS`.
    baseline_work : int or None
        Units per timed baseline call when they differ from ``work`` (a GPU volume too large for the
        CPU baseline).
    details : dict
        Sizes and settings of the measurement (for the projection and the JSON).
    note : str
    """

    name: str
    label: str
    device: str
    unit: str
    work: int
    timing: Timing
    baseline: str | None
    baseline_timing: Timing | None
    bound: str
    baseline_work: int | None = None
    details: dict = field(default_factory=dict)
    note: str = ""

    @property
    def rate(self) -> float:
        """Units per second of the best call."""
        return self.work / self.timing.best

    @property
    def baseline_rate(self) -> float | None:
        return None if self.baseline_timing is None else self._baseline_units / self.baseline_timing.best

    @property
    def _baseline_units(self) -> int:
        return self.work if self.baseline_work is None else self.baseline_work

    @property
    def ratio(self) -> float | None:
        """Engine over baseline throughput (above 1: the engine is faster)."""
        base = self.baseline_rate
        return None if base is None else self.rate / base

    def as_dict(self) -> dict:
        base = self.baseline_timing
        return {"name": self.name, "label": self.label, "device": self.device, "unit": self.unit, "work": self.work,
                "rate": self.rate, "rate_median": self.work / self.timing.median, "timing": self.timing.as_dict(),
                "baseline": self.baseline, "baseline_rate": self.baseline_rate,
                "baseline_rate_median": None if base is None else self._baseline_units / base.median,
                "baseline_timing": None if base is None else base.as_dict(),
                "baseline_work": self._baseline_units if base is not None else None, "ratio": self.ratio,
                "bound": self.bound, "details": self.details, "note": self.note}
