"""Random forest: training report, safe model storage, nvForest/treelite == scikit-learn, survey prediction.

Prediction needs treelite (its model builder turns the stored JSON trees into the forest it and
nvForest run); only the tests of nvForest itself need nvForest (elsewhere the treelite engine
stands in for it). Crafted and damaged models: tests/test_forest_model_safety.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from facies.engine import FaciesError
from facies.engine.bricks.operator import Chain
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunInterrupted
from facies.engine.forest import (ForestOperator, ForestPredictor, Normalisation, classify_rows, load_model,
                                  predict_survey, save_model, train_forest)
from facies.engine.forest.predict import _nvforest
from facies.engine.forest.train import cumulative_tree_proba
from facies.engine.provenance import make_provenance
from tests.helpers import tiny_store, training_table

pytestmark = pytest.mark.usefixtures("cpu_only")
pytest.importorskip("treelite")
ATTRS = ("a", "b", "c")


def make_table(n=600, seed=0, names=("sand", "shale", "salt")):
    """Three facies separated by thresholds on a and b; c is noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    codes = np.where(x[:, 0] > 0.3, 1, np.where(x[:, 1] > 0, 2, 3))
    return training_table(np.minimum(codes, len(names)), dict(zip(ATTRS, x.T)), names)


@pytest.fixture(scope="module")
def trained():
    return train_forest(make_table(), ATTRS, name="m", trees=(4, 8), max_depth=6, seed=3, n_jobs=1)


def test_report_holds_folds_candidates_confusion_and_importances(trained):
    r = trained.report
    assert r["folds"] == 5 and [c["trees"] for c in r["candidates"]] == [4, 8]
    assert all(len(c["fold_accuracy"]) == 5 for c in r["candidates"])
    best = max(r["candidates"], key=lambda c: (c["mean_accuracy"], -c["trees"]))
    assert r["best_trees"] == best["trees"] == trained.model.trees == len(trained.classifier.estimators_)
    cm = np.array(r["confusion"]["rows_true_columns_predicted"])
    assert cm.shape == (3, 3) and cm.sum() == 600
    assert [f["support"] for f in r["facies"]] == cm.sum(axis=1).tolist()
    assert np.isclose(sum(i["importance"] for i in r["importances"]), 1.0)
    imp = {i["attribute"]: i["importance"] for i in r["importances"]}
    assert imp["c"] < min(imp["a"], imp["b"])  # the noise column matters least
    assert best["mean_accuracy"] > 0.9


def test_first_k_trees_are_the_k_tree_forest():
    """The CV shortcut: the first k trees of a seeded forest equal scikit-learn's k-tree forest."""
    t = make_table(300, seed=5)
    x, y = t.matrix(ATTRS), t.codes
    big = RandomForestClassifier(6, max_depth=5, random_state=7).fit(x, y)
    small = RandomForestClassifier(3, max_depth=5, random_state=7).fit(x, y)
    np.testing.assert_allclose(cumulative_tree_proba(big, x, [3])[3], small.predict_proba(x), rtol=0, atol=1e-15)


def test_nvforest_cpu_equals_sklearn_predict_proba(trained):
    pytest.importorskip("nvforest")
    x = np.random.default_rng(9).standard_normal((2000, 3)).astype(np.float32) * 2
    predictor = ForestPredictor(trained.model, "cpu", engine="nvforest")
    assert predictor.engine == "nvforest"
    np.testing.assert_allclose(predictor.predict_proba(x), trained.classifier.predict_proba(x), rtol=0, atol=1e-12)


def test_treelite_fallback_equals_sklearn(trained):
    x = np.random.default_rng(10).standard_normal((500, 3)).astype(np.float32)
    predictor = ForestPredictor(trained.model, "cpu", engine="treelite")
    np.testing.assert_allclose(predictor.predict_proba(x), trained.classifier.predict_proba(x), rtol=0, atol=1e-12)


def test_gpu_predictor_uses_nvforest_whatever_the_cpu_engine_choice(trained, monkeypatch):
    """``engine`` chooses the CPU's engine; on the GPU nvForest runs (predict_survey's contract)."""
    import types

    from facies.engine.forest import predict

    loaded = []
    fake = types.SimpleNamespace(load_from_treelite_model=lambda model, device: loaded.append(device) or "forest")
    monkeypatch.setattr(predict, "_nvforest", lambda: fake)
    sync = types.SimpleNamespace(deviceSynchronize=lambda: None)  # after the upload (test_forest_gpu_streams.py)
    monkeypatch.setattr(predict, "_cupy", lambda: types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=sync)))
    assert ForestPredictor(trained.model, "gpu", engine="treelite").engine == "nvforest"
    assert loaded == ["gpu"]
    assert ForestPredictor(trained.model, "cpu", engine="treelite").engine == "treelite"


def test_normalised_model_predicts_like_sklearn_on_normalised_rows():
    trained = train_forest(make_table(), ATTRS, name="z", trees=(5,), max_depth=6, normalise=True, n_jobs=1)
    norm = trained.model.normalisation
    assert norm is not None and np.all(norm.std > 0)
    x = np.random.default_rng(1).standard_normal((400, 3)).astype(np.float32)
    codes, proba, conf = classify_rows(x, np.ones(400, bool), ForestPredictor(trained.model, "cpu"))
    ref = trained.classifier.predict_proba(norm.apply(x))
    np.testing.assert_allclose(proba, ref.astype(np.float32), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(codes, trained.classifier.predict(norm.apply(x)))
    np.testing.assert_allclose(conf, proba.max(axis=1))


def test_dead_and_nan_rows_get_code_zero(trained):
    x = np.random.default_rng(2).standard_normal((50, 3)).astype(np.float32)
    x[3, 1] = np.nan
    live = np.ones(50, bool)
    live[7] = False
    codes, proba, conf = classify_rows(x, live, ForestPredictor(trained.model, "cpu"))
    assert codes[3] == codes[7] == 0 and conf[3] == conf[7] == 0 and not proba[[3, 7]].any()
    assert np.all(codes[[i for i in range(50) if i not in (3, 7)]] > 0)


def test_save_load_round_trip_gives_identical_predictions(tmp_path, trained):
    survey = tiny_store(tmp_path / "s.zarr", names=ATTRS)
    save_model(survey, trained.model)
    back = load_model(survey, "m")
    assert back.document == trained.model.document and back.sha256 == trained.model.sha256
    assert back.attributes == list(ATTRS) and len(back.forest) == trained.model.trees
    for mine, theirs in zip(back.forest, trained.classifier.estimators_):
        np.testing.assert_array_equal(mine.children_left, theirs.tree_.children_left)
        split = theirs.tree_.feature >= 0
        np.testing.assert_array_equal(mine.threshold[split], theirs.tree_.threshold[split])
    assert back.codes == [1, 2, 3] and back.cv["best_trees"] == trained.model.trees
    x = np.random.default_rng(4).standard_normal((300, 3)).astype(np.float32)
    np.testing.assert_array_equal(ForestPredictor(back, "cpu").predict_proba(x),
                                  ForestPredictor(trained.model, "cpu").predict_proba(x))
    with pytest.raises(FaciesError, match="already exists"):
        save_model(survey, trained.model)


def test_chunked_prediction_equals_whole_and_dead_traces_are_zero(tmp_path, trained):
    survey = tiny_store(tmp_path / "s.zarr", shape=(9, 7, 13), chunks=(2, 3, 5), names=ATTRS)
    save_model(survey, trained.model)
    result = predict_survey(survey, "m", options=RunOptions(device="cpu", brick=(2, 3, 5), progress=False))
    assert result.run.bricks_total == 5 * 3 * 3
    volumes = {a: survey.read(a) for a in ATTRS}
    volumes["trace_mask"] = survey.geometry.trace_mask  # 2D, as the store keeps it
    whole = Chain([ForestOperator(trained.model)], survey.shape).run_whole(volumes)
    for name in [result.classes, *result.probabilities, result.confidence]:
        np.testing.assert_array_equal(survey.read(name), whole[name], err_msg=name)
    codes = survey.read(result.classes)
    dead = ~survey.geometry.trace_mask
    assert dead.any() and np.all(codes[dead] == 0) and np.all(codes[~dead] > 0)
    x = np.stack([volumes[a][~dead].reshape(-1) for a in ATTRS], axis=1)
    np.testing.assert_array_equal(codes[~dead].reshape(-1), trained.classifier.predict(x))
    assert survey.group[result.classes].attrs["facies_codes"] == {"1": "sand", "2": "shale", "3": "salt"}


def test_interrupted_prediction_resumes_to_the_uninterrupted_result(tmp_path, trained, monkeypatch):
    survey = tiny_store(tmp_path / "s.zarr", shape=(8, 6, 10), chunks=(2, 3, 5), names=ATTRS)
    save_model(survey, trained.model)
    compute, calls = ForestOperator.compute, []

    def interrupt_on_fifth_brick(self, inputs, xp):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as Ctrl-C would
        return compute(self, inputs, xp)

    monkeypatch.setattr(ForestOperator, "compute", interrupt_on_fifth_brick)
    with pytest.raises(RunInterrupted, match="--resume"):
        predict_survey(survey, "m", options=RunOptions(device="cpu", brick=(2, 3, 5), progress=False))
    monkeypatch.setattr(ForestOperator, "compute", compute)
    assert not survey.is_complete("facies_m")
    again = predict_survey(survey, "m", options=RunOptions(device="cpu", resume=True, progress=False))
    assert 0 < again.run.bricks_skipped < again.run.bricks_total == 16
    volumes = {a: survey.read(a) for a in ATTRS}
    volumes["trace_mask"] = survey.geometry.trace_mask
    whole = Chain([ForestOperator(trained.model)], survey.shape).run_whole(volumes)
    for name in [again.classes, *again.probabilities, again.confidence]:
        np.testing.assert_array_equal(survey.read(name), whole[name], err_msg=name)


def test_resume_after_the_model_was_retrained_is_refused(tmp_path, trained):
    """``rf predict --resume`` after ``rf train --overwrite`` must not keep the old model's predictions."""
    survey = tiny_store(tmp_path / "s.zarr", shape=(8, 6, 10), chunks=(2, 3, 5), names=ATTRS)
    save_model(survey, trained.model)
    predict_survey(survey, "m", options=RunOptions(device="cpu", progress=False))
    assert predict_survey(survey, "m", options=RunOptions(device="cpu", resume=True,
                                                          progress=False)).run.already_complete
    other = train_forest(make_table(seed=1), ATTRS, name="m", trees=(3,), max_depth=4, seed=1, n_jobs=1)
    save_model(survey, other.model, overwrite=True)
    with pytest.raises(FaciesError, match="cannot resume 'facies_m': it was made with other parameters "
                                          r"\(.*sha256.*--overwrite"):
        predict_survey(survey, "m", options=RunOptions(device="cpu", resume=True, progress=False))


def test_model_on_missing_attribute_is_a_clear_error(tmp_path, trained):
    survey = tiny_store(tmp_path / "s.zarr", names=("a", "b"))
    save_model(survey, trained.model)
    with pytest.raises(FaciesError, match=r"trained on a, b, c but survey .* has no complete volume 'c'"):
        predict_survey(survey, "m", options=RunOptions(device="cpu", progress=False))


def test_one_facies_table_is_a_clear_error():
    table = make_table(100, names=("only",))
    with pytest.raises(FaciesError, match="only one facies \\(only\\)"):
        train_forest(table, ATTRS, trees=(3,), n_jobs=1)


def test_array_that_is_not_our_model_is_refused(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    group = survey.group.require_group("models")
    group.create_array("alien", data=np.frombuffer(b"\x80\x04not a forest", np.uint8))
    with pytest.raises(FaciesError, match="models/alien .* is not a facies random forest"):
        load_model(survey, "alien")
    with pytest.raises(FaciesError, match="has no model 'nothing' \\(models: alien\\)"):
        load_model(survey, "nothing")


def test_bytes_changed_without_the_checksum_are_refused(tmp_path, trained):
    survey = tiny_store(tmp_path / "s.zarr")
    save_model(survey, trained.model)
    array = survey.group["models/m"]
    array[:1] = np.frombuffer(b" ", np.uint8)  # still valid JSON: only the checksum tells
    with pytest.raises(FaciesError, match=r"model 'm' in .* is damaged \(checksum mismatch\); train it again: "
                                          r"facies rf train .* --name m \.\.\. --overwrite"):
        load_model(survey, "m")


def test_a_length_claimed_in_zarr_json_is_not_allocated_before_the_chunks_are_counted(tmp_path, trained):
    """A model's zarr.json edited to claim a terabyte: refused as damaged at once, not read into memory."""
    import json

    survey = tiny_store(tmp_path / "s.zarr")
    save_model(survey, trained.model)
    path = tmp_path / "s.zarr" / "models" / "m" / "zarr.json"
    doc = json.loads(path.read_text())
    doc["shape"] = [10 ** 12]
    path.write_text(json.dumps(doc))
    with pytest.raises(FaciesError, match=r"model 'm' in .* is damaged \(\d+ of its \d+ chunks are missing\)"):
        load_model(survey, "m")


@pytest.mark.parametrize("classes, max_depth", [(2, 5), (3, None), (5, 12)])
def test_stored_trees_predict_exactly_like_sklearn(tmp_path, classes, max_depth):
    """2 facies, trees grown until pure, 5 facies: treelite and nvForest from the stored JSON == predict_proba."""
    names = ("sand", "shale", "salt", "mtd", "carbonate")[:classes]
    rng = np.random.default_rng(classes)
    x = rng.standard_normal((800, 3)).astype(np.float32)
    codes = np.digitize(x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(800), np.linspace(-1, 1, classes - 1)) + 1
    table = training_table(codes, dict(zip(ATTRS, x.T)), names)
    trained = train_forest(table, ATTRS, name="e", trees=(7,), max_depth=max_depth, seed=2, folds=2, n_jobs=1)
    survey = tiny_store(tmp_path / "s.zarr")
    save_model(survey, trained.model)
    back = load_model(survey, "e")
    rows = rng.standard_normal((3000, 3)).astype(np.float32) * 1.5
    expected = trained.classifier.predict_proba(rows)
    engines = ["treelite"] + (["nvforest"] if _nvforest() is not None else [])
    for engine in engines:
        np.testing.assert_allclose(ForestPredictor(back, "cpu", engine=engine).predict_proba(rows), expected,
                                   rtol=0, atol=1e-12, err_msg=engine)


@pytest.mark.parametrize("trees, max_depth, message", [
    ((10_001,), None, "--trees 10001 is more than 10000 trees"),
    ((0, 5), None, "tree counts must be positive"),
    ((5,), 65, "--max-depth must be an integer in 1..64"),
    ((5,), 0, "--max-depth must be an integer in 1..64"),
])
def test_tree_count_and_depth_are_bounded(trees, max_depth, message):
    with pytest.raises(FaciesError, match=message.replace(".", "\\.")):
        train_forest(make_table(50), ATTRS, trees=trees, max_depth=max_depth, n_jobs=1)


def test_provenance_kept(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    trained = train_forest(make_table(200), ATTRS, name="p", trees=(2,), n_jobs=1,
                           provenance=make_provenance("test", {"x": 1}))
    save_model(survey, trained.model)
    assert load_model(survey, "p").provenance["parameters"] == {"x": 1}


def test_normalisation_keeps_a_constant_column_at_scale_one():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], np.float32)
    norm = Normalisation.fit(x)
    np.testing.assert_array_equal(norm.mean, [3.0, 5.0])
    np.testing.assert_allclose(norm.std, [np.sqrt(8 / 3), 1.0], rtol=1e-7)
    np.testing.assert_array_equal(norm.apply(x)[:, 1], 0)


@pytest.mark.parametrize("name", ["", "_m", "-m", "a/b", "a.b"])
def test_bad_model_names_are_refused(tmp_path, trained, name):
    from dataclasses import replace

    survey = tiny_store(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="model name .* is not valid"):
        save_model(survey, replace(trained.model, name=name))


def test_training_mask_marks_the_table_voxels_and_refuses_off_grid_rows(tmp_path):
    from facies.engine.forest.evaluate import training_mask

    survey = tiny_store(tmp_path / "s.zarr")  # inlines 100, 102..., crosslines 7, 8..., samples 8, 12... ms
    table = training_table([1, 2], {"a": [0.0, 1.0]})
    table.inline[1], table.crossline[1], table.sample[1] = 104, 9, 20.0
    mask = training_mask(survey, table)
    assert mask.sum() == 2 and mask[0, 0, 0] and mask[2, 2, 3]
    table.inline[1] = 101
    with pytest.raises(FaciesError, match="inline 101"):
        training_mask(survey, table)


def test_a_forest_too_large_to_store_is_refused_at_training(monkeypatch):
    """It could be saved but never loaded: say so when training, not when predicting."""
    from facies.engine.forest import train

    monkeypatch.setattr(train, "MAX_TOTAL_NODES", 10)
    with pytest.raises(FaciesError, match="the forest has .* nodes, .* at most .* in all: set --max-depth"):
        train_forest(make_table(100), ATTRS, trees=(3,), n_jobs=1)
