"""What ``facies training show`` reports, and how many voxels attribute selection needs per facies."""

from __future__ import annotations

import numpy as np

from facies.engine.selection.settings import SelectionSettings
from facies.engine.training.table import TrainingTable

#: Clusters per facies that attribute selection fits by default: its own default, so the two never disagree.
DEFAULT_CLUSTERS = SelectionSettings.max_clusters
#: Voxels wanted per cluster and per estimated location parameter (d means + 1 weight).
VOXELS_PER_CLUSTER_PARAMETER = 5


def min_training_voxels(n_attributes: int, clusters: int = DEFAULT_CLUSTERS) -> int:
    """Voxels a facies needs for attribute selection with ``n_attributes`` attributes.

    Each of the ``clusters`` Gaussian clusters estimates ``d`` means and a weight; five voxels per such
    parameter keeps the fits stable: ``5 * clusters * (d + 1)``, i.e. ``10 * (d + 1)`` for two clusters.
    """
    return VOXELS_PER_CLUSTER_PARAMETER * int(clusters) * (int(n_attributes) + 1)


def facies_warnings(counts: np.ndarray, facies: list[str], n_attributes: int,
                    clusters: int = DEFAULT_CLUSTERS) -> list[str]:
    """One warning per facies with fewer voxels than :func:`min_training_voxels` asks for."""
    needs = min_training_voxels(n_attributes, clusters)
    return [f"facies {name!r} has {int(n)} training voxels; attribute selection with {n_attributes} attributes and "
            f"{clusters} clusters needs at least {needs}; draw more or larger polygons"
            for name, n in zip(facies, counts) if n < needs]


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None}
    x64 = x.astype(np.float64)  # float64 sums: a float32 mean of many voxels loses digits
    return {"mean": float(x64.mean()), "std": float(x64.std()), "min": float(x.min()), "max": float(x.max())}


def summarise(table: TrainingTable, clusters: int = DEFAULT_CLUSTERS) -> dict:
    """Voxels per facies and per polygon and attribute statistics per facies, JSON-serialisable."""
    counts = table.counts()
    needs = min_training_voxels(len(table.attribute_names), clusters)
    facies = [{"code": i + 1, "name": name, "voxels": int(counts[i]), "needs": needs,
               "enough": bool(counts[i] >= needs)}
              for i, name in enumerate(table.facies_names)]
    polygons = list(table.report.get("polygons", []))
    if not polygons:  # imported table: only per-facies rows, no polygon provenance
        polygons = [{"index": -1, "label": "(imported)", "facies": table.facies_names[c - 1], "kept": int(n)}
                    for c, n in zip(*np.unique(table.codes, return_counts=True))]
    stats = {name: {attr: _stats(table.attributes[attr][table.codes == i + 1]) for attr in table.attribute_names}
             for i, name in enumerate(table.facies_names)}
    return {"rows": len(table), "source": table.source, "sample_axis": table.sample_axis,
            "attributes": table.attribute_names, "facies": facies, "polygons": polygons, "statistics": stats,
            "warnings": facies_warnings(counts, table.facies_names, len(table.attribute_names), clusters)}
