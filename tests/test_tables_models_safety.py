"""Training tables and models: saved whole, one writer at a time, damage read as one line and found by verify.

Each case is what a hostile tester did to a store: a full disk during ``--overwrite``, two saves of one
name at once, leftovers of killed saves, damaged or deleted metadata, verify's advice for a synthetic
or ingested array. Every command ends with exit 2 and one ``error:`` line, and nothing is lost.
"""

from __future__ import annotations

import errno
import json
import shutil
import threading
import warnings

import numpy as np
import pytest
from zarr.storage import LocalStore

from facies.engine import Survey
from facies.engine.errors import FaciesError
from facies.engine.forest import train_forest
from facies.engine.forest.model_io import list_models, load_model, save_model
from facies.engine.integrity import DamagedArrayError
from facies.engine.locks import ArrayBusyError, acquire_locks, release_locks
from facies.engine.provenance import make_provenance
from facies.engine.training import TrainingTable, list_tables
from facies.engine.verify import verify_store
from tests.helpers import tiny_store, writable_copy
from tests.helpers import run_cli as run, one_line_error as assert_one_line_error

pytestmark = pytest.mark.usefixtures("cpu_only")
ATTRS = ("amplitude", "envelope")


def table(n=60, seed=0) -> TrainingTable:
    """Rows on distinct voxels of the tiny_store((6, 5, 12)) grid, three facies, values that separate them."""
    rng = np.random.default_rng(seed)
    i, j, k = np.unravel_index(rng.choice(6 * 5 * 12, n, replace=False), (6, 5, 12))
    codes = np.sort(np.arange(n) % 3 + 1).astype(np.uint8)
    values = {name: (codes + 0.3 * rng.standard_normal(n)).astype(np.float32) for name in ATTRS}
    return TrainingTable(facies_names=["salt", "mtd", "background"], codes=codes, inline=100 + 2 * i,
                         crossline=7 + j, sample=8.0 + 4.0 * k, sample_axis="time", attributes=values,
                         polygon=np.zeros(n, np.int32), source="test")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with the table ``picks`` and the model ``rf`` (copied by each test that changes it)."""
    survey = tiny_store(tmp_path_factory.mktemp("template") / "s.zarr", names=ATTRS)
    picks = table()
    picks.save(survey, "picks")
    trained = train_forest(picks, ATTRS, name="rf", trees=(3,), max_depth=4, seed=0, folds=2, n_jobs=1)
    save_model(survey, trained.model)
    return survey.path


@pytest.fixture
def store(template, tmp_path):
    target = tmp_path / "s.zarr"
    shutil.copytree(template, target)
    return target


def same_table(a: TrainingTable, b: TrainingTable) -> bool:
    return (a.facies_names == b.facies_names and a.attribute_names == b.attribute_names
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("codes", "inline", "crossline", "sample"))
            and all(a.attributes[n].tobytes() == b.attributes[n].tobytes() for n in a.attribute_names))


def members(store, group) -> list[str]:
    return sorted(p.name for p in (store / group).iterdir())


def train_args(store, *extra):
    return ("rf", "train", store, "--name", "rf", "--trees", "3", "--max-depth", "4", "--attributes",
            ",".join(ATTRS), "--out", store.parent / "report", *extra)


@pytest.fixture
def full_disk(monkeypatch):
    """Make every chunk written under a path starting with the given prefix fail as a full disk does."""
    def fill(prefix):
        original = LocalStore.set

        async def refuse(self, key, value):
            if key.startswith(prefix) and "/c" in key:
                raise OSError(errno.ENOSPC, "No space left on device")
            return await original(self, key, value)

        monkeypatch.setattr(LocalStore, "set", refuse)
    return fill


# ---------------------------------------------------------------------- 1. a failed save keeps the old one
def test_a_full_disk_during_rf_train_overwrite_keeps_the_old_model(store, full_disk):
    before = load_model(Survey.open(store), "rf").sha256
    full_disk("models/_partial-rf/")
    assert_one_line_error(run(*train_args(store, "--overwrite")), "No space left on device")
    assert load_model(Survey.open(store), "rf").sha256 == before  # the working model is still there, whole
    assert members(store, "models") == ["rf", "zarr.json"]


def test_a_full_disk_during_a_table_overwrite_keeps_the_old_table(store, full_disk):
    old = TrainingTable.load(Survey.open(store), "picks")
    full_disk("training/_partial-picks/")
    with pytest.raises(OSError, match="No space left"):
        table(n=30, seed=5).save(Survey.open(store), "picks", overwrite=True)
    assert same_table(old, TrainingTable.load(Survey.open(store), "picks"))
    assert members(store, "training") == ["picks", "zarr.json"]


def test_a_full_disk_during_training_extract_overwrite_keeps_the_old_table(tiny_synthetic, tmp_path, full_disk):
    store = writable_copy(tiny_synthetic, tmp_path)
    polygons = store.with_suffix(".polygons.json")
    assert run("training", "extract", store, polygons, "-a", "amplitude,envelope").exit_code == 0
    old = TrainingTable.load(Survey.open(store), "picks")
    full_disk("training/_partial-picks/")
    result = run("training", "extract", store, polygons, "-a", "amplitude", "--overwrite")
    assert_one_line_error(result, "No space left on device")
    assert same_table(old, TrainingTable.load(Survey.open(store), "picks"))


def test_leftovers_of_killed_saves_break_neither_listing_nor_saving(store):
    """A killed save may leave a folder without zarr.json, with chunks, or a whole staged member."""
    (store / "models" / "_partial-rf" / "c").mkdir(parents=True)
    (store / "models" / "_partial-rf" / "c" / "0").write_bytes(b"half")
    shutil.copytree(store / "models" / "rf", store / "models" / "_replaced-other")
    shutil.copytree(store / "training" / "picks", store / "training" / "_partial-picks")
    (store / "training" / "_partial-new" / "facies").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. ZarrUserWarning "Object at _partial-rf is not recognized"
        survey = Survey.open(store)
        assert list_models(survey) == ["rf"] and list_tables(survey) == ["picks"]
        assert run("verify", store, "--json").exit_code == 0
        report = verify_store(store)
        assert report.interrupted_saves == ["training/_partial-new", "training/_partial-picks",
                                            "models/_partial-rf", "models/_replaced-other"]
        table(n=30, seed=3).save(survey, "picks", overwrite=True)
        table(n=30, seed=4).save(survey, "new")
        model = load_model(survey, "rf")
        save_model(survey, model, overwrite=True)
    assert members(store, "training") == ["new", "picks", "zarr.json"]
    assert members(store, "models") == ["_replaced-other", "rf", "zarr.json"]  # not rf's: its own save removes it


def test_a_kill_between_the_two_renames_puts_the_old_model_back(store, monkeypatch):
    """Where the file system cannot swap two folders, a save renames twice; a kill between leaves the old aside."""
    import facies.engine.staging as staging

    survey = Survey.open(store)
    old = load_model(survey, "rf")
    renames = []

    def rename_then_die(src, dst):
        renames.append(src)
        if len(renames) == 2:
            raise KeyboardInterrupt
        return real_rename(src, dst)

    real_rename = staging.os.rename
    with monkeypatch.context() as m:
        m.setattr(staging, "_exchange", lambda a, b: False)
        m.setattr(staging.os, "rename", rename_then_die)
        with pytest.raises(KeyboardInterrupt):
            save_model(survey, old, overwrite=True)
    assert members(store, "models") == ["_partial-rf", "_replaced-rf", "zarr.json"]
    with pytest.raises(FaciesError, match="model 'rf' already exists"):  # the next save puts the old one back first
        save_model(survey, old)
    assert load_model(survey, "rf").sha256 == old.sha256
    assert members(store, "models") == ["_partial-rf", "rf", "zarr.json"]
    save_model(survey, old, overwrite=True)
    assert members(store, "models") == ["rf", "zarr.json"]


# ---------------------------------------------------------------------- 2. one writer at a time
def test_two_saves_of_one_table_at_once(store, monkeypatch):
    """The second save (and a read) meets the first one's lock: one line; the table is the first one, whole."""
    import facies.engine.training.table as table_module

    inside, go_on = threading.Event(), threading.Event()
    real = table_module.jsonable

    def slow(value):  # the first save waits with every column written, before its attributes
        inside.set()
        go_on.wait(30)
        return real(value)

    first, failures = table(n=40, seed=1), []
    monkeypatch.setattr(table_module, "jsonable", slow)

    def save_first():
        try:
            first.save(Survey.open(store), "picks", overwrite=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=save_first)
    thread.start()
    try:
        assert inside.wait(30)
        monkeypatch.setattr(table_module, "jsonable", real)
        with pytest.raises(ArrayBusyError, match="training table 'picks' in .* is being saved or read by another"):
            table(n=20, seed=2).save(Survey.open(store), "picks", overwrite=True)
        with pytest.raises(ArrayBusyError, match="training table 'picks' in .* is being saved by another"):
            TrainingTable.load(Survey.open(store), "picks")
    finally:
        go_on.set()
        thread.join(60)
    assert not failures
    assert same_table(first, TrainingTable.load(Survey.open(store), "picks"))


def test_training_extract_while_the_table_is_saved_is_one_line(tiny_synthetic, tmp_path):
    store = writable_copy(tiny_synthetic, tmp_path)
    polygons = store.with_suffix(".polygons.json")
    assert run("training", "extract", store, polygons, "-a", "amplitude,envelope").exit_code == 0
    old = TrainingTable.load(Survey.open(store), "picks")
    held = acquire_locks(store, ["training.picks"])  # another command saving the table
    try:
        result = run("training", "extract", store, polygons, "-a", "amplitude", "--overwrite")
        assert_one_line_error(result, "training table 'picks'", "being saved or read by another facies command")
        assert_one_line_error(run("training", "show", store), "training table 'picks'", "being saved")
    finally:
        release_locks(held)
    assert same_table(old, TrainingTable.load(Survey.open(store), "picks"))
    assert members(store, "training") == ["picks", "zarr.json"]


def test_rf_train_and_predict_while_the_model_is_saved_are_one_line(store):
    before = load_model(Survey.open(store), "rf").sha256
    held = acquire_locks(store, ["models.rf"])
    try:
        assert_one_line_error(run(*train_args(store, "--overwrite")), "model 'rf'", "being saved or read")
        assert_one_line_error(run("rf", "predict", store, "--model", "rf", "--device", "cpu"),
                              "model 'rf'", "being saved by another")
    finally:
        release_locks(held)
    assert load_model(Survey.open(store), "rf").sha256 == before
    assert not Survey.open(store).has("facies_rf")


def test_a_save_waits_for_nobody_who_reads_another_name(store):
    held = acquire_locks(store, ["models.other", "training.other"], shared=True)
    try:
        table(n=30, seed=9).save(Survey.open(store), "picks", overwrite=True)
        save_model(Survey.open(store), load_model(Survey.open(store), "rf"), overwrite=True)
    finally:
        release_locks(held)


# ---------------------------------------------------------------------- 3. damage verify finds
def verify_json(store) -> dict:
    result = run("verify", store, "--json")
    return {"exit_code": result.exit_code, **json.loads(result.stdout)}


def states(report) -> dict:
    return {a["path"]: a for a in report["arrays"]}


def test_verify_finds_what_the_hostile_tester_deleted(store):
    """A column, an array's zarr.json (chunks left) and a model's zarr.json: 'nothing damaged' before."""
    shutil.rmtree(store / "training" / "picks" / "facies")
    (store / "envelope" / "zarr.json").unlink()
    (store / "models" / "rf" / "zarr.json").unlink()
    result = run("verify", store)
    assert_one_line_error(result, "3 damaged array(s)", "'envelope'", "'models/rf'", "'training/picks'")
    assert "nothing damaged" not in result.stdout


def test_verify_finds_a_deleted_column(store):
    shutil.rmtree(store / "training" / "picks" / "facies")
    report = verify_json(store)
    picks = states(report)["training/picks"]
    assert report["exit_code"] == 2 and picks["status"] == "damaged"
    assert picks["problem"] == "column 'facies' is missing" and "--name picks" in picks["recover"]
    assert_one_line_error(run("training", "show", store), "training table 'picks'", "column 'facies' is missing")


def test_verify_finds_an_array_whose_zarr_json_was_deleted(store):
    (store / "envelope" / "zarr.json").unlink()
    report = verify_json(store)
    envelope = states(report)["envelope"]
    assert report["exit_code"] == 2 and envelope["status"] == "damaged"
    assert "zarr.json is missing (its chunk files are left)" in envelope["problem"]
    assert "re-run 'test'" in envelope["recover"]


def test_verify_finds_an_indexed_array_that_is_gone(store):
    shutil.rmtree(store / "envelope")
    envelope = states(verify_json(store))["envelope"]
    assert envelope["status"] == "damaged" and "(and so is its data)" in envelope["problem"]


def test_verify_finds_chunks_without_metadata_anywhere(store):
    (store / "training" / "picks" / "inline" / "zarr.json").unlink()
    (store / "stray" / "c" / "0").mkdir(parents=True)
    report = states(verify_json(store))
    assert report["stray"]["status"] == "damaged" and report["training/picks/inline"]["status"] == "damaged"
    assert report["training/picks"]["problem"] == "column 'inline' is missing"


def test_verify_finds_a_model_whose_zarr_json_was_deleted(store):
    (store / "models" / "rf" / "zarr.json").unlink()
    rf = states(verify_json(store))["models/rf"]
    assert rf["status"] == "damaged" and "zarr.json is missing" in rf["problem"]
    assert "facies rf train" in rf["recover"] and "--name rf" in rf["recover"]
    assert_one_line_error(run("rf", "predict", store, "--model", "rf"), "model 'rf'", "zarr.json is missing")


def test_verify_reads_models_through_their_checks(store):
    """Whole chunks, a valid checksum of the chunk bytes, but a model load_model refuses."""
    survey = Survey.open(store)
    model = load_model(survey, "rf")
    meta = dict(survey.group["models/rf"].attrs["facies"])
    meta["normalisation"] = {"mean": [0.0, 0.0], "std": [1.0, 1e-45]}
    survey.group["models/rf"].attrs["facies"] = meta
    rf = states(verify_json(store))["models/rf"]
    assert rf["status"] == "damaged" and "normalisation std of attribute 1 is 1e-45" in rf["problem"]
    assert model.normalisation is None  # the original was fine


# ---------------------------------------------------------------------- 4. damaged metadata is one line
def test_a_damaged_model_zarr_json_is_one_line_and_stops_no_other_model(store):
    (store / "models" / "rf" / "zarr.json").write_text("{bad")
    assert list_models(Survey.open(store)) == []
    assert_one_line_error(run("rf", "predict", store, "--model", "rf"), "model 'rf'", "zarr.json cannot be read",
                          "--overwrite")
    # a damaged model is not replaced unasked
    assert_one_line_error(run(*train_args(store)), "model 'rf' already exists")
    result = run(*train_args(store)[:4], "rf2", *train_args(store)[5:])
    assert result.exit_code == 0, result.output
    assert list_models(Survey.open(store)) == ["rf2"]
    assert run(*train_args(store, "--overwrite")).exit_code == 0  # --overwrite replaces the damaged one
    assert list_models(Survey.open(store)) == ["rf", "rf2"]


def test_a_damaged_column_zarr_json_is_one_line(store):
    (store / "training" / "picks" / "facies" / "zarr.json").write_text("{bad")
    for args in (("training", "show", store), ("training", "export", store, store.parent / "t.csv"),
                 train_args(store, "--overwrite")):
        assert_one_line_error(run(*args), "training table 'picks'", "zarr.json of column 'facies' cannot be read")
    assert load_model(Survey.open(store), "rf")  # the failed train left the model alone


def test_a_damaged_table_zarr_json_is_one_line(store):
    (store / "training" / "picks" / "zarr.json").write_text("{bad")
    assert list_tables(Survey.open(store)) == []
    assert_one_line_error(run("training", "show", store), "training table 'picks'", "zarr.json cannot be read")


def test_damaged_group_zarr_jsons_stop_no_reader_and_writers_say_what_to_do(store):
    (store / "training" / "zarr.json").write_text("{bad")
    (store / "models" / "zarr.json").write_text("{bad")
    survey = Survey.open(store)
    assert list_tables(survey) == ["picks"] and list_models(survey) == ["rf"]
    assert run("training", "show", store).exit_code == 0
    assert run("rf", "predict", store, "--model", "rf", "--device", "cpu").exit_code == 0
    with pytest.raises(DamagedArrayError, match="the 'training' group .* delete .*training/zarr.json"):
        table().save(survey, "other")
    assert_one_line_error(run(*train_args(store, "--overwrite")), "'models' group", "delete")
    report = states(verify_json(store))
    assert report["models"]["status"] == "damaged" and "delete" in report["models"]["recover"]
    (store / "models" / "zarr.json").unlink()  # what the message says to do
    assert run(*train_args(store, "--overwrite")).exit_code == 0
    assert load_model(Survey.open(store), "rf")


# ---------------------------------------------------------------------- 5. never advise replacing the store
def test_verify_never_advises_overwriting_a_synthetic_store(tiny_synthetic, tmp_path):
    store = writable_copy(tiny_synthetic, tmp_path)
    (store / "envelope" / "zarr.json").unlink()
    envelope = states(verify_json(store))["envelope"]
    assert envelope["status"] == "damaged"
    assert "new path with the same seed (facies synth NEW.zarr --size tiny --seed 0)" in envelope["recover"]
    assert "re-run" not in envelope["recover"] and "with --overwrite" not in envelope["recover"]


def test_verify_advises_ingesting_an_ingested_array_again(store):
    survey = Survey.open(store)
    survey.add_volume("seismic", np.zeros(survey.shape, np.float32),
                      provenance=make_provenance("facies ingest", {"file": "/data/line 1.sgy"}, ["/data/line 1.sgy"]))
    (store / "seismic" / "c" / "0" / "0" / "0").unlink()
    seismic = states(verify_json(store))["seismic"]
    assert seismic["status"] == "damaged"
    assert seismic["recover"] == (f"ingest it again: facies ingest '/data/line 1.sgy' --survey {store} "
                                  "--name seismic --overwrite")  # quoted: it can be pasted as it is


def test_a_link_planted_at_the_staging_name_is_removed_not_followed(tmp_path):
    """A save writes its new member under ``_partial-<name>``: a link there must not lead it elsewhere."""
    from facies.engine.synth import make_synthetic, polygons_path
    from facies.engine.training import extract_training

    store = tmp_path / "s.zarr"
    make_synthetic(store, size="tiny", seed=0, progress=False)
    survey = Survey.open(store)
    extract_training(survey, polygons_path(store), ["amplitude", "envelope"], "picks")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    (store / "training" / "_partial-picks").symlink_to(victim)
    extract_training(Survey.open(store), polygons_path(store), ["amplitude", "envelope"], "picks", overwrite=True)
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    picks = store / "training" / "picks"
    assert picks.is_dir() and not picks.is_symlink()
    assert not (store / "training" / "_partial-picks").exists()
