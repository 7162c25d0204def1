"""Forest prediction on the CPU, one tree at a time over blocks of rows (the CPU engines of ``ForestPredictor``).

scikit-learn's ``predict_proba`` applies one tree to all rows, so a tree's nodes stay in cache; nvForest's CPU
classifier walks each row through many trees at once and runs out of cache on large forests (0.3 to 0.4 times
scikit-learn's speed at 100 trees of depth 16), treelite's own predictor more so (about 0.1 times). Here the
forest is laid out for walking (:mod:`.cpu_layout`) and walked tree by tree over blocks of rows:

- ``compiled``: a small C kernel (:mod:`.cpu_native`), compiled once per machine and cached in the user's cache;
- ``numpy``: the same walk as NumPy gathers (:mod:`.cpu_numpy`), when no C compiler is at hand.

Both give scikit-learn's probabilities (the trees' leaf vectors summed in order, divided by the tree count;
measured within 1e-15) on float32 rows, as scikit-learn casts them. Blocks of rows run on ``threads``
threads (the kernel and NumPy's gathers release the GIL). docs/forest.md has the measurements.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.forest import cpu_native
from facies.engine.forest.cpu_layout import traversal_layout
from facies.engine.forest.cpu_numpy import BLOCK_ROWS as NUMPY_BLOCK_ROWS
from facies.engine.forest.cpu_numpy import NumpyWalker
from facies.engine.forest.model import ForestModel

log = logging.getLogger("facies")

#: CPU engines of this module, by preference.
CPU_ENGINES = ("compiled", "numpy")
#: Rows below which a call runs on the calling thread only (handing work to threads costs tens of microseconds).
MIN_ROWS_PER_THREAD = 2048


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the system says, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CpuForest:
    """Class probabilities of a model's trees on the CPU.

    Parameters
    ----------
    model : ForestModel
    engine : {"auto", "compiled", "numpy"}
        ``auto``: the compiled kernel when a C compiler builds it (or it is cached), else NumPy.
        ``compiled`` raises when it cannot be built.
    threads : int, optional
        Threads to use (default: the CPUs this process may run on).
    """

    def __init__(self, model: ForestModel, *, engine: str = "auto", threads: int | None = None):
        if engine not in ("auto", *CPU_ENGINES):
            raise FaciesError(f"CPU forest engine must be auto, compiled or numpy, not {engine!r}")
        if threads is not None and int(threads) < 1:
            raise FaciesError(f"threads must be at least 1, not {threads}")
        self.n_features, self.n_classes = len(model.attributes), model.n_classes
        self.layout = traversal_layout(model.forest, self.n_features)
        library = cpu_native.load_kernel() if engine in ("auto", "compiled") else None
        if library is None and engine == "compiled":
            raise FaciesError("engine compiled asked but the forest kernel cannot be compiled (the log says why); "
                              "install a C compiler (gcc or clang, or set CC) or use the numpy engine")
        self.engine = "compiled" if library is not None else "numpy"
        self._library = library
        self._arrays = cpu_native.kernel_arrays(self.layout) if library is not None else None
        self._walker = NumpyWalker(self.layout) if library is None else None
        self.threads = int(threads) if threads is not None else available_cpus()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def predict_proba(self, x) -> np.ndarray:
        """Probabilities (n, n_classes) float64 of the rows ``x`` (n, d), taken as float32 like scikit-learn."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise FaciesError(f"rows must have shape (n, {self.n_features}), not {x.shape}")
        out = np.empty((x.shape[0], self.n_classes), dtype=np.float64)
        pieces = self._pieces(x.shape[0])
        if len(pieces) <= 1:
            for start, stop in pieces:
                self._predict(x[start:stop], out[start:stop])
            return out
        for future in [self._executor().submit(self._predict, x[start:stop], out[start:stop])
                       for start, stop in pieces]:
            future.result()
        return out

    def _predict(self, x: np.ndarray, out: np.ndarray) -> None:
        if self._library is not None and self._arrays is not None:
            cpu_native.predict_rows(self._library, self._arrays, x, out)
            return
        assert self._walker is not None
        for start in range(0, x.shape[0], NUMPY_BLOCK_ROWS):
            self._walker.predict_block(x[start:start + NUMPY_BLOCK_ROWS], out[start:start + NUMPY_BLOCK_ROWS])

    def _pieces(self, n: int) -> list[tuple[int, int]]:
        """Row ranges handed to the threads: about four per thread (so that a thread slowed by another
        process does not hold up the call), whole blocks of the engine, at least MIN_ROWS_PER_THREAD rows."""
        if n == 0:
            return []
        block = cpu_native.BLOCK_ROWS if self.engine == "compiled" else NUMPY_BLOCK_ROWS
        if self.threads == 1 or n < 2 * MIN_ROWS_PER_THREAD:
            return [(0, n)]
        size = max(MIN_ROWS_PER_THREAD, -(-n // (4 * self.threads)))
        size = -(-size // block) * block
        return [(start, min(n, start + size)) for start in range(0, n, size)]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="facies-forest")
            return self._pool

    def close(self) -> None:
        """Stop the threads (they are started on the first call that uses them)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __repr__(self) -> str:
        return f"CpuForest(engine={self.engine!r}, trees={self.layout.n_trees}, threads={self.threads})"
