"""A trained forest as facies keeps it: a treelite checkpoint plus what prediction must know.

The checkpoint (treelite's own binary serialisation, not a pickle) holds the trees; the
metadata says which attributes feed which feature column, how to normalise them, which facies
code each class index stands for, and how the forest was chosen (cross-validation results).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field

import numpy as np

from facies.engine.errors import FaciesError

#: Marker stored with every model: a ``models/<name>`` array without it is not one of ours.
FORMAT = "facies-random-forest"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Normalization:
    """Per-attribute z-score: ``(x - mean) / std``, in float32 on every backend.

    The arithmetic is done in float32 with the same two correctly rounded IEEE operations
    (subtract, divide) on NumPy and CuPy, so training and prediction see identical values.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalization:
        """Mean and standard deviation per column (float64 sums); a constant column gets std 1.

        The same statistics as attribute selection's (:func:`facies.engine.selection.data.standardisation`).
        """
        from facies.engine.selection.data import standardisation  # noqa: PLC0415 - selection loads only here

        mean, std = standardisation([np.asarray(x)])
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def apply(self, x, xp=np):
        """Normalise an (n, d) float32 array of ``xp``."""
        return (x - xp.asarray(self.mean)) / xp.asarray(self.std)

    def to_json(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_json(cls, record: dict | None) -> Normalization | None:
        if not record:
            return None
        return cls(np.asarray(record["mean"], np.float32), np.asarray(record["std"], np.float32))


@dataclass
class ForestModel:
    """A random forest ready for prediction.

    Attributes
    ----------
    name : str
        Name in the store (``models/<name>``).
    checkpoint : bytes
        ``treelite.Model.serialize_bytes()`` of the forest.
    attributes : list of str
        Feature columns in order: the survey attribute volumes the forest reads.
    facies_names : list of str
        Name of each class index of the forest's output.
    codes : list of int
        Facies code (1..255) of each class index; written into ``facies_<name>``.
    normalization : Normalization or None
        Applied to the attributes before the trees.
    trees, max_depth : int, int or None
    cv : dict
        Cross-validation report (see :mod:`facies.engine.forest.train`).
    importances : dict of str to float
        Normalised Gini importances by attribute (sum 1).
    provenance : dict
        What trained it, on which table.
    """

    name: str
    checkpoint: bytes = field(repr=False)
    attributes: list[str]
    facies_names: list[str]
    codes: list[int]
    normalization: Normalization | None = None
    trees: int = 0
    max_depth: int | None = None
    cv: dict = field(default_factory=dict, repr=False)
    importances: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict, repr=False)

    @property
    def sha256(self) -> str:
        """Digest of the checkpoint: identifies the trees in run parameters (resume checks)."""
        return hashlib.sha256(self.checkpoint).hexdigest()

    @property
    def n_classes(self) -> int:
        return len(self.codes)

    def treelite_model(self):
        """The checkpoint as a ``treelite.Model``.

        Raises
        ------
        FaciesError
            When treelite is missing or the bytes are not a treelite checkpoint.
        """
        try:
            import treelite  # noqa: PLC0415 - optional dependency, only for prediction
        except ImportError as exc:
            raise FaciesError("predicting with a random forest needs treelite; "
                              "pip install nvforest-cu13 (it brings treelite)") from exc
        try:
            with warnings.catch_warnings():
                # nvForest bundles a slightly older treelite; checkpoints stay compatible within 4.x.
                warnings.filterwarnings("ignore", message=".*newer Treelite version.*")
                return treelite.Model.deserialize_bytes(self.checkpoint)
        except Exception as exc:  # TreeliteError and friends
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FaciesError(f"model {self.name!r} does not hold a readable treelite checkpoint ({first}); "
                              "train it again with 'facies rf train'") from exc

    def metadata(self) -> dict:
        """Everything but the checkpoint, as JSON (stored in the array's attributes)."""
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
            "attributes": list(self.attributes), "facies_names": list(self.facies_names),
            "codes": [int(c) for c in self.codes],
            "normalization": self.normalization.to_json() if self.normalization is not None else None,
            "trees": int(self.trees), "max_depth": self.max_depth, "cv": self.cv,
            "importances": {k: float(v) for k, v in self.importances.items()},
            "sha256": self.sha256, "provenance": self.provenance,
        }
