"""The brick streaming engine: plan chunk-aligned bricks, run operator chains on them, resumably.

- :mod:`.plan`: bricks, halos, regions, sizes from a memory budget, OOM splits.
- :mod:`.operator`: the :class:`Operator` interface, boundary rules, :class:`Chain`.
- :mod:`.scheduler`: the local pipeline (read threads, compute lanes, write threads).
- :mod:`.gpu`: CUDA streams, pinned host buffers, out-of-memory detection (CuPy, lazily).
- :mod:`.options`: :class:`RunOptions`, how a run runs (device, brick, resume, Dask...), checked once.
- :mod:`.outputs`: what both runners do to their output arrays: checks, states, locks, creation.
- :mod:`.result`: :class:`RunResult` (with the run's time) and :class:`RunInterrupted`.
- :mod:`.run`: :func:`run_bricks`, the resumable local runner over a survey store.
- :mod:`.dask_runner`: the same operators on a Dask cluster.
- :mod:`.dispatch`: :func:`run_operators`, a local or a Dask run as the options ask.

See docs/engine.md.
"""

from facies.engine.bricks.operator import BOUNDARIES, Chain, Operator, Output
from facies.engine.bricks.plan import Brick, BrickPlan

__all__ = ["BOUNDARIES", "Brick", "BrickPlan", "Chain", "Operator", "Output"]
