"""facies' CPU forest engines (engine/forest/cpu_*.py): scikit-learn's probabilities, the compiled kernel's cache,
and the fall-back to NumPy without a C compiler.

Probabilities are compared with ``RandomForestClassifier.predict_proba`` of fresh forests (2 to 5 classes,
shallow to grown until pure) on rows that sit exactly on, just above and just below the split thresholds, to
1e-12. The cache tests use a cache folder of their own (``FACIES_CACHE_DIR``); the kernel is compiled once for
the module, and again only where a test needs a fresh compile.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from facies.engine.errors import FaciesError
from facies.engine.forest import cpu_cache, cpu_native
from facies.engine.forest.cpu_layout import _floor_float32, check_layout, traversal_layout
from facies.engine.forest.cpu_predict import CpuForest
from facies.engine.forest.model import ForestModel, trees_from_sklearn
from facies.engine.forest.predict import ForestPredictor, classify_rows

REPO = Path(__file__).resolve().parents[1]


def forest_and_model(classes: int, max_depth: int | None, seed: int, trees: int = 6, features: int = 4):
    """A fitted scikit-learn forest on noisy data (leaves at many depths) and the facies model of its trees."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((600, features)).astype(np.float32)
    score = x[:, 0] + x[:, 1] * x[:, 2] + 0.5 * rng.standard_normal(600)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    forest = RandomForestClassifier(trees, max_depth=max_depth, random_state=seed, n_jobs=1).fit(x, y)
    model = ForestModel(name="t", forest=trees_from_sklearn(forest), attributes=[f"a{i}" for i in range(features)],
                        facies_names=[f"f{i}" for i in range(classes)], codes=list(range(1, classes + 1)),
                        trees=trees, max_depth=max_depth)
    return forest, model


def rows_on_thresholds(forest, n: int, seed: int) -> np.ndarray:
    """Rows whose every value is a split threshold rounded to float32 down, to nearest, or one float32 above:
    each comparison of the walk is decided at its boundary. Plus some ordinary rows."""
    rng = np.random.default_rng(seed)
    features = forest.n_features_in_
    columns = []
    for f in range(features):
        thresholds = np.concatenate([e.tree_.threshold[e.tree_.feature == f] for e in forest.estimators_])
        if thresholds.size == 0:
            thresholds = np.zeros(1)
        down = _floor_float32(thresholds)
        near = thresholds.astype(np.float32)
        up = np.nextafter(down, np.float32(np.inf))
        columns.append(rng.choice(np.concatenate([down, near, up]), n))
    x = np.stack(columns, axis=1).astype(np.float32)
    x[: n // 4] = rng.standard_normal((n // 4, features)) * 3
    return x


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A cache folder for the module, the kernel compiled into it once."""
    folder = tmp_path_factory.mktemp("facies-cache")
    before = os.environ.get(cpu_cache.CACHE_ENV)
    os.environ[cpu_cache.CACHE_ENV] = str(folder)
    cpu_native.forget_loaded()
    assert cpu_native.load_kernel() is not None, "the kernel should compile where a C compiler is installed"
    yield folder
    cpu_native.forget_loaded()
    if before is None:
        del os.environ[cpu_cache.CACHE_ENV]
    else:
        os.environ[cpu_cache.CACHE_ENV] = before


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder of this test; the process forgets the libraries it loaded before and after."""
    monkeypatch.setenv(cpu_cache.CACHE_ENV, str(tmp_path / "cache"))
    cpu_native.forget_loaded()
    yield tmp_path / "cache" / "compiled"
    cpu_native.forget_loaded()


needs_cc = pytest.mark.skipif(cpu_native.compiler() is None, reason="no C compiler")


# -- probabilities ----------------------------------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("classes, max_depth", [(2, 3), (3, 8), (4, None), (5, 12)])
@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_probabilities_equal_sklearn_on_and_around_every_threshold(cache_dir, classes, max_depth, engine):
    forest, model = forest_and_model(classes, max_depth, seed=classes)
    rows = rows_on_thresholds(forest, 3001, seed=classes)
    predictor = ForestPredictor(model, "cpu", engine, threads=2)
    assert predictor.engine == engine
    np.testing.assert_allclose(predictor.predict_proba(rows), forest.predict_proba(rows), rtol=0, atol=1e-12)


@needs_cc
def test_the_default_cpu_engine_is_the_compiled_walk(cache_dir):
    assert ForestPredictor(forest_and_model(3, 4, seed=0)[1], "cpu").engine == "compiled"


@needs_cc
@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_threads_and_block_edges_do_not_change_the_result(cache_dir, engine):
    """Row counts around the kernel's groups and blocks, on 1 to 3 threads: the same bits as one call per row set."""
    forest, model = forest_and_model(3, None, seed=7, trees=4)
    rows = rows_on_thresholds(forest, 20_000, seed=7)
    whole = CpuForest(model, engine=engine, threads=1).predict_proba(rows)
    np.testing.assert_allclose(whole, forest.predict_proba(rows), rtol=0, atol=1e-12)
    for threads in (2, 3):
        np.testing.assert_array_equal(CpuForest(model, engine=engine, threads=threads).predict_proba(rows), whole)
    walker = CpuForest(model, engine=engine, threads=2)
    for n in (0, 1, 15, 16, 17, 4097, 8193):
        np.testing.assert_array_equal(walker.predict_proba(rows[:n]), whole[:n])


@needs_cc
@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_nan_rows_and_dead_traces_get_code_zero_and_the_rest_sklearns_class(cache_dir, engine):
    forest, model = forest_and_model(4, 6, seed=3)
    x = np.random.default_rng(3).standard_normal((500, 4)).astype(np.float32)
    x[[5, 50], [1, 3]] = np.nan
    live = np.ones(500, bool)
    live[9] = False
    codes, proba, confidence = classify_rows(x, live, ForestPredictor(model, "cpu", engine))
    gone = np.zeros(500, bool)
    gone[[5, 50, 9]] = True
    assert not codes[gone].any() and not proba[gone].any() and not confidence[gone].any()
    expected = forest.predict_proba(x[~gone])
    np.testing.assert_array_equal(codes[~gone], np.asarray(model.codes)[expected.argmax(axis=1)])
    np.testing.assert_array_equal(proba[~gone], expected.astype(np.float32))


@needs_cc
def test_a_nan_goes_left_as_in_treelite(cache_dir):
    """predict_proba itself (classify_rows keeps NaN rows from it): a NaN takes the left branch, like treelite's
    predictor (default_left); infinities compare as numbers."""
    import treelite.gtil

    forest, model = forest_and_model(3, 5, seed=4)
    x = np.random.default_rng(4).standard_normal((200, 4)).astype(np.float32)
    x[::3, 0], x[1::3, 2], x[2::7, 1] = np.nan, np.inf, -np.inf
    reference = treelite.gtil.predict(model.treelite_model(), x).reshape(200, 3)
    for engine in ("compiled", "numpy"):
        np.testing.assert_allclose(CpuForest(model, engine=engine).predict_proba(x), reference, rtol=0, atol=1e-12)


def test_thresholds_are_floored_to_float32():
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 40, 1000), [0.0, -0.0, 1.0, 0.1],
                        [3.5e38, -3.5e38, 1e300, -1e300, 1e-50, -1e-50]])
    f = _floor_float32(t)
    with np.errstate(over="ignore"):
        above = np.nextafter(f, np.float32(np.inf))
    assert f.dtype == np.float32
    assert (f.astype(np.float64) <= t).all() and (above.astype(np.float64) > t).all()
    largest = np.finfo(np.float32).max
    assert f[-6] == f[-4] == largest and f[-5] == f[-3] == -np.inf and f[-2] == 0


def test_the_layout_checks_every_index_the_kernel_follows():
    """check_layout refuses arrays whose indices leave their arrays (the kernel does not check them)."""
    _, model = forest_and_model(3, 4, seed=1, trees=2)
    layout = traversal_layout(model.forest, 4)
    check_layout(layout)
    leaf = int(np.flatnonzero(layout.threshold == np.inf)[0])
    split = int(np.flatnonzero(layout.threshold != np.inf)[0])
    damage = {"feature": (split, 4), "child": (split, layout.threshold.size - 1), "value_row": (leaf, 10**6)}
    for name, (node, value) in damage.items():
        array = getattr(layout, name).copy()
        array[node] = value
        broken = type(layout)(**{**layout.__dict__, name: array})
        with pytest.raises(FaciesError, match="traversal layout is inconsistent"):
            check_layout(broken)
    child = layout.child.copy()
    child[leaf] = 0  # a leaf that moves on
    with pytest.raises(FaciesError):
        check_layout(type(layout)(**{**layout.__dict__, "child": child}))


@needs_cc
@pytest.mark.usefixtures("cpu_only")
def test_rf_predict_hands_only_checked_trees_to_the_walk(tmp_path, monkeypatch, cache_dir):
    """The seam of the crafted-model suite (tests/test_forest_model_safety.py): a valid model reaches the
    compiled kernel's call, a crafted one (a child index out of range, checksum recomputed) stops before it."""
    from typer.testing import CliRunner

    from facies.cli.app import app
    from facies.engine.forest import train_forest
    from facies.engine.forest.model_io import save_model
    from tests.helpers import tiny_store, training_table
    from tests.test_forest_model_safety import store_raw

    def native_code_reached(*args, **kwargs):
        raise AssertionError("native code reached")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3)).astype(np.float32)
    table = training_table(np.where(x[:, 0] > 0, 1, 2), dict(zip("abc", x.T)), ("sand", "shale"))
    model = train_forest(table, list("abc"), name="m", trees=(2,), max_depth=4, seed=0, folds=2, n_jobs=1).model
    survey = tiny_store(tmp_path / "s.zarr", names=tuple("abc"))
    save_model(survey, model)
    monkeypatch.setattr(cpu_native, "predict_rows", native_code_reached)
    command = ["rf", "predict", str(survey.path), "--model", "m", "--device", "cpu"]
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, AssertionError) and str(result.exception) == "native code reached"
    document = json.loads(model.document)
    document["trees"][0]["children_left"][0] = 10**6
    store_raw(survey, json.dumps(document).encode(), model.metadata())
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: model 'm'") and "damaged" in result.output


# -- the cache --------------------------------------------------------------------------------------------------


def _compile_counter(monkeypatch) -> list:
    calls: list = []
    real = cpu_native._compile

    def counted(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(cpu_native, "_compile", counted)
    return calls


@needs_cc
def test_a_second_load_takes_the_library_from_the_cache(fresh_cache, monkeypatch):
    calls = _compile_counter(monkeypatch)
    assert cpu_native.load_kernel() is not None and len(calls) == 1
    records = list(fresh_cache.glob("*.json"))
    assert len(records) == 1 and len(list(fresh_cache.glob("*.so"))) == 1
    assert (fresh_cache.stat().st_mode & 0o777) == 0o700
    record = json.loads(records[0].read_text())
    assert cpu_cache.file_sha256((fresh_cache / record["library"]).read_bytes()) == record["sha256"]
    cpu_native.forget_loaded()  # as a new process would
    assert cpu_native.load_kernel() is not None and len(calls) == 1
    assert not [p for p in fresh_cache.iterdir() if p.name.startswith(".")]  # no temporary file left


@needs_cc
@pytest.mark.parametrize("damage", ["corrupted", "foreign", "record-points-outside", "record-garbled"])
def test_a_library_that_does_not_match_its_record_is_not_loaded(fresh_cache, monkeypatch, damage):
    """A damaged or swapped library (or record) is never loaded: the kernel is compiled again and works."""
    assert cpu_native.load_kernel() is not None
    record_path = next(fresh_cache.glob("*.json"))
    record = json.loads(record_path.read_text())
    library = fresh_cache / record["library"]
    if damage == "corrupted":
        data = bytearray(library.read_bytes())
        data[len(data) // 2] ^= 0xFF
        library.write_bytes(bytes(data))
    elif damage == "foreign":  # another shared library with the right function name, under the recorded name
        source = fresh_cache.parent / "foreign.c"
        source.write_text("long long facies_forest_abi(void) { return 1016; }\n"
                          "void facies_forest_predict(void) { }\n")
        subprocess.run([*cpu_native.compiler(), "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    elif damage == "record-points-outside":
        outside = fresh_cache.parent / "elsewhere.so"
        outside.write_bytes(library.read_bytes())
        record["library"] = "../elsewhere.so"
        record_path.write_text(json.dumps(record))
    else:
        record_path.write_text("{not json")
    calls = _compile_counter(monkeypatch)
    cpu_native.forget_loaded()
    loaded = []
    real_cdll = cpu_native.ctypes.CDLL
    monkeypatch.setattr(cpu_native.ctypes, "CDLL",
                        lambda path: loaded.append(Path(path).read_bytes()) or real_cdll(path))
    assert cpu_native.load_kernel() is not None
    assert len(calls) == 1  # compiled again, not loaded
    fresh = json.loads(record_path.read_text())
    assert [cpu_cache.file_sha256(b) for b in loaded] == [fresh["sha256"]]
    forest, model = forest_and_model(3, 5, seed=2)
    rows = rows_on_thresholds(forest, 500, seed=2)
    np.testing.assert_allclose(CpuForest(model, engine="compiled").predict_proba(rows), forest.predict_proba(rows),
                               rtol=0, atol=1e-12)


@needs_cc
def test_a_cache_folder_others_may_write_to_is_not_used(fresh_cache, monkeypatch):
    fresh_cache.mkdir(parents=True)
    fresh_cache.chmod(0o777)
    calls = _compile_counter(monkeypatch)
    assert cpu_native.load_kernel() is not None and len(calls) == 1
    assert calls[0][1] is None and not list(fresh_cache.iterdir())  # compiled elsewhere, nothing cached


CONCURRENT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from facies.engine.forest import cpu_native
    time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
    library = cpu_native.load_kernel()
    print("loaded" if library is not None else "none")
""")


@needs_cc
def test_two_processes_compiling_at_once_both_load_a_sound_library(tmp_path):
    env = {**os.environ, cpu_cache.CACHE_ENV: str(tmp_path / "cache")}
    start = time.time() + 3  # both past their imports, then both find the cache empty
    processes = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(start)], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert [o[0].strip() for o in outputs] == ["loaded", "loaded"], outputs
    folder = tmp_path / "cache" / "compiled"
    key = next(folder.glob("*.json")).stem
    assert cpu_cache.verified_bytes(folder, key) is not None
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


# -- without a compiler -----------------------------------------------------------------------------------------


def test_without_a_compiler_the_numpy_walk_predicts(fresh_cache, monkeypatch, caplog):
    monkeypatch.setenv("FACIES_CC", "/nonexistent/cc")
    forest, model = forest_and_model(3, 6, seed=5)
    rows = rows_on_thresholds(forest, 1000, seed=5)
    with caplog.at_level(logging.WARNING, logger="facies"):
        predictor = ForestPredictor(model, "cpu")
        ForestPredictor(model, "cpu")
    assert predictor.engine == "numpy"
    assert [r.getMessage() for r in caplog.records if "C compiler" in r.getMessage()] == [
        "no C compiler found (cc, gcc or clang; or set CC): forest prediction on the CPU walks the trees in "
        "NumPy, several times slower"]  # once per process
    np.testing.assert_allclose(predictor.predict_proba(rows), forest.predict_proba(rows), rtol=0, atol=1e-12)
    with pytest.raises(FaciesError, match="engine compiled asked but the forest kernel cannot be compiled"):
        ForestPredictor(model, "cpu", "compiled")
    assert not fresh_cache.exists() or not list(fresh_cache.iterdir())


def test_a_compiler_that_fails_falls_back_to_numpy(fresh_cache, monkeypatch, caplog, tmp_path):
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo broken 1.0; exit 0; fi\n"
                      "echo 'broken-cc: internal error' >&2; exit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("FACIES_CC", str(broken))
    with caplog.at_level(logging.WARNING, logger="facies"):
        assert ForestPredictor(forest_and_model(2, 3, seed=6)[1], "cpu").engine == "numpy"
    assert any("fails on the forest kernel (broken-cc: internal error)" in r.getMessage() for r in caplog.records)
    assert not [p for p in fresh_cache.iterdir() if p.suffix == ".so"]


@needs_cc
def test_temporary_files_of_killed_processes_are_removed_after_a_day(fresh_cache):
    fresh_cache.mkdir(parents=True, mode=0o700)
    old, recent = fresh_cache / ".build-old.so", fresh_cache / ".build-recent.so"
    old.write_bytes(b"half a library")
    recent.write_bytes(b"another process compiling now")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert cpu_native.load_kernel() is not None
    assert not old.exists() and recent.exists()


def test_stale_cleanup_removes_only_facies_temporaries(tmp_path):
    """A killed build's old temporaries go; a user's own dot-files in the same folder stay, however old."""
    import os

    from facies.engine.forest.cpu_cache import STALE_SECONDS, remove_stale

    old = 0.0
    mine = [tmp_path / ".build-x.so", tmp_path / ".record-y.tmp", tmp_path / ".load-z.so"]
    theirs = [tmp_path / ".bashrc", tmp_path / ".config-notes"]
    fresh = tmp_path / ".build-new.so"
    for path in [*mine, *theirs, fresh]:
        path.write_text("x")
    for path in [*mine, *theirs]:
        os.utime(path, (old, old))
    assert STALE_SECONDS > 0
    remove_stale(tmp_path)
    assert not any(p.exists() for p in mine)
    assert all(p.exists() for p in theirs) and fresh.exists()
