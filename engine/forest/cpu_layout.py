"""A forest laid out for walking many rows through one tree at a time (the CPU engines of :mod:`.cpu_predict`).

scikit-learn's arrays (:class:`~facies.engine.forest.model.Tree`) are rearranged so that one step of a walk is
the same arithmetic at every node, with no branch::

    node = child[node] + (x[row, feature[node]] > threshold[node])

- **Children side by side**: each tree's nodes are renumbered breadth first, the two children of a split
  next to each other (left at ``child``, right at ``child + 1``), each tree's nodes contiguous.
- **Leaves that hold still**: a leaf is its own child, tests feature 0 and has the threshold ``+inf``, so a row
  that has reached a leaf stays there (``x > inf`` is false for every value, NaN included). A walk therefore
  takes exactly the tree's depth in steps, whatever leaf each row ends in.
- **float32 thresholds, exact**: rows are float32 (scikit-learn casts them so too) and a stored threshold ``t``
  is a float64. For a float32 ``x``, ``x > t`` holds exactly when ``x > f``, with ``f`` the largest float32
  not above ``t`` (every float32 above ``f`` is above ``t``), so ``f`` is kept: half the bytes, the same
  decisions as scikit-learn's ``x <= t`` (a NaN goes left, as treelite's ``default_left``).
- **Leaf values** of all trees in one (leaves, classes) float64 table; ``value_row`` points a leaf at its row.

The layout is built from trees that :mod:`.model_io` has checked; :func:`check_layout` checks the result
again in NumPy (every index in range) before native code reads it, since that code trusts its indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.forest.model import LEAF, Tree

#: One node as the compiled kernel reads it (16 bytes: a node is one load). Field order is the C struct's.
NODE_DTYPE = np.dtype([("threshold", "<f4"), ("feature", "<i4"), ("child", "<i4"), ("value_row", "<i4")])


@dataclass(frozen=True, eq=False)
class TraversalLayout:
    """Every tree of a forest in walking order (see the module docstring).

    Attributes
    ----------
    threshold : ndarray (nodes,) float32
        Largest float32 not above the split's threshold; ``+inf`` at leaves.
    feature : ndarray (nodes,) int32
        Column tested; 0 at leaves.
    child : ndarray (nodes,) int32
        Index (in the whole forest) of the left child, the right one following it; the node itself at leaves.
    value_row : ndarray (nodes,) int32
        Row of :attr:`values` of a leaf; 0 at splits.
    values : ndarray (leaves, n_classes) float64
        The leaves' class probabilities, as stored.
    roots, depths : ndarray (trees,) int32
        First node and depth (steps of a walk) of each tree.
    n_features : int
    """

    threshold: np.ndarray
    feature: np.ndarray
    child: np.ndarray
    value_row: np.ndarray
    values: np.ndarray
    roots: np.ndarray
    depths: np.ndarray
    n_features: int

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    @property
    def n_classes(self) -> int:
        return int(self.values.shape[1])

    def nodes(self) -> np.ndarray:
        """The nodes as one array of :data:`NODE_DTYPE` records (the compiled kernel's input)."""
        packed = np.empty(self.threshold.size, dtype=NODE_DTYPE)
        for name in NODE_DTYPE.names or ():
            packed[name] = getattr(self, name)
        return packed


def traversal_layout(forest: tuple[Tree, ...], n_features: int) -> TraversalLayout:
    """The :class:`TraversalLayout` of checked trees (see :func:`facies.engine.forest.model_io.load_model`).

    Parameters
    ----------
    forest : tuple of Tree
    n_features : int
        Columns of the rows (the model's attributes).
    """
    parts: list[tuple[np.ndarray, ...]] = []
    roots, depths = [], []
    node_offset = leaf_offset = 0
    for tree in forest:
        order, child, depth = _breadth_first(tree)
        old_left = tree.children_left[order]
        leaf = old_left == LEAF
        threshold = np.where(leaf, np.inf, _floor_float32(tree.threshold[order]))
        feature = np.where(leaf, 0, tree.feature[order])
        # Leaves in stored order are the leaf_values rows; rank each leaf's old index among them.
        old_leaves = np.flatnonzero(tree.children_left == LEAF)
        value_row = np.zeros(order.size, dtype=np.int64)
        value_row[leaf] = leaf_offset + np.searchsorted(old_leaves, order[leaf])
        child = np.where(leaf, np.arange(order.size), child) + node_offset
        parts.append((threshold.astype(np.float32), feature, child, value_row))
        roots.append(node_offset)
        depths.append(depth)
        node_offset += order.size
        leaf_offset += old_leaves.size
    threshold, feature, child, value_row = (np.concatenate([p[k] for p in parts]) for k in range(4))
    layout = TraversalLayout(threshold=threshold, feature=feature.astype(np.int32), child=child.astype(np.int32),
                             value_row=value_row.astype(np.int32),
                             values=np.ascontiguousarray(np.concatenate([t.leaf_values for t in forest]),
                                                         dtype=np.float64),
                             roots=np.asarray(roots, dtype=np.int32), depths=np.asarray(depths, dtype=np.int32),
                             n_features=int(n_features))
    check_layout(layout)
    return layout


def _breadth_first(tree: Tree) -> tuple[np.ndarray, np.ndarray, int]:
    """New order of a tree's nodes (old index of each new position), new left-child index per new position
    (meaningless at leaves), and the depth.

    Level by level: the children of the level's splits, in the splits' order, left then right, make the next
    level, so the children of the k-th split of a level sit at ``next_level_start + 2k`` and ``+ 2k + 1``.
    """
    left, right = tree.children_left, tree.children_right
    levels, lefts = [np.zeros(1, dtype=np.int64)], []
    start = 1
    while True:
        frontier = levels[-1]
        is_split = left[frontier] != LEAF
        splits = frontier[is_split]
        first_child = np.zeros(frontier.size, dtype=np.int64)
        first_child[is_split] = start + 2 * np.arange(splits.size)
        lefts.append(first_child)
        if not splits.size:
            break
        levels.append(np.column_stack([left[splits], right[splits]]).reshape(-1))
        start += levels[-1].size
    return np.concatenate(levels), np.concatenate(lefts), len(levels) - 1


def _floor_float32(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 (-inf below float32's range, float32's max above it)."""
    with np.errstate(over="ignore"):
        nearest = threshold.astype(np.float32)
    above = nearest.astype(np.float64) > threshold
    nearest[above] = np.nextafter(nearest[above], np.float32(-np.inf))
    return nearest


def check_layout(layout: TraversalLayout) -> None:
    """Raise unless every index a walk follows is in range (memory safety of the compiled kernel).

    A defence in depth: the trees were checked on loading (:mod:`.model_io`) and the layout is built from
    them, but the compiled kernel indexes without checks, so the arrays it will actually read are checked
    here, in NumPy: features, children (a split's right child too), leaf rows, roots and depths.
    """
    n = layout.threshold.size
    same_length = all(a.shape == (n,) for a in (layout.feature, layout.child, layout.value_row))
    ok = (n > 0 and same_length and layout.roots.size > 0 and layout.roots.shape == layout.depths.shape
          and layout.values.ndim == 2 and layout.values.flags.c_contiguous)
    if ok:
        splits = layout.threshold != np.inf
        leaves = np.flatnonzero(~splits)
        ok = bool(((layout.feature >= 0) & (layout.feature < layout.n_features)).all()
                  and ((layout.child >= 0) & (layout.child < n - splits)).all()
                  and (layout.child[leaves] == leaves).all()
                  and ((layout.value_row >= 0) & (layout.value_row < layout.values.shape[0])).all()
                  and ((layout.roots >= 0) & (layout.roots < n)).all() and (layout.depths >= 0).all())
    if not ok:
        raise FaciesError("the forest's traversal layout is inconsistent (a bug in facies, please report it); "
                          "the treelite engine predicts meanwhile")
