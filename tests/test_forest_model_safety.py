"""Crafted and damaged models: each is one ``error:`` line of ``facies rf predict``, before native code runs.

A model file is untrusted input. Every case below edits a stored model's JSON document or its
metadata as an attacker or a broken copy could, and recomputes the checksum the way a forger
would (it is self-attested), so only the checks of ``engine/forest/model_io.py`` can tell. The
cases run with treelite's builder, reader and predictor (and nvForest's loader) replaced by
functions that fail the test: a case that reached native code would show it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.forest import train_forest
from facies.engine.forest.model_io import save_model
from tests.helpers import tiny_store, training_table

pytestmark = pytest.mark.usefixtures("cpu_only")
treelite = pytest.importorskip("treelite")
ATTRS = ("a", "b", "c")


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3)).astype(np.float32)
    codes = np.where(x[:, 0] > 0.3, 1, np.where(x[:, 1] > 0, 2, 3))
    table = training_table(codes, dict(zip(ATTRS, x.T)), ("sand", "shale", "salt"))
    return train_forest(table, ATTRS, name="m", trees=(3,), max_depth=5, seed=0, folds=2, n_jobs=1)


@pytest.fixture(scope="module")
def checkpoint(trained):
    """The forest as format 1 stored it (a treelite checkpoint), made before any case patches treelite away."""
    import treelite.sklearn

    return bytes(treelite.sklearn.import_model(trained.classifier).serialize_bytes())


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return tiny_store(tmp_path_factory.mktemp("safety") / "s.zarr", names=ATTRS)


def store_raw(survey, raw: bytes, meta: dict, name: str = "m") -> None:
    """Write ``raw`` as ``models/<name>`` with ``meta``, the checksum recomputed as a forger would."""
    group = survey.group.require_group("models")
    if name in group:
        del group[name]
    data = np.frombuffer(raw, dtype=np.uint8)
    meta = {**meta, "sha256": hashlib.sha256(raw).hexdigest()}
    array = group.create_array(name, shape=data.shape, dtype=np.uint8, chunks=(max(1, data.size),),
                               attributes={"facies": meta})
    array[...] = data


def dump(doc) -> bytes:
    return json.dumps(doc).encode()  # allow_nan: a forger is not bound by our writer's rules


def first_tree(doc) -> dict:
    return doc["trees"][0]


def splits(tree) -> list[int]:
    return [i for i, left in enumerate(tree["children_left"]) if left != -1]


def leaves(tree) -> list[int]:
    return [i for i, left in enumerate(tree["children_left"]) if left == -1]


def parent_of(tree) -> dict[int, int]:
    return {child: node for node in splits(tree)
            for child in (tree["children_left"][node], tree["children_right"][node])}


def grandchild_split(tree) -> tuple[int, int]:
    """A split node whose parent is not the root, and that parent."""
    parents = parent_of(tree)
    node = next(n for n in splits(tree) if parents.get(n, 0) != 0)
    return node, parents[node]


def edit_tree(change):
    """A case editing tree 0 of the document in place."""
    def case(doc, meta):
        change(first_tree(doc))
        return dump(doc), meta
    return case


def edit_meta(change):
    """A case editing the metadata (the document stays as written)."""
    def case(doc, meta):
        change(meta)
        return dump(doc), meta
    return case


def set_item(key, index, value):
    def change(tree):
        tree[key][index] = value
    return change


def make_cycle(tree):
    node, parent = grandchild_split(tree)
    tree["children_left"][node] = parent  # back up to an ancestor


def make_leaf(tree):
    node = splits(tree)[1]
    tree["children_left"][node] = tree["children_right"][node] = tree["feature"][node] = -1


def infinite_threshold(doc, meta):
    first_tree(doc)["threshold"][0] = 12345.678
    return dump(doc).replace(b"12345.678", b"1e999"), meta  # a finite-looking literal that parses to inf


def old_checkpoint(meta, checkpoint):
    """The crash of the issue: a format-1 treelite checkpoint with changed payload bytes."""
    raw = bytearray(checkpoint)
    raw[len(raw) // 2:len(raw) // 2 + 64] = b"\xff" * 64
    return bytes(raw), {**meta, "format_version": 1}


#: (case id, how to damage (doc, meta) -> (bytes, meta), the fragment(s) of the one error line).
CASES = [
    ("truncated-json", lambda doc, meta: (dump(doc)[:-7], meta), "not valid JSON"),
    ("not-utf8", lambda doc, meta: (b"\xff\xfe" + dump(doc), meta), "not valid JSON"),
    ("deep-nesting", lambda doc, meta: (b"[" * 100_000, meta), "not valid JSON"),
    ("not-an-object", lambda doc, meta: (b"[1, 2]", meta), 'is not {"trees": [...]}'),
    ("nan-threshold", edit_tree(set_item("threshold", 0, math.nan)), "NaN is not a finite number"),
    ("infinite-threshold", infinite_threshold, "threshold that is not finite"),
    ("missing-key", edit_tree(lambda t: t.pop("feature")), "missing keys feature"),
    ("unknown-key", edit_tree(lambda t: t.update(pickle="cos\nsystem")), "unknown keys pickle"),
    ("tree-not-object", lambda doc, meta: (dump({"trees": [[1, 2]] + doc["trees"][1:]}), meta),
     "tree 0: not a JSON object"),
    ("string-index", edit_tree(set_item("children_left", 0, "1")), "children_left is not a list of integers"),
    ("float-feature", edit_tree(set_item("feature", 0, 0.5)), "feature is not a list of integers"),
    ("null-threshold", edit_tree(set_item("threshold", 0, None)), "threshold is not a list of numbers"),
    ("huge-index", edit_tree(set_item("children_left", 0, 2**70)), "children_left is not a list of integers"),
    ("nested-children", edit_tree(lambda t: t.update(children_right=[[c] for c in t["children_right"]])),
     "children_right has shape"),
    ("short-array", edit_tree(lambda t: t["children_right"].pop()), "children_right is not a list of"),
    ("missing-leaf-vector", edit_tree(lambda t: t["leaf_values"].pop()), "leaf_values is not a list of"),
    ("long-leaf-vectors", edit_tree(lambda t: [v.append(0.0) for v in t["leaf_values"]]), "leaf_values has shape"),
    ("ragged-leaf-vectors", edit_tree(lambda t: t["leaf_values"][0].append(0.0)), "leaf_values is not a list of"),
    ("string-probability", edit_tree(lambda t: t["leaf_values"][0].__setitem__(0, "1")),
     "leaf_values is not a list of lists of numbers"),
    ("negative-probability", edit_tree(set_item("leaf_values", 0, [1.5, -0.5, 0.0])), "negative or non-finite"),
    ("probabilities-not-summing-to-1", edit_tree(set_item("leaf_values", 0, [0.5, 0.2, 0.1])), "do not sum to 1"),
    ("child-out-of-range", edit_tree(set_item("children_left", 0, 10**6)), "outside 1.."),
    ("negative-child", edit_tree(set_item("children_left", 0, -5)), "outside 1.."),
    ("root-as-child", edit_tree(set_item("children_right", 0, 0)), "outside 1.."),
    ("one-child", edit_tree(lambda t: t["children_right"].__setitem__(splits(t)[1], -1)), "has one child"),
    ("feature-out-of-range", edit_tree(set_item("feature", 0, 3)), "tests feature 3, outside 0..2"),
    ("leaf-with-feature", edit_tree(lambda t: t["feature"].__setitem__(leaves(t)[0], 0)), "has feature 0, not -1"),
    ("cycle", edit_tree(make_cycle), "reached twice from the root"),
    ("shared-child", edit_tree(lambda t: t["children_right"].__setitem__(0, t["children_left"][0])),
     "reached twice from the root"),
    ("unreachable-nodes", edit_tree(make_leaf), "not reachable from the root"),
    ("deeper-than-max-depth", edit_meta(lambda m: m.update(max_depth=2)), "children_left is not a list of 1..7 nodes"),
    ("tree-count-mismatch", edit_meta(lambda m: m.update(trees=4)), "holds 3 trees, the metadata says 4"),
    ("too-many-trees", edit_meta(lambda m: m.update(trees=10_001)), "trees is 10001, not an integer in 1..10000"),
    ("tree-count-as-string", edit_meta(lambda m: m.update(trees="3")), "trees is '3'"),
    ("max-depth-too-large", edit_meta(lambda m: m.update(max_depth=65)), "max_depth is 65"),
    ("bad-code", edit_meta(lambda m: m.update(codes=[1, 2, 300])), "codes is not a list of 3 facies codes"),
    ("one-facies", edit_meta(lambda m: m.update(facies_names=["sand"])), "facies_names lists 1 facies"),
    ("missing-attributes", edit_meta(lambda m: m.pop("attributes")), "attributes is not a list of names"),
    ("zero-std", edit_meta(lambda m: m.update(normalisation={"mean": [0, 0, 0], "std": [1, 0, 1]})),
     "normalisation std of attribute 1 is 0, outside 1e-20..1e+30"),
    ("tiny-std", edit_meta(lambda m: m.update(normalisation={"mean": [0, 0, 0], "std": [1, 1e-45, 1]})),
     "normalisation std of attribute 1 is 1e-45"),
    ("huge-std", edit_meta(lambda m: m.update(normalisation={"mean": [0, 0, 0], "std": [1, 1, 1e35]})),
     "normalisation std of attribute 2 is 1e+35"),
    ("huge-mean", edit_meta(lambda m: m.update(normalisation={"mean": [0, -1e38, 0], "std": [1, 1, 1]})),
     "normalisation mean of attribute 1 is -1e+38"),
    ("mean-beyond-float32", edit_meta(lambda m: m.update(normalisation={"mean": [0, 1e300, 0], "std": [1, 1, 1]})),
     "normalisation mean of attribute 1 is 1e+300"),
    ("facies-names-clash-as-arrays", edit_meta(lambda m: m.update(facies_names=["a b", "a_b", "mtd"])),
     "facies 'a b' and 'a_b' would both be written to the array 'prob_m_a_b'"),
    ("facies-names-without-letters", edit_meta(lambda m: m.update(facies_names=["?", "!", "mtd"])),
     "would both be written to the array 'prob_m_facies'"),
    ("facies-name-too-long", edit_meta(lambda m: m.update(facies_names=["x" * 300, "shale", "salt"])),
     "its prediction would write an invalid array name"),
    ("attribute-is-an-output", edit_meta(lambda m: m.update(attributes=["a", "confidence_m", "c"])),
     "attribute 'confidence_m' is also an array its prediction writes"),
    ("attribute-is-the-trace-mask", edit_meta(lambda m: m.update(attributes=["a", "trace_mask", "c"])),
     "attribute 'trace_mask' is not the name of an array the prediction may read"),
    ("attribute-is-a-path", edit_meta(lambda m: m.update(attributes=["a", "../b", "c"])),
     "attribute '../b' is not the name of an array"),
    ("cv-not-an-object", edit_meta(lambda m: m.update(cv=[1])), "cv is not a JSON object"),
    ("version-as-string", edit_meta(lambda m: m.update(format_version="2")), "format_version '2' is not an integer"),
    ("newer-format", edit_meta(lambda m: m.update(format_version=3)), "upgrade facies"),
    ("no-marker", edit_meta(lambda m: m.pop("format")), "is not a facies random forest"),
    ("old-treelite-checkpoint", "old", ("old format 1 (a raw treelite checkpoint", "--name m ... --overwrite")),
]


def native_code_reached(*args, **kwargs):
    raise AssertionError("native code reached")


@pytest.fixture
def no_native_code(monkeypatch):
    """treelite's builder, checkpoint reader, sklearn importer and predictor, and nvForest's loader, all refuse."""
    import treelite.gtil
    import treelite.model_builder
    import treelite.sklearn

    from facies.engine.forest import cpu_native, cpu_numpy, predict

    # The CPU default walks the trees itself (compiled, else NumPy): both are the native code here.
    monkeypatch.setattr(cpu_native, "predict_rows", native_code_reached)
    monkeypatch.setattr(cpu_numpy.NumpyWalker, "predict_block", native_code_reached)
    monkeypatch.setattr(treelite.model_builder, "ModelBuilder", native_code_reached)
    monkeypatch.setattr(treelite.Model, "deserialize_bytes", native_code_reached)
    monkeypatch.setattr(treelite.sklearn, "import_model", native_code_reached)
    monkeypatch.setattr(treelite.gtil, "predict", native_code_reached)
    monkeypatch.setattr(predict, "_nvforest", lambda: None)


@pytest.mark.parametrize("damage, message", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_crafted_model_is_one_error_line_before_any_native_code(survey, trained, checkpoint, no_native_code,
                                                                damage, message):
    doc, meta = json.loads(trained.model.document), copy.deepcopy(trained.model.metadata())
    raw, meta = old_checkpoint(meta, checkpoint) if damage == "old" else damage(doc, meta)
    store_raw(survey, raw, meta)
    result = CliRunner().invoke(app, ["rf", "predict", str(survey.path), "--model", "m", "--device", "cpu"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and "native code reached" not in result.output
    assert all(fragment in lines[0] for fragment in ([message] if isinstance(message, str) else message)), lines[0]
    assert not [v for v in survey.volumes(include_incomplete=True) if v.endswith("_m") or v.startswith("prob_m_")]
    assert "Warning" not in result.output  # e.g. no RuntimeWarning of an overflow: the model never ran


def test_a_model_that_could_not_be_read_back_is_not_stored(tmp_path, trained):
    """save_model applies load_model's checks first: nothing is written, an old model of the name stays."""
    from facies.engine.errors import FaciesError
    from facies.engine.forest.model_io import list_models, load_model

    survey = tiny_store(tmp_path / "s.zarr", names=ATTRS)
    save_model(survey, trained.model)
    clash = copy.copy(trained.model)
    clash.facies_names = ["a b", "a_b", "mtd"]
    with pytest.raises(FaciesError, match="model 'm' cannot be stored: facies 'a b' and 'a_b' would both"):
        save_model(survey, clash, overwrite=True)
    assert list_models(survey) == ["m"] and load_model(survey, "m").facies_names == trained.model.facies_names
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "models").iterdir()) == ["m", "zarr.json"]


def test_a_fitted_normalisation_is_one_a_model_may_hold():
    """A column with a spread below MIN_STD is scaled like a constant one (std 1), so its model loads."""
    from facies.engine.forest import Normalisation
    from facies.engine.forest.model import MIN_STD

    x = np.stack([np.linspace(0, 1, 50), np.linspace(0, 1e-24, 50), np.full(50, 7.0)], axis=1)  # spreads 0.3, 3e-25, 0
    norm = Normalisation.fit(x.astype(np.float32))
    assert norm.std.dtype == np.float32 and norm.std[1] == 1 and norm.std[2] == 1
    assert norm.std[0] > MIN_STD and (norm.std.astype(np.float64) >= MIN_STD).all()


def test_a_valid_model_does_reach_the_patched_builder(survey, trained, no_native_code):
    """The control: the patch sits where prediction builds the forest, so the cases above would have hit it."""
    save_model(survey, trained.model, overwrite=True)
    result = CliRunner().invoke(app, ["rf", "predict", str(survey.path), "--model", "m", "--device", "cpu"])
    assert isinstance(result.exception, AssertionError) and str(result.exception) == "native code reached"


def test_a_tree_deeper_than_its_max_depth_is_refused_within_the_node_bound():
    """7 nodes fit the 2**(2 + 1) - 1 bound of max_depth 2, but this chain is 3 deep."""
    from facies.engine.forest.model_io import _Damaged, forest_from_document

    tree = {"children_left": [1, 3, -1, 5, -1, -1, -1], "children_right": [2, 4, -1, 6, -1, -1, -1],
            "feature": [0, 0, -1, 0, -1, -1, -1], "threshold": [0.0, -1.0, 0, -2.0, 0, 0, 0],
            "leaf_values": [[1.0, 0.0], [0.25, 0.75], [0, 1], [0.5, 0.5]]}
    raw = json.dumps({"trees": [tree]}).encode()
    assert forest_from_document(raw, n_features=1, n_classes=2, trees=1, max_depth=3)[0].node_count == 7
    with pytest.raises(_Damaged, match="tree 0: depth 3 exceeds the max_depth 2 it was trained with"):
        forest_from_document(raw, n_features=1, n_classes=2, trees=1, max_depth=2)


@pytest.mark.parametrize("checksummed, message", [(True, "is damaged (chunk 0 does not match its checksum)"),
                                                   (False, "is damaged (its bytes cannot be decoded")])
def test_a_chunk_its_codec_cannot_decode_is_one_error_line(tmp_path, trained, checksummed, message):
    """Garbage chunk bytes: the store's checksum finds them first; without one (zarr's default codecs), the codec."""
    survey = tiny_store(tmp_path / "s.zarr", names=ATTRS)
    if checksummed:
        save_model(survey, trained.model)
    else:
        store_raw(survey, trained.model.document, trained.model.metadata())
    chunk = next(p for p in (tmp_path / "s.zarr" / "models" / "m").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"garbage" * 10)
    result = CliRunner().invoke(app, ["rf", "predict", str(survey.path), "--model", "m", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: model 'm' in ") and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
