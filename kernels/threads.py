"""Running a NumPy backend's independent pieces of work (tiles, slabs) on a thread pool.

The NumPy kernels split a volume into pieces of bounded size and compute each into its own part of the
output; NumPy releases the GIL in its loops, so threads share the work. Every piece is computed the same
way whichever thread runs it, so results do not depend on the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def default_workers(workers: int | None = None) -> int:
    """``workers``, or the CPU count (at most 8) when None: more threads than that only wait on memory."""
    return int(workers) if workers else min(os.cpu_count() or 1, 8)


def run_pieces(run: Callable[[Any], object], pieces: Iterable[Any], workers: int | None = None) -> None:
    """Call ``run(piece)`` for every piece: in this thread when there is one worker or one piece, else on a pool
    of ``workers`` threads (:func:`default_workers`). An exception in any piece is raised here."""
    pieces = list(pieces)
    workers = default_workers(workers)
    if workers == 1 or len(pieces) <= 1:
        for piece in pieces:
            run(piece)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, pieces))
