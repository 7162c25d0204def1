"""Forests in the survey store: ``models/<name>``, a uint8 array holding the trees as JSON.

Format 2 (docs/forest.md): the array's bytes are the UTF-8 JSON document of
:attr:`~facies.engine.forest.model.ForestModel.document`, one object per tree with the node
arrays ``children_left``, ``children_right``, ``feature``, ``threshold`` and the leaves'
``leaf_values``; its ``facies`` attribute holds :meth:`~facies.engine.forest.model.ForestModel.metadata`,
with the format marker that tells a forest of ours from any other array and the document's sha256.

A model file is untrusted input: stores are shared, copied and edited, and the checksum only
says the bytes are the ones its writer meant. So everything is checked here in plain Python and
NumPy before treelite builds anything from it: types, sizes, index ranges, that the nodes form
one tree (every node reached exactly once from the root), finite thresholds, leaf vectors of
class probabilities, bounded tree and node counts, a normalisation that cannot overflow, and
attribute and facies names that give the prediction valid, distinct array names. Any damage is a
one-line :class:`~facies.engine.errors.FaciesError`, never a crash of the native code. Format 1 (a
raw treelite checkpoint, which treelite's native reader parses unchecked) is refused: retrain it.

A model is saved whole (written as ``models/_partial-<name>``, then moved into place) under an
exclusive lock on ``_runs/models.<name>.run.lock``, and read under a shared one: the helpers of
:mod:`facies.engine.staging`, which save training tables the same way.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.forest.model import (FORMAT, FORMAT_VERSION, LEAF, MAX_DEPTH, MAX_NORMALISATION, MAX_TOTAL_NODES,
                                        MAX_TREE_NODES, MAX_TREES, MIN_STD, ForestModel, Normalisation, Tree)
from facies.engine.model_outputs import output_names_problem
from facies.engine.provenance import jsonable
from facies.engine.schema import FACIES_KEY, MODELS_GROUP, check_name
from facies.engine.staging import DamagedDocument as _Damaged
from facies.engine.staging import document_bytes, member_locked, member_names, open_member, save_whole
from facies.engine.store import compressors

#: Keys of one tree in the JSON document, all required.
TREE_KEYS = ("children_left", "children_right", "feature", "threshold", "leaf_values")
#: How far a leaf's probabilities may sum from 1 (scikit-learn's fractions are exact to a few ulps).
LEAF_SUM_TOLERANCE = 1e-6


def list_models(survey) -> list[str]:
    """Names of the models under ``models/``, sorted.

    Listed from the ``models`` folder: a model whose ``zarr.json`` cannot be read is left out (``facies
    verify`` and :func:`load_model` report it), and so are the folders of saves in progress or killed
    (``_partial-<name>``).
    """
    names = []
    for name in member_names(survey, MODELS_GROUP):
        try:
            node = survey.node(f"{MODELS_GROUP}/{name}")
        except Exception:  # noqa: BLE001 - damaged zarr.json: skipped here, reported by verify and by load_model
            continue
        if isinstance(node, zarr.Array):
            names.append(name)
    return names


def save_model(survey, model: ForestModel, *, overwrite: bool = False) -> None:
    """Write ``model`` to ``models/<model.name>`` in the survey (format :data:`FORMAT_VERSION`), whole or not at all.

    The model is first checked as :func:`load_model` will check it (its metadata, and the array
    names its prediction will write), so that no model is stored that cannot be read back. It is
    written under ``models/_partial-<name>`` and takes the old model's place only once it is whole,
    under an exclusive lock on the model (:func:`~facies.engine.staging.save_whole`): a
    failed or killed save (a full disk) leaves the old model as it was, and of two saves of one
    name the second is refused with one line.

    Raises
    ------
    FaciesError
        A bad model name; a model that could not be read back (e.g. facies names that give two
        prediction outputs one name); a model of that name exists and ``overwrite`` is false.
    ArrayBusyError
        When another command saves or reads the model right now.
    """
    name = model.name
    check_name(name, "model")  # model names become array names (facies_<name>)
    try:
        check_metadata(model.metadata())
        _check_outputs(model)
    except _Damaged as exc:
        raise FaciesError(f"model {name!r} cannot be stored: {exc}") from None
    data = np.frombuffer(model.document, dtype=np.uint8)

    def write(parent, key: str) -> None:
        array = parent.create_array(key, shape=data.shape, dtype=np.uint8, chunks=(max(1, min(data.size, 1 << 24)),),
                                    dimension_names=["byte"], attributes={FACIES_KEY: jsonable(model.metadata())},
                                    compressors=compressors("zstd"))  # checksummed like every array of the store
        array[...] = data

    save_whole(survey, MODELS_GROUP, name, "model", write, overwrite=overwrite)


def retrain_hint(survey, name: str) -> str:
    """What to do about a model that cannot be read: train it again under its name."""
    return f"train it again: facies rf train {survey.path} --name {name} ... --overwrite"


def load_model(survey, name: str) -> ForestModel:
    """Read ``models/<name>``, check every field of it, and return the forest.

    Nothing native (treelite, nvForest) sees the trees before these checks pass. Holds a shared
    lock on the model while it reads (a save of the model meanwhile is refused, and so is this read
    while a save runs).

    Raises
    ------
    FaciesError
        When the name is not valid or there is no such model; the array is not one of ours (no
        format marker); it has an older format (a treelite checkpoint: retrain it) or a newer one
        (upgrade facies); or it is damaged: checksum mismatch, bad JSON, missing keys, wrong types,
        wrong sizes, indices out of range, nodes that do not form one tree, non-finite numbers,
        bounds exceeded, a normalisation that would overflow, attribute or facies names that give
        prediction outputs invalid or clashing array names.
        A chunk missing or altered is damage too.
    DamagedArrayError
        When its ``zarr.json`` is missing or cannot be read.
    ArrayBusyError
        When another command saves the model right now.
    """
    check_name(name, "model")
    with member_locked(survey, MODELS_GROUP, name, "model", shared=True):
        array = open_member(survey, MODELS_GROUP, name, "model", retrain_hint(survey, name))
        if array is None:
            have = ", ".join(list_models(survey)) or "none"
            raise FaciesError(f"survey {survey.path} has no model {name!r} (models: {have}); "
                              "train one with 'facies rf train'")
        meta = _checked_marker(array, survey, name)
        try:
            raw = document_bytes(survey, MODELS_GROUP, name, array)
            if meta.get("sha256") != hashlib.sha256(raw).hexdigest():
                raise _Damaged("checksum mismatch")
            fields = check_metadata(meta)
            forest = forest_from_document(raw, n_features=len(fields["attributes"]), n_classes=len(fields["codes"]),
                                          trees=fields["trees"], max_depth=fields["max_depth"])
            model = ForestModel(name=name, forest=forest, **fields)
            _check_outputs(model)
        except _Damaged as exc:
            raise FaciesError(f"model {name!r} in {survey.path} is damaged ({exc}); "
                              f"{retrain_hint(survey, name)}") from None
    return model


def _check_outputs(model: ForestModel) -> None:
    """Raise :class:`_Damaged` unless the prediction of ``model`` can write its outputs and read its inputs.

    Every array the prediction writes (:func:`~facies.engine.forest.operator.output_names`:
    ``facies_<model>``, ``prob_<model>_<facies>`` per facies, ``confidence_<model>``) must be a valid
    array name, distinct from the others (two facies names may map to one, e.g. ``a b`` and ``a_b``)
    and from every attribute the model reads, and every attribute must be a valid array name (not a
    coordinate, such as the ``trace_mask`` the prediction reads too).
    """
    from facies.engine.forest.operator import output_names  # noqa: PLC0415 - the bricks load only here

    names = output_names(model)
    outputs = [names["classes"], *names["probabilities"], names["confidence"]]
    problem = output_names_problem(outputs, names["probabilities"], model.facies_names, model.attributes, "prediction")
    if problem:
        raise _Damaged(problem)


def _checked_marker(array, survey, name: str) -> dict:
    """The metadata of an array that is a facies forest of the format this facies reads."""
    meta = array.attrs.get(FACIES_KEY) if isinstance(array, zarr.Array) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or array.dtype != np.uint8 or array.ndim != 1:
        raise FaciesError(f"models/{name} in {survey.path} is not a facies random forest (no {FORMAT!r} marker); "
                          "train one with 'facies rf train'")
    version = meta.get("format_version")
    if type(version) is not int:
        raise FaciesError(f"model {name!r} in {survey.path} is damaged (format_version {repr(version)[:40]} is not "
                          f"an integer); {retrain_hint(survey, name)}")
    if version < FORMAT_VERSION:
        raise FaciesError(f"model {name!r} in {survey.path} has the old format {version} (a raw treelite checkpoint, "
                          f"which cannot be checked safely before treelite reads it); {retrain_hint(survey, name)}")
    if version > FORMAT_VERSION:
        raise FaciesError(f"model {name!r} has format {version}; this facies reads up to {FORMAT_VERSION}: "
                          "upgrade facies")
    return dict(meta)


# -- the metadata -------------------------------------------------------------------------------------------------


def check_metadata(meta: dict) -> dict:
    """The :class:`ForestModel` fields of the stored metadata, checked (raises :class:`_Damaged`)."""
    attributes = _names(meta.get("attributes"), "attributes")
    facies = _names(meta.get("facies_names"), "facies_names")
    if len(facies) < 2:
        raise _Damaged(f"facies_names lists {len(facies)} facies; a forest separates at least 2")
    max_depth = meta.get("max_depth")
    return {"attributes": attributes, "facies_names": facies, "codes": _codes(meta.get("codes"), len(facies)),
            "normalisation": _normalisation(meta.get("normalisation"), len(attributes)),
            "trees": _integer(meta.get("trees"), "trees", 1, MAX_TREES),
            "max_depth": None if max_depth is None else _integer(max_depth, "max_depth", 1, MAX_DEPTH),
            **{key: _mapping(meta.get(key, {}), key) for key in ("cv", "importances", "provenance")}}


def _integer(value, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # type(): a JSON true is no count
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."  # a crafted value may be huge
        raise _Damaged(f"{what} is {shown}, not an integer in {low}..{high}")
    return value


def _names(value, what: str) -> list[str]:
    """A non-empty list of distinct non-empty strings."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Damaged(f"{what} is not a list of names")
    if len(set(value)) != len(value):
        raise _Damaged(f"{what} names one twice")
    return list(value)


def _codes(value, n: int) -> list[int]:
    """One distinct facies code (1..255, the uint8 of facies_<model>) per facies."""
    if not isinstance(value, list) or len(value) != n or not all(type(c) is int and 1 <= c <= 255 for c in value):
        raise _Damaged(f"codes is not a list of {n} facies codes in 1..255")
    if len(set(value)) != n:
        raise _Damaged("codes names a facies code twice")
    return list(value)


def _normalisation(record, n: int) -> Normalisation | None:
    """None, or per-attribute means and standard deviations that cannot overflow the normalised values.

    Means within +-:data:`~facies.engine.forest.model.MAX_NORMALISATION`, standard deviations in
    :data:`~facies.engine.forest.model.MIN_STD`..``MAX_NORMALISATION`` (checked in float64, before the
    float32 the prediction computes in): a crafted std of 1e-45 would turn every value into infinity.
    """
    if record is None:
        return None
    if not isinstance(record, dict) or set(record) != {"mean", "std"}:
        raise _Damaged("normalisation is not {'mean': [...], 'std': [...]}")
    mean, std = (_numbers(record[key], f"normalisation {key}", n) for key in ("mean", "std"))
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise _Damaged("normalisation holds a value that is not finite")
    bad = np.flatnonzero(np.abs(mean) > MAX_NORMALISATION)
    if bad.size:
        raise _Damaged(f"normalisation mean of attribute {bad[0]} is {mean[bad[0]]:.3g}, beyond "
                       f"+-{MAX_NORMALISATION:g}")
    bad = np.flatnonzero((std < MIN_STD) | (std > MAX_NORMALISATION))
    if bad.size:
        raise _Damaged(f"normalisation std of attribute {bad[0]} is {std[bad[0]]:.3g}, outside "
                       f"{MIN_STD:g}..{MAX_NORMALISATION:g}")
    return Normalisation(mean.astype(np.float32), std.astype(np.float32))


def _mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise _Damaged(f"{what} is not a JSON object")
    return dict(value)


# -- the trees ----------------------------------------------------------------------------------------------------


def forest_from_document(raw: bytes, *, n_features: int, n_classes: int, trees: int,
                         max_depth: int | None) -> tuple[Tree, ...]:
    """The checked trees of a stored JSON document (pure Python and NumPy; raises :class:`_Damaged`).

    Parameters
    ----------
    raw : bytes
        The array's bytes.
    n_features, n_classes : int
        Attributes and facies of the metadata: bounds of feature indices, length of leaf vectors.
    trees : int
        Tree count of the metadata; the document must hold as many.
    max_depth : int or None
        Depth limit of the metadata; bounds every tree's depth and node count.
    """
    records = _parse(raw)
    if len(records) != trees:
        raise _Damaged(f"the document holds {len(records)} trees, the metadata says {trees}")
    cap = MAX_TREE_NODES if max_depth is None else min(MAX_TREE_NODES, 2 ** (max_depth + 1) - 1)
    forest, total = [], 0
    for k, record in enumerate(records):
        try:
            tree = tree_from_json(record, n_features=n_features, n_classes=n_classes, max_nodes=cap,
                                  max_depth=max_depth)
        except _Damaged as exc:
            raise _Damaged(f"tree {k}: {exc}") from None
        total += tree.node_count
        if total > MAX_TOTAL_NODES:
            raise _Damaged(f"the trees hold more than {MAX_TOTAL_NODES} nodes in all")
        forest.append(tree)
    return tuple(forest)


def _reject_constant(token: str):
    raise ValueError(f"{token} is not a finite number")


def _parse(raw: bytes) -> list:
    """The document's list of tree records. JSON's reader cannot crash: bad bytes raise, deep nesting too."""
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Damaged(f"not valid JSON: {first}") from None
    if not isinstance(document, dict) or not isinstance(document.get("trees"), list):
        raise _Damaged("the document is not {\"trees\": [...]}")
    return document["trees"]


def tree_from_json(record, *, n_features: int, n_classes: int, max_nodes: int, max_depth: int | None) -> Tree:
    """One checked tree of the document (raises :class:`_Damaged` saying what is wrong)."""
    if not isinstance(record, dict):
        raise _Damaged("not a JSON object")
    missing, unknown = [k for k in TREE_KEYS if k not in record], sorted(set(record) - set(TREE_KEYS))
    if missing or unknown:
        raise _Damaged(f"missing keys {', '.join(missing) or 'none'}, unknown keys {', '.join(unknown) or 'none'}")
    nodes = record["children_left"]
    if not isinstance(nodes, list) or not 1 <= len(nodes) <= max_nodes:  # the size bound, before any array is built
        raise _Damaged(f"children_left is not a list of 1..{max_nodes} nodes")
    n = len(nodes)
    left, right, feature = (_integers(record[key], key, n) for key in ("children_left", "children_right", "feature"))
    threshold = _numbers(record["threshold"], "threshold", n)
    if not np.isfinite(threshold).all():
        raise _Damaged(f"node {int(np.argmin(np.isfinite(threshold)))} has a threshold that is not finite")
    _check_nodes(left, right, feature, n_features)
    depth = _check_structure(left, right)
    if max_depth is not None and depth > max_depth:
        raise _Damaged(f"depth {depth} exceeds the max_depth {max_depth} it was trained with")
    leaf_values = _leaf_values(record["leaf_values"], int((left == LEAF).sum()), n_classes)
    return Tree(children_left=left, children_right=right, feature=feature, threshold=threshold,
                leaf_values=leaf_values)


def _as_array(value, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a NumPy array of ``shape`` (the list's length checked first, so nothing huge is built)."""
    if not isinstance(value, list) or len(value) != shape[0]:
        raise _Damaged(f"{what} is not a list of {shape[0]} entries")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # ragged nesting
        raise _Damaged(f"{what} is not a list of {'x'.join(map(str, shape))} numbers") from None
    if array.shape != shape:
        raise _Damaged(f"{what} has shape {array.shape}, not {shape}")
    return array


def _integers(value, what: str, n: int) -> np.ndarray:
    array = _as_array(value, what, (n,))
    if array.dtype.kind not in "iu":  # floats, strings, null, huge numbers (object)
        raise _Damaged(f"{what} is not a list of integers")
    return array.astype(np.int64)


def _numbers(value, what: str, n: int) -> np.ndarray:
    array = _as_array(value, what, (n,))
    if array.dtype.kind not in "iuf":
        raise _Damaged(f"{what} is not a list of numbers")
    return array.astype(np.float64)


def _check_nodes(left: np.ndarray, right: np.ndarray, feature: np.ndarray, n_features: int) -> None:
    """Leaves (-1, -1, feature -1) and splits (children in 1..n-1, feature in 0..n_features-1)."""
    n = left.size
    leaf = left == LEAF
    bad = np.flatnonzero(leaf != (right == LEAF))
    if bad.size:
        raise _Damaged(f"node {bad[0]} has one child")
    bad = np.flatnonzero(leaf & (feature != LEAF))
    if bad.size:
        raise _Damaged(f"leaf {bad[0]} has feature {feature[bad[0]]}, not {LEAF}")
    split = ~leaf
    bad = np.flatnonzero(split & ((left < 1) | (left >= n) | (right < 1) | (right >= n)))
    if bad.size:
        raise _Damaged(f"node {bad[0]} has children {left[bad[0]]}, {right[bad[0]]} outside 1..{n - 1}")
    bad = np.flatnonzero(split & ((feature < 0) | (feature >= n_features)))
    if bad.size:
        raise _Damaged(f"node {bad[0]} tests feature {feature[bad[0]]}, outside 0..{n_features - 1} "
                       f"(the model has {n_features} attributes)")


def _check_structure(left: np.ndarray, right: np.ndarray) -> int:
    """Depth of the tree; raises unless every node is reached exactly once from the root (node 0).

    Walks the tree level by level. A node reached twice (a cycle, a shared child, the root as a
    child) stops the walk at once, so it ends after at most ``n`` levels; nodes never reached are
    unreachable. Indices are in range (:func:`_check_nodes` ran first).
    """
    seen = np.zeros(left.size, dtype=bool)
    seen[0] = True
    frontier, depth = np.zeros(1, dtype=np.int64), 0
    while True:
        splits = frontier[left[frontier] != LEAF]
        if not splits.size:
            break
        children = np.concatenate([left[splits], right[splits]])
        if seen[children].any() or np.unique(children).size != children.size:
            raise _Damaged("a node is reached twice from the root (a cycle or a shared child)")
        seen[children] = True
        frontier, depth = children, depth + 1
    if not seen.all():
        raise _Damaged(f"{int((~seen).sum())} nodes are not reachable from the root, e.g. node {np.argmin(seen)}")
    return depth


def _leaf_values(value, n_leaves: int, n_classes: int) -> np.ndarray:
    """One class-probability vector per leaf: finite, non-negative, summing to 1."""
    values = _as_array(value, "leaf_values", (n_leaves, n_classes))
    if values.dtype.kind not in "iuf":
        raise _Damaged("leaf_values is not a list of lists of numbers")
    values = values.astype(np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise _Damaged("leaf_values holds a negative or non-finite probability")
    if (np.abs(values.sum(axis=1) - 1) > LEAF_SUM_TOLERANCE).any():
        raise _Damaged("a leaf's probabilities do not sum to 1")
    return values
