"""How a brick run runs: :class:`RunOptions`, built once by a command and read by the runners.

Every command that streams bricks (``facies filter mean|variance|kuwahara``, ``facies rf predict``)
shares these options. They are checked together, once, when the object is made, so a combination
that a runner would silently ignore (``--resume`` on Dask, ``--dask-gpu`` without ``--dask``) is an
error before any store is touched, whatever the command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from facies.engine.errors import FaciesError
from facies.engine.memory import DEFAULT_FRACTION


@dataclass(frozen=True)
class RunOptions:
    """The options of a brick run, local or on Dask.

    Attributes
    ----------
    device : {"auto", "cpu", "gpu"}
        Local runs only (Dask workers compute where they run).
    brick : tuple of int, optional
        Brick shape ``(IL, XL[, S])``, rounded up to whole chunks by the run; default: from the
        memory budget (or, on ``resume``, the interrupted run's). Local runs only.
    memory_fraction : float
        Share of free host (and GPU) memory the bricks may use, in (0, 1].
    resume : bool
        Continue an interrupted run with the same parameters (see
        :func:`facies.engine.bricks.outputs.resume_applies`). Local runs only.
    overwrite : bool
        Replace existing output arrays that a run computed.
    progress : bool, optional
        Show the progress bar (default: when stderr is a terminal).
    dask : str, optional
        ``"local"`` or a scheduler address: run on Dask (not resumable brick by brick).
    dask_gpu : bool
        With ``dask``: compute on CuPy chunks (dask-cuda workers).
    dask_options : mapping, optional
        ``LocalCluster`` keyword arguments for ``dask="local"``.

    Raises
    ------
    FaciesError
        ``dask_gpu`` without ``dask``; ``resume``, ``brick`` or a ``device`` other than "auto"
        with ``dask``; ``memory_fraction`` outside (0, 1]. The messages name the command-line options.
    """

    device: str = "auto"
    brick: tuple[int, ...] | None = None
    memory_fraction: float = DEFAULT_FRACTION
    resume: bool = False
    overwrite: bool = False
    progress: bool | None = None
    dask: str | None = None
    dask_gpu: bool = False
    dask_options: Mapping | None = None

    def __post_init__(self) -> None:
        if self.brick is not None:
            object.__setattr__(self, "brick", tuple(int(n) for n in self.brick))  # frozen: set once, here
        # The Dask rules first, in the order the commands have always reported them.
        if not self.dask and self.dask_gpu:
            raise FaciesError("--dask-gpu applies to Dask runs: add --dask ADDRESS (or --dask local), "
                              "or use --device gpu for a local run")
        if self.dask and (self.resume or self.brick):
            raise FaciesError("--resume and --brick apply to local runs; with --dask re-run the command instead")
        if self.dask and self.device != "auto":
            raise FaciesError(f"--device {self.device} applies to local runs; with --dask the workers compute "
                              "(add --dask-gpu for CuPy chunks on dask-cuda workers)")
        if not 0 < self.memory_fraction <= 1:
            raise FaciesError(f"--memory-fraction must be in (0, 1], not {self.memory_fraction}")
