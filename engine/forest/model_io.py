"""Forests in the survey store: ``models/<name>``, a uint8 array holding a treelite checkpoint.

Never a pickle: the checkpoint is treelite's own binary format (trees, thresholds, leaf
vectors), which nvForest and treelite load without executing anything. The array's ``facies``
attribute holds the metadata of :meth:`ForestModel.metadata`, including the format marker that
tells a forest of ours from any other array.
"""

from __future__ import annotations

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.forest.model import FORMAT, FORMAT_VERSION, ForestModel, Normalization
from facies.engine.provenance import jsonable
from facies.engine.store import check_name

#: Group of the survey holding the models.
MODELS_GROUP = "models"


def list_models(survey) -> list[str]:
    """Names of the arrays under ``models/``, sorted."""
    if MODELS_GROUP not in survey.group:
        return []
    return sorted(name for name, _ in survey.group[MODELS_GROUP].arrays())


def save_model(survey, model: ForestModel, *, overwrite: bool = False) -> None:
    """Write ``model`` to ``models/<model.name>`` in the survey.

    Raises
    ------
    FaciesError
        If a model of that name exists and ``overwrite`` is false.
    """
    check_name(model.name, "model")  # model names become array names (facies_<name>)
    group = survey.group.require_group(MODELS_GROUP)
    if model.name in group:
        if not overwrite:
            raise FaciesError(f"model {model.name!r} already exists in {survey.path}; "
                              "pass --overwrite or choose another --name")
        del group[model.name]
    data = np.frombuffer(model.checkpoint, dtype=np.uint8)
    array = group.create_array(model.name, shape=data.shape, dtype=np.uint8, chunks=(max(1, min(data.size, 1 << 24)),),
                               dimension_names=["byte"], attributes={"facies": jsonable(model.metadata())})
    array[...] = data


def load_model(survey, name: str) -> ForestModel:
    """Read ``models/<name>`` and check that it is a facies random forest.

    Raises
    ------
    FaciesError
        When there is no such model, or the array is not one of ours (no format marker,
        a newer format version, or a checksum that does not match the bytes).
    """
    if name not in list_models(survey):
        have = ", ".join(list_models(survey)) or "none"
        raise FaciesError(f"survey {survey.path} has no model {name!r} (models: {have}); "
                          "train one with 'facies rf train'")
    array = survey.group[f"{MODELS_GROUP}/{name}"]
    meta = dict(array.attrs.get("facies", {})) if isinstance(array.attrs.get("facies"), dict) else {}
    if meta.get("format") != FORMAT or array.dtype != np.uint8 or array.ndim != 1:
        raise FaciesError(f"models/{name} in {survey.path} is not a facies random forest (no {FORMAT!r} marker); "
                          "train one with 'facies rf train'")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise FaciesError(f"model {name!r} has format {meta.get('format_version')}; this facies reads up to "
                          f"{FORMAT_VERSION}: upgrade facies")
    model = ForestModel(
        name=name, checkpoint=np.asarray(array[...], dtype=np.uint8).tobytes(),
        attributes=list(meta["attributes"]), facies_names=list(meta["facies_names"]),
        codes=[int(c) for c in meta["codes"]], normalization=Normalization.from_json(meta.get("normalization")),
        trees=int(meta.get("trees", 0)), max_depth=meta.get("max_depth"), cv=dict(meta.get("cv", {})),
        importances=dict(meta.get("importances", {})), provenance=dict(meta.get("provenance", {})))
    if meta.get("sha256") and meta["sha256"] != model.sha256:
        raise FaciesError(f"model {name!r} in {survey.path} is damaged (checksum mismatch); train it again")
    return model
