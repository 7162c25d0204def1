"""A fitted GTM as facies keeps it: the map, its standardisation, and the facies' distributions on it.

The numbers (latent grid, basis matrix, weights, log-likelihood history, the sample's density on
the map, the facies PDFs and priors) are a JSON document (:attr:`GtmModel.document`), stored as the
bytes of a uint8 array ``gtm_models/<name>``; everything else (names, settings, sizes, provenance)
is the array's metadata (:meth:`GtmModel.metadata`). Never a pickle: :mod:`.model_io` checks every
field in NumPy before the projection uses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

#: Marker stored with every GTM: a ``gtm_models/<name>`` array without it is not one of ours.
FORMAT = "facies-gtm"
#: 1: the numbers as one JSON document, metadata in the array's attributes.
FORMAT_VERSION = 1
#: The projection methods (docs/gtm.md): facies probabilities from the Bhattacharyya coefficient of a
#: voxel's responsibilities with each facies PDF, or from the GTC class posterior per node.
METHODS = ("bhattacharyya", "gtc")
#: Keys of the JSON document, all required.
DOCUMENT_KEYS = ("latent", "phi", "W", "loglik", "density", "pdfs", "priors")


@dataclass(eq=False)
class GtmModel:
    """A GTM fitted on a sample of the survey, with the training facies' PDFs on its latent grid.

    Attributes
    ----------
    name : str
        Name in the store (``gtm_models/<name>``); the projection's outputs are named after it.
    attributes : list of str
        The attribute volumes, in the order of the data's columns.
    mean, scale : ndarray (D,) float64
        Standardisation: the model sees ``(x - mean) / scale`` (the sample's mean and standard deviation).
    settings : dict
        The :class:`~facies.kernels.gtm.GtmSettings` it was fitted with, as JSON.
    latent : ndarray (K, 2)
        Latent nodes.
    phi : ndarray (K, M + 1)
        Basis matrix (bias column last).
    W : ndarray (M + 1, D)
        Weights; the nodes in standardised data space are ``phi @ W``.
    beta : float
        Inverse noise variance.
    loglik : ndarray (iterations,)
        Log-likelihood of the sample per EM iteration.
    iterations : int
        EM iterations run.
    converged : bool
    density : ndarray (K,)
        Mean responsibilities of the sample: how the survey's voxels spread over the map.
    facies_names : list of str
    codes : list of int
        Facies code (1..255) of each facies; written into ``facies_<name>``.
    pdfs : ndarray (C, K)
        Each facies' distribution over the nodes (mean responsibilities of its training voxels).
    priors : ndarray (C,)
        Facies priors (training shares or equal), summing to 1.
    training : str
        Training table the PDFs came from.
    sample_seed, sample_size : int
        Seed of the sample and the voxels it held (after non-finite ones were dropped).
    provenance : dict
    """

    name: str
    attributes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    settings: dict
    latent: np.ndarray
    phi: np.ndarray
    W: np.ndarray
    beta: float
    loglik: np.ndarray
    iterations: int
    converged: bool
    density: np.ndarray
    facies_names: list[str]
    codes: list[int]
    pdfs: np.ndarray
    priors: np.ndarray
    training: str
    sample_seed: int
    sample_size: int
    provenance: dict = field(default_factory=dict, repr=False)

    @property
    def nodes(self) -> np.ndarray:
        """Node positions in standardised data space, ``phi @ W`` (K, D)."""
        return self.phi @ self.W

    @property
    def grid(self) -> int:
        """Nodes per side of the latent square."""
        return int(round(np.sqrt(self.latent.shape[0])))

    @cached_property
    def document(self) -> bytes:
        """The numbers as the stored JSON document (floats in Python's round-tripping repr), UTF-8."""
        doc = {"latent": self.latent.tolist(), "phi": self.phi.tolist(), "W": self.W.tolist(),
               "loglik": [float(v) for v in self.loglik], "density": [float(v) for v in self.density],
               "pdfs": self.pdfs.tolist(), "priors": [float(v) for v in self.priors]}
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    @property
    def sha256(self) -> str:
        """Digest of :attr:`document`: identifies the map in run parameters (resume checks)."""
        return hashlib.sha256(self.document).hexdigest()

    def metadata(self) -> dict:
        """Everything but the document's numbers, as JSON (stored in the array's attributes)."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                "attributes": list(self.attributes),
                "standardisation": {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]},
                "settings": dict(self.settings), "nodes": int(self.latent.shape[0]),
                "basis_columns": int(self.phi.shape[1]), "beta": float(self.beta),
                "iterations": int(self.iterations), "converged": bool(self.converged),
                "facies_names": list(self.facies_names), "codes": [int(c) for c in self.codes],
                "training": self.training, "sample_seed": int(self.sample_seed),
                "sample_size": int(self.sample_size), "sha256": self.sha256, "provenance": self.provenance}
