"""The brick-engine operator of random-forest prediction (a point operator: no halo).

Inputs: the model's attribute volumes, in its order, and the store's lateral live-trace flag
(:data:`LIVE`, 2D: the brick engine cuts it to the brick's traces). Outputs: ``facies_<model>``
(uint8 codes, 0 = no data), ``prob_<model>_<facies>`` per facies (float32) and
``confidence_<model>`` (float32, the highest probability).
"""

from __future__ import annotations

import re
import threading
from typing import TypedDict

from facies.engine.bricks.operator import Operator, Output
from facies.engine.forest.model import ForestModel
from facies.engine.forest.predict import ForestPredictor, classify_rows

#: The store's 2D (inline, crossline) array of live traces (True) and dead ones (False).
LIVE = "trace_mask"


def _safe(text: str) -> str:
    """A facies name as part of an array name: letters, digits and underscores."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_") or "facies"


class OutputNames(TypedDict):
    """Store array names of a forest's prediction (:func:`output_names`)."""

    classes: str
    probabilities: list[str]
    confidence: str


def output_names(model: ForestModel) -> OutputNames:
    """Store array names of a model's prediction: ``classes``, ``probabilities`` (by class) and ``confidence``."""
    return {"classes": f"facies_{model.name}",
            "probabilities": [f"prob_{model.name}_{_safe(f)}" for f in model.facies_names],
            "confidence": f"confidence_{model.name}"}


class ForestOperator(Operator):
    """Classify every voxel of a brick with a stored forest.

    Parameters
    ----------
    model : ForestModel
    engine : {"auto", "compiled", "numpy", "nvforest", "treelite"}
        Inference engine (see :class:`~facies.engine.forest.predict.ForestPredictor`).

    The predictor for each device is built on first use, once, so the operator can be made on
    a machine without a GPU and still run its bricks on whichever backend the run chose.
    """

    # No halo, so the rule never fills anything; "nearest" keeps the bool trace mask as it is
    # (the "nan" rule would promote it to float32).
    boundary = "nearest"
    halo = (0, 0, 0)

    def __init__(self, model: ForestModel, *, engine: str = "auto"):
        self.model = model
        self.engine = engine
        names = output_names(model)
        self.inputs = (*model.attributes, LIVE)
        self.outputs = (Output(names["classes"], "uint8"),
                        *(Output(p, "float32") for p in names["probabilities"]),
                        Output(names["confidence"], "float32"))
        # Working memory per voxel beyond inputs and outputs, counted on the GPU path (the larger): the
        # stacked rows (4d), their finiteness (d), the valid rows (4d) and nvForest's float64 copy (8d),
        # its float64 probabilities (8C), the argmax (8) and masks (1). Brick sizing relies on it rather
        # than on splitting bricks after an out-of-memory error. tests/test_forest_gpu_streams.py
        # measures the CPU path against it.
        d, c = len(model.attributes), len(model.codes)
        self.scratch_bytes_per_voxel = 17 * d + 8 * c + 9
        self._predictors: dict[str, ForestPredictor] = {}
        self._lock = threading.Lock()

    def __reduce__(self):
        """Pickle as the model and engine (Dask ships operators to worker processes): the predictors hold
        native handles and the lock belongs to one process, so each process builds its own."""
        return type(self), (self.model,), {"engine": self.engine}

    def __setstate__(self, state: dict) -> None:
        self.__init__(self.model, engine=state["engine"])  # type: ignore[misc]

    def predictor(self, device: str) -> ForestPredictor:
        """The predictor of ``device`` ("cpu" or "gpu"), built once."""
        with self._lock:
            if device not in self._predictors:
                self._predictors[device] = ForestPredictor(self.model, device, self.engine)
            return self._predictors[device]

    def compute(self, inputs, xp):
        first = inputs[self.model.attributes[0]]
        shape = first.shape
        x = xp.stack([xp.asarray(inputs[a], dtype=xp.float32).reshape(-1) for a in self.model.attributes], axis=1)
        # The lateral mask arrives 2D (the brick's traces): broadcast over the samples here, on the
        # device, so only one flag per trace is read and copied per brick.
        live = xp.broadcast_to(inputs[LIVE].astype(bool, copy=False)[:, :, None], shape).reshape(-1)
        # On the GPU, the predictor orders nvForest's stream against this lane's (predict._predict_on_gpu).
        on_gpu = xp.__name__ == "cupy"
        codes, proba, confidence = classify_rows(x, live, self.predictor("gpu" if on_gpu else "cpu"), xp)
        out = {self.outputs[0].name: codes.reshape(shape), self.outputs[-1].name: confidence.reshape(shape)}
        for k, spec in enumerate(self.outputs[1:-1]):
            out[spec.name] = xp.ascontiguousarray(proba[:, k]).reshape(shape)
        return out

    def parameters(self) -> dict:
        return {"model": self.model.name, "sha256": self.model.sha256, "attributes": list(self.model.attributes),
                "normalisation": self.model.normalisation.to_json() if self.model.normalisation else None}
