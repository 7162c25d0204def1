"""The brick-engine operator of the GTM projection (a point operator: no halo).

Inputs: the model's attribute volumes, in its order, and the store's lateral live-trace flag.
Outputs (model ``gtm``): ``facies_gtm`` (uint8 codes, 0 = no data), ``prob_gtm_<facies>`` per facies,
``confidence_gtm`` (the highest probability), ``gtm_u1`` and ``gtm_u2`` (the voxel's posterior-mean
latent coordinates, NaN where there is no data), all float32 but the codes. The work is
:func:`facies.kernels.gtm.project`, on NumPy or CuPy as the brick arrives.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

import numpy as np

from facies.engine.bricks.operator import Operator, Output
from facies.engine.errors import FaciesError
from facies.engine.forest.operator import LIVE
from facies.engine.forest.operator import output_names as classification_names
from facies.engine.gtm.model import METHODS, GtmModel
from facies.kernels.gtm import project, projection_weights


class OutputNames(TypedDict):
    """Store array names of a GTM's projection (:func:`output_names`)."""

    classes: str
    probabilities: list[str]
    confidence: str
    latent: list[str]


def output_names(model: GtmModel) -> OutputNames:
    """``facies_<m>``, ``prob_<m>_<facies>``, ``confidence_<m>`` (named as a forest's) and ``<m>_u1``, ``<m>_u2``."""
    names = classification_names(cast(Any, model))  # a forest's names need only .name and .facies_names
    return {"classes": names["classes"], "probabilities": names["probabilities"],
            "confidence": names["confidence"], "latent": [f"{model.name}_u1", f"{model.name}_u2"]}


class GtmOperator(Operator):
    """Project every voxel of a brick onto a stored GTM and write facies probabilities.

    Parameters
    ----------
    model : GtmModel
    method : {"bhattacharyya", "gtc"}
        How responsibilities become facies probabilities (docs/gtm.md).
    """

    boundary = "nearest"  # no halo: nothing is filled; "nearest" keeps the bool trace mask as it is
    halo = (0, 0, 0)

    def __init__(self, model: GtmModel, *, method: str = "bhattacharyya"):
        if method not in METHODS:
            raise FaciesError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
        self.model, self.method = model, method
        names = output_names(model)
        self.names = names
        self.inputs = (*model.attributes, LIVE)
        self.outputs = (Output(names["classes"], "uint8"),
                        *(Output(p, "float32") for p in names["probabilities"]),
                        Output(names["confidence"], "float32"),
                        *(Output(u, "float32") for u in names["latent"]))
        # the priors weigh the GTC posterior only; the Bhattacharyya coefficient has none
        # Working memory per voxel beyond inputs and outputs: the stacked rows (4 D) and the live flags
        # (1); the kernel works through tiles of a few thousand rows, whatever the brick.
        self.scratch_bytes_per_voxel = 4 * len(model.attributes) + 1
        weights, sqrt_weights = projection_weights(model.pdfs, method, model.priors if method == "gtc" else None)
        self._host = {"mean": np.ascontiguousarray(model.mean, dtype=np.float64),
                      "scale": np.ascontiguousarray(model.scale, dtype=np.float64),
                      "nodes": np.ascontiguousarray(model.nodes, dtype=np.float64),
                      "latent": np.ascontiguousarray(model.latent, dtype=np.float64),
                      "weights": np.ascontiguousarray(weights, dtype=np.float64),
                      "codes": np.asarray(model.codes, dtype=np.uint8)}
        self.sqrt_weights = bool(sqrt_weights)


    def compute(self, inputs, xp):
        attributes = self.model.attributes
        shape = inputs[attributes[0]].shape
        x = xp.ascontiguousarray(xp.stack([xp.asarray(inputs[a], dtype=xp.float32).reshape(-1)
                                           for a in attributes], axis=1))
        live = xp.ascontiguousarray(
            xp.broadcast_to(inputs[LIVE].astype(bool, copy=False)[:, :, None], shape).reshape(-1))
        n, c = x.shape[0], len(self.model.codes)
        prob = xp.empty((c, n), dtype=xp.float32)
        code = xp.empty(n, dtype=xp.uint8)
        conf = xp.empty(n, dtype=xp.float32)
        u = xp.empty((2, n), dtype=xp.float32)
        # The model's small arrays stay NumPy: the CUDA wrapper checks them on the host and uploads them packed
        # on this lane's stream (a copy made once on another lane's stream would be read here unsynchronised).
        k = self._host
        project(x, live, k["mean"], k["scale"], k["nodes"], float(self.model.beta), k["latent"], k["weights"],
                self.sqrt_weights, k["codes"], prob, code, conf, u)
        out = {self.names["classes"]: code.reshape(shape), self.names["confidence"]: conf.reshape(shape)}
        for i, name in enumerate(self.names["probabilities"]):
            out[name] = prob[i].reshape(shape)
        for i, name in enumerate(self.names["latent"]):
            out[name] = u[i].reshape(shape)
        return out

    def parameters(self) -> dict:
        return {"model": self.model.name, "sha256": self.model.sha256, "attributes": list(self.model.attributes),
                "method": self.method}
