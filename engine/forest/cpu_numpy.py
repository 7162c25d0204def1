"""Class probabilities of a :class:`~facies.engine.forest.cpu_layout.TraversalLayout`, walked in NumPy.

The engine of the CPU when no C compiler is at hand (:mod:`.cpu_predict`). One tree at a time over a block of
rows, level by level: each step is a handful of gathers over the block (``feature``, the rows' values,
``threshold``, ``child``), exactly ``depth`` steps per tree (leaves hold still). A block's working set (its
rows and node indices) stays in cache while the trees pass over it; NumPy releases the GIL in these
gathers, so blocks run on threads.
"""

from __future__ import annotations

import numpy as np

from facies.engine.forest.cpu_layout import TraversalLayout

#: Rows per block: large enough that NumPy's per-call overhead is small against the work of a call,
#: small enough that a block's arrays stay in a core's cache.
BLOCK_ROWS = 8192


class NumpyWalker:
    """Walks blocks of rows through a layout's trees (indices widened once to NumPy's ``intp``)."""

    def __init__(self, layout: TraversalLayout):
        self.layout = layout
        self.feature = layout.feature.astype(np.intp)
        self.child = layout.child.astype(np.intp)
        self.value_row = layout.value_row.astype(np.intp)

    def predict_block(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write the probabilities of rows ``x`` (m, d) float32, C-contiguous, into ``out`` (m, n_classes) float64.

        Trees are summed in order and the sum divided by their number, as scikit-learn's ``predict_proba`` does.
        """
        layout = self.layout
        m, d = x.shape
        flat = x.reshape(-1)
        row_start = np.arange(m, dtype=np.intp) * d
        node, following, step = (np.empty(m, dtype=np.intp) for _ in range(3))
        value, threshold = np.empty(m, dtype=np.float32), np.empty(m, dtype=np.float32)
        right = np.empty(m, dtype=bool)
        out[:] = 0
        # mode="clip" skips NumPy's bounds checks (and the buffering they imply): check_layout has checked
        # every index the walk can reach.
        for root, depth in zip(layout.roots.tolist(), layout.depths.tolist()):
            node.fill(root)
            for _ in range(depth):
                np.take(self.feature, node, out=step, mode="clip")
                step += row_start
                np.take(flat, step, out=value, mode="clip")
                np.take(layout.threshold, node, out=threshold, mode="clip")
                np.greater(value, threshold, out=right)
                np.take(self.child, node, out=following, mode="clip")
                np.add(following, right, out=node)
            out += np.take(layout.values, np.take(self.value_row, node, mode="clip"), axis=0, mode="clip")
        out /= layout.n_trees
