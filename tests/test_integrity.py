"""Damaged stores are found, never read as whole: missing chunks, altered bytes, broken metadata; facies verify."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from facies.engine import Survey
from facies.engine.errors import FaciesError
from facies.engine.integrity import DamagedArrayError, checksum_ok, split_chunk_key
from facies.engine.locks import held_locks
from facies.engine.provenance import make_provenance
from facies.engine.verify import verify_store
from tests.helpers import tiny_store
from tests.helpers import run_cli as run, one_line_error as assert_one_line_error


@pytest.fixture
def store(tmp_path):
    """A store with two attributes of 2 x 2 x 2 chunks each."""
    survey = tiny_store(tmp_path / "s.zarr", chunks=(4, 4, 8), names=("amplitude", "envelope"))
    return survey.path


def flip_bytes(path, count=16):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------- the pieces
@pytest.mark.parametrize("key, expected", [
    ("amplitude/c/1/0/1", ("amplitude", (1, 0, 1))),
    ("training/c/codes/c/3", ("training/c/codes", (3,))),  # a table literally named "c"
    ("amplitude/zarr.json", None),
    ("c/1", None),
    ("training/c/zarr.json", None),
])
def test_chunk_keys_are_parsed_from_the_end(key, expected):
    assert split_chunk_key(key) == expected


def test_checksum_detects_any_flipped_byte_and_truncation():
    import google_crc32c

    payload = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    whole = payload + np.uint32(google_crc32c.value(payload)).tobytes()
    assert checksum_ok(np.frombuffer(whole, np.uint8))
    for position in (0, 500, len(whole) - 1):
        damaged = bytearray(whole)
        damaged[position] ^= 1
        assert not checksum_ok(np.frombuffer(bytes(damaged), np.uint8))
    assert not checksum_ok(np.frombuffer(whole[:-1], np.uint8))
    assert not checksum_ok(np.frombuffer(b"", np.uint8))


def test_every_chunk_is_written_even_when_it_equals_the_fill_value(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", chunks=(4, 4, 8), names=())
    survey.add_volume("dead", np.full(survey.shape, np.nan, np.float32), provenance=make_provenance("test"),
                      fill_value=float("nan"))
    chunk_files = [p for p in (survey.path / "dead" / "c").rglob("*") if p.is_file()]
    assert len(chunk_files) == 8
    assert np.isnan(Survey.open(survey.path).read("dead")).all()


# ---------------------------------------------------------------------- missing chunks
def test_missing_chunk_is_an_error_naming_array_and_chunk(store):
    (store / "envelope" / "c" / "1" / "0" / "1").unlink()
    survey = Survey.open(store)
    with pytest.raises(DamagedArrayError, match=r"'envelope'.*chunk 1\.0\.1 is missing"):
        survey.read("envelope")
    survey.read("envelope", inline=slice(0, 4))  # chunks that are there still read
    np.testing.assert_array_equal(survey.read("amplitude"), Survey.open(store).read("amplitude"))


def test_missing_chunk_through_the_cli(store):
    (store / "envelope" / "c" / "0" / "1" / "0").unlink()
    assert_one_line_error(run("info", store), "'envelope'", "chunk 0.1.0", "facies verify")
    result = run("info", store, "--no-stats")  # nothing read: the listing still works
    assert result.exit_code == 0, result.output
    out = store.parent / "out.sgy"
    assert_one_line_error(run("export", store, "envelope", out), "'envelope'", "missing")
    assert not out.exists()
    assert run("export", store, "amplitude", store.parent / "amp.sgy").exit_code == 0  # the other array is fine


def test_a_legacy_store_reads_missing_chunks_as_fill_value(store):
    meta_path = store / "zarr.json"
    meta = json.loads(meta_path.read_text())
    del meta["attributes"]["facies"]["integrity"]
    meta_path.write_text(json.dumps(meta))
    (store / "envelope" / "c" / "1" / "1" / "1").unlink()
    data = Survey.open(store).read("envelope")
    assert (data[4:, 4:, 8:] == 0).all()
    report = verify_store(store)
    assert not report.records_all_chunks and not report.damaged


def test_an_incomplete_array_may_miss_chunks(store):
    survey = Survey.open(store)
    survey.create_volume("partial", provenance=make_provenance("test"))
    assert (survey.array("partial", require_complete=False)[...] == 0).all()  # unwritten: the fill value
    report = {a.path: a for a in verify_store(store).arrays}
    assert report["partial"].status == "incomplete" and not report["partial"].missing


# ---------------------------------------------------------------------- altered bytes
def test_flipped_bytes_are_found_before_decoding(store):
    flip_bytes(store / "amplitude" / "c" / "0" / "0" / "1")
    with pytest.raises(DamagedArrayError, match=r"'amplitude'.*chunk 0\.0\.1 does not match its checksum"):
        Survey.open(store).read("amplitude")
    assert_one_line_error(run("filter", "mean", store, "-i", "amplitude", "--radius", "1"), "'amplitude'", "checksum")
    assert not Survey.open(store).has("amplitude_mean") or not Survey.open(store).is_complete("amplitude_mean")


def test_flipped_bytes_in_an_uncompressed_store(tmp_path):
    from tests.helpers import tiny_geometry

    survey = Survey.create(tmp_path / "raw.zarr", tiny_geometry(), chunks=(4, 4, 8), compression="none")
    survey.add_volume("a", np.ones(survey.shape, np.float32), provenance=make_provenance("test"))
    flip_bytes(survey.path / "a" / "c" / "1" / "1" / "0", count=4)
    with pytest.raises(DamagedArrayError, match="checksum"):
        Survey.open(survey.path).read("a")


def test_a_damaged_coordinate_array_is_reported(store):
    flip_bytes(store / "cdp_x" / "c" / "0" / "0")
    with pytest.raises(DamagedArrayError, match="'cdp_x'"):
        Survey.open(store).geometry  # noqa: B018 - reading it is the test
    checks = {a.path: a for a in verify_store(store).arrays}
    assert checks["cdp_x"].status == "damaged" and "geometry" in checks["cdp_x"].recover


# ---------------------------------------------------------------------- broken metadata
def test_a_broken_array_metadata_does_not_stop_other_commands(store):
    (store / "envelope" / "zarr.json").write_text('{"zarr_format": 3, "node_ty')
    survey = Survey.open(store)
    assert survey.volumes() == ["amplitude"]
    assert "envelope" in survey.unreadable()
    with pytest.raises(FaciesError, match="'envelope'.*zarr.json cannot be read"):
        survey.read("envelope")
    assert run("export", store, "amplitude", store.parent / "a.sgy").exit_code == 0
    assert_one_line_error(run("export", store, "envelope", store.parent / "e.sgy"), "'envelope'")
    result = run("verify", store, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    states = {a["path"]: a["status"] for a in report["arrays"]}
    assert states["envelope"] == "damaged" and states["amplitude"] == "ok"


def test_a_broken_root_metadata_is_one_line(store):
    (store / "zarr.json").write_text("not json")
    assert_one_line_error(run("info", store), str(store))
    assert_one_line_error(run("verify", store), str(store))


# ---------------------------------------------------------------------- facies verify
def test_verify_lists_damage_and_how_to_recover(store):
    (store / "envelope" / "c" / "0" / "0" / "0").unlink()
    flip_bytes(store / "envelope" / "c" / "1" / "1" / "1")
    result = run("verify", store, "--json")
    assert_one_line_error(result, "1 damaged array", "'envelope'")
    report = json.loads(result.stdout)
    (envelope,) = [a for a in report["arrays"] if a["path"] == "envelope"]
    assert envelope["missing"] == ["0.0.0"] and envelope["corrupt"] == ["1.1.1"]
    assert "re-run 'test'" in envelope["recover"]
    assert all(a["status"] == "ok" for a in report["arrays"] if a["path"] != "envelope")


def test_verify_passes_a_whole_store_and_reports_tables_and_models(tiny_synthetic):
    result = run("verify", tiny_synthetic)
    assert result.exit_code == 0, result.output
    assert "nothing damaged" in result.stdout


def test_verify_reports_an_interrupted_run(store):
    from facies.engine.ledger import Ledger

    survey = Survey.open(store)
    ledger = Ledger.start(survey, "amp_mean", (2, 2), {"x": 1}, resume=False)
    ledger.close()  # left behind, as a killed run leaves it
    report = verify_store(store)
    assert report.interrupted_runs and not report.damaged


# ---------------------------------------------------------------------- readers against writers
def test_a_reader_is_refused_while_a_run_writes_the_array(store):
    with held_locks(store, ["amplitude"]):  # as a run writing it holds it
        assert_one_line_error(run("export", store, "amplitude", store.parent / "a.sgy"), "being written")
        assert not (store.parent / "a.sgy").exists()
        assert run("export", store, "envelope", store.parent / "e.sgy").exit_code == 0
    assert run("export", store, "amplitude", store.parent / "a.sgy").exit_code == 0


def test_a_writer_is_refused_while_a_command_reads_the_array(store):
    survey = Survey.open(store)
    with survey.reading("amplitude", "envelope"):
        with Survey.open(store).reading("amplitude"):  # readers share
            pass
        result = run("filter", "mean", store, "-i", "amplitude", "--radius", "1", "--output", "envelope", "--overwrite")
        assert_one_line_error(result, "'envelope'")
    assert Survey.open(store).is_complete("envelope")


# ---------------------------------------------------------------------- replacing a store
def test_overwrite_replaces_only_a_facies_store(tmp_path, monkeypatch):
    from tests.helpers import tiny_geometry

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    with pytest.raises(FaciesError, match="not a facies survey store"):
        Survey.create(victim, tiny_geometry(), overwrite=True)
    assert (victim / "keep.txt").read_text() == "x"

    store = tiny_store(tmp_path / "s.zarr").path
    link = tmp_path / "link.zarr"
    link.symlink_to(store)
    with pytest.raises(FaciesError, match="symbolic link"):
        Survey.create(link, tiny_geometry(), overwrite=True)
    assert Survey.open(store).volumes() == ["amplitude"]

    monkeypatch.chdir(store)
    with pytest.raises(FaciesError, match="current folder"):
        Survey.create(".", tiny_geometry(), overwrite=True)
    with pytest.raises(FaciesError, match="current folder"):
        Survey.create("..", tiny_geometry(), overwrite=True)
    monkeypatch.chdir(tmp_path)

    Survey.create(store, tiny_geometry(), overwrite=True)
    assert Survey.open(store).volumes() == []


def test_overwrite_refuses_a_store_in_use(tmp_path):
    from tests.helpers import tiny_geometry

    store = tiny_store(tmp_path / "s.zarr").path
    with Survey.open(store).reading("amplitude"):
        with pytest.raises(FaciesError, match="in use"):
            Survey.create(store, tiny_geometry(), overwrite=True)
    assert Survey.open(store).volumes() == ["amplitude"]


def test_creating_a_store_that_appeared_meanwhile_fails(tmp_path, monkeypatch):
    from tests.helpers import tiny_geometry

    path = tmp_path / "s.zarr"
    real_mkdir = type(path).mkdir

    def racing_mkdir(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)  # the other command wins the race...
        return real_mkdir(self, *args, **kwargs)  # ...and ours fails as mkdir does

    monkeypatch.setattr(type(path), "mkdir", racing_mkdir)
    with pytest.raises(FaciesError, match="created by another command"):
        Survey.create(path, tiny_geometry())


def test_zarr_reads_the_checksummed_store(store):
    """Checksums are Zarr's own crc32c codec: plain zarr (and xarray) read the store."""
    plain = zarr.open_group(str(store), mode="r")
    np.testing.assert_array_equal(plain["amplitude"][...], Survey.open(store).read("amplitude"))


def test_info_lists_an_array_being_replaced_without_its_statistics(store):
    with held_locks(store, ["envelope"]):
        result = run("info", store, "--json")
    assert result.exit_code == 0, result.output
    arrays = {a["name"]: a for a in json.loads(result.stdout)["arrays"]}
    assert arrays["envelope"].get("being_written") and "mean" not in arrays["envelope"]
    assert arrays["amplitude"]["mean"] is not None


def test_a_run_holds_its_inputs_against_writers(store):
    """The ledger of a run takes shared locks on what it reads: others may read them, nobody may replace them."""
    from facies.engine.ledger import Ledger
    from facies.engine.locks import ArrayBusyError, acquire_locks, release_locks

    survey = Survey.open(store)
    ledger = Ledger.start(survey, "out", (1,), {}, resume=False, locks=["out"], reads=["amplitude"])
    try:
        with pytest.raises(ArrayBusyError, match="'amplitude'"):
            acquire_locks(survey, ["amplitude"])
        release_locks(acquire_locks(survey, ["amplitude"], shared=True))
    finally:
        ledger.close()
    release_locks(acquire_locks(survey, ["amplitude"]))


def test_verify_checks_the_rest_while_a_run_writes_one_array(store):
    with held_locks(store, ["envelope"]):
        result = run("verify", store, "--json")
    assert result.exit_code == 0, result.output
    states = {a["path"]: a["status"] for a in json.loads(result.stdout)["arrays"]}
    assert states["envelope"] == "being written" and states["amplitude"] == "ok"


def test_a_store_is_not_replaced_while_a_new_lock_is_held_in_it(tmp_path):
    """The store's own lock covers arrays whose lock files did not exist when the replacement looked."""
    from tests.helpers import tiny_geometry

    store = tiny_store(tmp_path / "s.zarr").path
    with held_locks(store, ["brand_new_output"]), pytest.raises(FaciesError, match="in use"):
        Survey.create(store, tiny_geometry(), overwrite=True)
    assert Survey.open(store).volumes() == ["amplitude"]


def test_a_reader_may_lock_an_existing_lock_file_it_cannot_write(store, tmp_path):
    from facies.engine.locks import acquire_locks, lock_path, release_locks

    release_locks(acquire_locks(store, ["amplitude"]))  # the lock file exists now
    lock_path(store, "amplitude").chmod(0o444)
    held = acquire_locks(store, ["amplitude"], shared=True)
    try:
        # Both locks taken (the store's and the array's), through read-only opens: all a reader may have.
        # (Root ignores the mode, so the open mode is what this test can see.)
        assert [h.mode for h in held] == ["r", "r"]
    finally:
        release_locks(held)


def test_a_group_name_is_not_read_as_an_array(tiny_synthetic, tmp_path):
    from tests.helpers import writable_copy

    store = writable_copy(tiny_synthetic, tmp_path)
    (store / "models").mkdir()
    (store / "models" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    assert_one_line_error(run("export", store, "models", tmp_path / "m.sgy"), "is a group of the store")
