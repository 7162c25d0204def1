"""A trained forest as facies keeps it: the trees as plain arrays, plus what prediction must know.

Each tree is scikit-learn's array layout (:class:`Tree`): child indices, split feature and
threshold per node, class probabilities per leaf. In the store the trees are a JSON document
(:meth:`ForestModel.document`), which :mod:`.model_io` checks in pure NumPy before anything
native sees it; only then are they handed to treelite's model builder
(:meth:`ForestModel.treelite_model`), for treelite's own predictor or for nvForest. Never a
pickle, and no native checkpoint: a model file is untrusted input, and treelite's binary reader
can crash the process on crafted bytes. The metadata says which attributes feed which feature
column, how to normalise them, which facies code each class index stands for, and how the
forest was chosen (cross-validation results).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from facies.engine.errors import FaciesError

#: Marker stored with every model: a ``models/<name>`` array without it is not one of ours.
FORMAT = "facies-random-forest"
#: 1: a raw treelite checkpoint (refused: its bytes cannot be checked safely); 2: the trees as JSON.
FORMAT_VERSION = 2

#: Upper bounds of ``rf train --trees`` and ``--max-depth``, also enforced when a model is read.
#: 10 000 trees is far past where a forest's accuracy stops improving; a depth of 64 is past what
#: any training table of a survey reaches (a tree grown to purity on n voxels is rarely deeper
#: than a few times log2(n)) while keeping 2**(depth + 1) node bounds meaningful.
MAX_TREES = 10_000
MAX_DEPTH = 64
#: Node bounds of a stored forest, per tree and in all: a tree grown to purity on n voxels has at
#: most 2n - 1 nodes, so 2**24 allows 8 million training voxels per tree; the total keeps the
#: JSON document (tens of bytes a node) and its parsed lists within a workstation's memory.
MAX_TREE_NODES = 2**24
MAX_TOTAL_NODES = 2**27

#: Bounds of a stored normalisation: standard deviations in MIN_STD..MAX_NORMALISATION, means within
#: +-MAX_NORMALISATION. Dividing float32 attribute values by a smaller std (a crafted 1e-45) would
#: overflow to infinity; no attribute of a survey has a spread below 1e-20 or values beyond 1e30.
MIN_STD = 1e-20
MAX_NORMALISATION = 1e30

#: Child and feature index of a leaf (scikit-learn's ``TREE_LEAF``).
LEAF = -1


@dataclass(frozen=True)
class Normalisation:
    """Per-attribute z-score: ``(x - mean) / std``, in float32 on every backend.

    The arithmetic is done in float32 with the same two correctly rounded IEEE operations
    (subtract, divide) on NumPy and CuPy, so training and prediction see identical values.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalisation:
        """Mean and standard deviation per column (float64 sums); a constant column gets std 1.

        The same statistics as attribute selection's (:func:`facies.engine.selection.data.standardisation`),
        except that a column whose float32 std is below :data:`MIN_STD` counts as constant too (std 1),
        so that every fitted normalisation is one a stored model may hold.
        """
        from facies.engine.selection.data import standardisation  # noqa: PLC0415 - selection loads only here

        mean, std = standardisation([np.asarray(x)])
        std = std.astype(np.float32)
        return cls(mean.astype(np.float32), np.where(std.astype(np.float64) >= MIN_STD, std, np.float32(1)))

    def apply(self, x, xp=np):
        """Normalise an (n, d) float32 array of ``xp``."""
        return (x - xp.asarray(self.mean)) / xp.asarray(self.std)

    def to_json(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_json(cls, record: dict | None) -> Normalisation | None:
        """The statistics of :meth:`to_json` (a stored model's are checked by :mod:`.model_io` first)."""
        if not record:
            return None
        return cls(np.asarray(record["mean"], np.float32), np.asarray(record["std"], np.float32))


@dataclass(frozen=True, eq=False)
class Tree:
    """One decision tree in scikit-learn's array layout; node 0 is the root.

    A row goes to the left child of a split node when ``x[feature] <= threshold``.

    Attributes
    ----------
    children_left, children_right : ndarray (n,) int64
        Child node indices of split nodes; :data:`LEAF` (-1) at leaves.
    feature : ndarray (n,) int64
        Feature column tested by each split node; -1 at leaves.
    threshold : ndarray (n,) float64
        Split thresholds; 0 at leaves.
    leaf_values : ndarray (n_leaves, n_classes) float64
        Class probabilities of the leaves, in increasing node order.
    """

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    leaf_values: np.ndarray

    @classmethod
    def from_sklearn(cls, tree) -> Tree:
        """The arrays of a fitted scikit-learn ``tree_`` (classification, one output).

        scikit-learn (>= 1.4) keeps each node's class fractions in ``value``: the leaves' rows are
        exactly what its ``predict_proba`` averages, so they are stored as they are.
        """
        left = np.asarray(tree.children_left, dtype=np.int64)
        leaf = left == LEAF
        return cls(children_left=left, children_right=np.asarray(tree.children_right, dtype=np.int64),
                   feature=np.where(leaf, LEAF, tree.feature).astype(np.int64),
                   threshold=np.where(leaf, 0.0, tree.threshold).astype(np.float64),
                   leaf_values=np.asarray(tree.value[leaf, 0, :], dtype=np.float64))

    @property
    def node_count(self) -> int:
        return int(self.children_left.size)

    def to_json(self) -> dict:
        """The tree as JSON lists (floats written with Python's round-tripping repr: no precision lost)."""
        return {"children_left": self.children_left.tolist(), "children_right": self.children_right.tolist(),
                "feature": self.feature.tolist(), "threshold": self.threshold.tolist(),
                "leaf_values": self.leaf_values.tolist()}


def trees_from_sklearn(classifier) -> tuple[Tree, ...]:
    """The trees of a fitted ``RandomForestClassifier``, in its order."""
    return tuple(Tree.from_sklearn(estimator.tree_) for estimator in classifier.estimators_)


@dataclass
class ForestModel:
    """A random forest ready for prediction.

    Attributes
    ----------
    name : str
        Name in the store (``models/<name>``).
    forest : tuple of Tree
        The trees; their average leaf vector is the class probability.
    attributes : list of str
        Feature columns in order: the survey attribute volumes the forest reads.
    facies_names : list of str
        Name of each class index of the forest's output.
    codes : list of int
        Facies code (1..255) of each class index; written into ``facies_<name>``.
    normalisation : Normalisation or None
        Applied to the attributes before the trees.
    trees, max_depth : int, int or None
        Tree count and the depth limit it was trained with.
    cv : dict
        Cross-validation report (see :mod:`facies.engine.forest.train`).
    importances : dict of str to float
        Normalised Gini importances by attribute (sum 1).
    provenance : dict
        What trained it, on which table.
    """

    name: str
    forest: tuple[Tree, ...] = field(repr=False)
    attributes: list[str]
    facies_names: list[str]
    codes: list[int]
    normalisation: Normalisation | None = None
    trees: int = 0
    max_depth: int | None = None
    cv: dict = field(default_factory=dict, repr=False)
    importances: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict, repr=False)

    @cached_property
    def document(self) -> bytes:
        """The trees as the stored JSON document: ``{"trees": [Tree.to_json(), ...]}``, UTF-8."""
        trees = [tree.to_json() for tree in self.forest]
        return json.dumps({"trees": trees}, separators=(",", ":"), allow_nan=False).encode()

    @property
    def sha256(self) -> str:
        """Digest of :attr:`document`: identifies the trees in run parameters (resume checks)."""
        return hashlib.sha256(self.document).hexdigest()

    @property
    def n_classes(self) -> int:
        return len(self.codes)

    def treelite_model(self):
        """The trees as a ``treelite.Model``, built node by node with treelite's model builder.

        Raises
        ------
        FaciesError
            When treelite is missing or refuses the trees.
        """
        try:
            from treelite import model_builder  # noqa: PLC0415 - optional dependency, only for prediction
        except ImportError as exc:
            raise FaciesError("predicting with a random forest needs treelite; "
                              "pip install nvforest-cu13 (it brings treelite)") from exc
        try:
            return build_treelite(model_builder, self.forest, len(self.attributes), self.n_classes)
        except Exception as exc:  # TreeliteError: the checks of model_io should leave none
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FaciesError(f"treelite refuses the trees of model {self.name!r} ({first}); "
                              "train it again with 'facies rf train ... --overwrite'") from exc

    def metadata(self) -> dict:
        """Everything but the trees, as JSON (stored in the array's attributes)."""
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
            "attributes": list(self.attributes), "facies_names": list(self.facies_names),
            "codes": [int(c) for c in self.codes],
            "normalisation": self.normalisation.to_json() if self.normalisation is not None else None,
            "trees": int(self.trees), "max_depth": self.max_depth, "cv": self.cv,
            "importances": {k: float(v) for k, v in self.importances.items()},
            "sha256": self.sha256, "provenance": self.provenance,
        }


def build_treelite(model_builder, forest: tuple[Tree, ...], n_features: int, n_classes: int):
    """A treelite model of ``forest`` as ``treelite.sklearn.import_model`` makes one of a scikit-learn forest.

    Same header (multi-class, averaged tree outputs, identity post-processing, float64 thresholds
    and leaves) and the same ``<=`` tests, so treelite and nvForest give scikit-learn's
    probabilities. ``default_left`` matters for NaN only, and rows with a NaN never reach the
    trees (:func:`~facies.engine.forest.predict.classify_rows` gives them code 0).

    Parameters
    ----------
    model_builder : module
        ``treelite.model_builder``.
    forest : tuple of Tree
        Trees already checked (:func:`facies.engine.forest.model_io.load_model`) or just trained.
    n_features, n_classes : int
    """
    n = len(forest)
    builder = model_builder.ModelBuilder(
        threshold_type="float64", leaf_output_type="float64",
        metadata=model_builder.Metadata(num_feature=n_features, task_type="kMultiClf", average_tree_output=True,
                                        num_target=1, num_class=[n_classes], leaf_vector_shape=(1, n_classes)),
        tree_annotation=model_builder.TreeAnnotation(num_tree=n, target_id=[-1] * n, class_id=[-1] * n),
        postprocessor=model_builder.PostProcessorFunc(name="identity_multiclass"),
        base_scores=[0.0] * n_classes)
    for tree in forest:
        _add_tree(builder, tree)
    return builder.commit()


def _add_tree(builder, tree: Tree) -> None:
    """One tree into a treelite model builder (node keys are the node indices)."""
    leaf_rows = iter(tree.leaf_values.tolist())
    builder.start_tree()
    for node, (left, right, feature, threshold) in enumerate(zip(
            tree.children_left.tolist(), tree.children_right.tolist(), tree.feature.tolist(), tree.threshold.tolist())):
        builder.start_node(node)
        if left == LEAF:
            builder.leaf(next(leaf_rows))
        else:
            builder.numerical_test(feature, threshold, default_left=True, opname="<=",
                                   left_child_key=left, right_child_key=right)
        builder.end_node()
    builder.end_tree()
