"""``facies synth`` removes or replaces only what it made, checks everything before it starts, and
never leaves a store that looks complete without its polygons.

Every refused run is one ``error:`` line on stderr, exit 2, no traceback, and the folder is as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.segy import export_segy, ingest_segy
from facies.engine.segy.export import is_facies_segy
from facies.engine.store import Survey
from facies.engine.synth import make_synthetic, polygons_path
from facies.engine.synth import generate as generate_module
from facies.engine.synth.polygons import is_synth_polygons
from facies.engine.synth.preflight import MemoryPlan, is_synth_segy, memory_plan
from tests.helpers import one_line_error as refused

SMALL = ["--shape", "10", "9", "16"]


def run(*args):
    return CliRunner().invoke(app, ["synth", *(str(a) for a in args)])


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder``: kind, size and modification time (links not followed)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            out[str(path.relative_to(folder))] = (path.is_symlink(), st.st_size, st.st_mtime_ns)
    return out


def small_store(path: Path, seed: int = 0, **kwargs) -> Survey:
    return make_synthetic(path, shape=(10, 9, 16), seed=seed, progress=False, **kwargs)


# ---------------------------------------------------------------------- the store
def test_overwrite_never_removes_a_folder_that_is_not_a_store(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x\n")
    before = snapshot(tmp_path)
    refused(run(victim, "--size", "tiny", "--overwrite"), "not a facies survey store")
    assert (victim / "keep.txt").read_text() == "x\n"
    assert snapshot(tmp_path) == before  # no polygon file, nothing else either


def test_overwrite_of_the_working_folder_keeps_it(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x\n")
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    refused(run(".", "--size", "tiny", "--overwrite"))
    assert (work / "keep.txt").read_text() == "x\n"
    assert snapshot(tmp_path) == before


def test_overwrite_of_a_store_holding_the_working_folder_is_refused(tmp_path, monkeypatch):
    store = small_store(tmp_path / "s.zarr").path
    monkeypatch.chdir(store / "inline")
    before = snapshot(tmp_path)
    refused(run(store, *SMALL, "--overwrite"), "current folder or one above it")
    assert snapshot(tmp_path) == before


def test_overwrite_of_a_link_to_a_store_leaves_the_store(tmp_path):
    real = small_store(tmp_path / "real.zarr").path
    link = tmp_path / "link.zarr"
    link.symlink_to(real, target_is_directory=True)
    before = snapshot(tmp_path)
    refused(run(link, *SMALL, "--overwrite"), "symbolic link")
    assert link.is_symlink() and Survey.open(real).shape == (10, 9, 16)
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_a_facies_store_and_its_polygons(tmp_path):
    store = tmp_path / "s.zarr"
    assert run(store, *SMALL, "--seed", "1").exit_code == 0
    refused(run(store, *SMALL, "--seed", "2"), "already exists", "--overwrite")
    result = run(store, *SMALL, "--seed", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    assert Survey.open(store).provenance("amplitude")["parameters"]["seed"] == 2
    doc = json.loads(polygons_path(store).read_text())
    assert doc["made_by"]["command"] == "facies synth" and doc["made_by"]["seed"] == 2
    assert is_synth_polygons(polygons_path(store))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.polygons.json", "s.zarr"]  # no temporary file left


def test_a_store_inside_another_store_is_refused(tmp_path):
    store = small_store(tmp_path / "s.zarr").path
    before = snapshot(tmp_path)
    refused(run(store / "inner.zarr", *SMALL), "inside the survey store")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- the polygon file
def test_a_polygon_file_somebody_wrote_is_never_replaced(tmp_path):
    mine = tmp_path / "s.polygons.json"
    mine.write_text('{"facies": ["salt"], "polygons": []}\n')
    before = snapshot(tmp_path)
    refused(run(tmp_path / "s.zarr", *SMALL), "already exists")
    refused(run(tmp_path / "s.zarr", *SMALL, "--overwrite"), "not a polygon file facies synth wrote")
    assert snapshot(tmp_path) == before  # no store made either


def test_an_edited_synth_polygon_file_is_not_replaced(tmp_path):
    store = small_store(tmp_path / "s.zarr").path
    polygons = polygons_path(store)
    doc = json.loads(polygons.read_text())
    doc["polygons"][0]["vertices"][0][0] += 1.0
    polygons.write_text(json.dumps(doc, indent=1))
    assert not is_synth_polygons(polygons)
    before = snapshot(tmp_path)
    refused(run(store, *SMALL, "--overwrite"), "edited since")
    assert snapshot(tmp_path) == before  # the store is still there too


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_polygon_path_that_is_a_link_or_a_folder_is_refused(tmp_path, kind):
    target = tmp_path / "s.polygons.json"
    if kind == "link":
        (tmp_path / "elsewhere.json").write_text("{}")
        target.symlink_to(tmp_path / "elsewhere.json")
    else:
        target.mkdir()
    before = snapshot(tmp_path)
    refused(run(tmp_path / "s.zarr", *SMALL, "--overwrite"), "symbolic link" if kind == "link" else "folder")
    assert snapshot(tmp_path) == before


def test_a_copied_synth_polygon_file_is_still_recognised(tmp_path):
    store = small_store(tmp_path / "s.zarr").path
    assert is_synth_polygons(polygons_path(store))
    legacy = tmp_path / "old.json"
    doc = json.loads(polygons_path(store).read_text())
    del doc["made_by"]
    legacy.write_text(json.dumps(doc))
    assert not is_synth_polygons(legacy)  # a file without the record (older facies, or hand-made)


# ---------------------------------------------------------------------- the SEG-Y files
def test_segy_dir_that_is_a_file_or_under_one_creates_nothing(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    before = snapshot(tmp_path)
    refused(run(tmp_path / "s.zarr", *SMALL, "--segy-dir", tmp_path / "file.txt"), "is a file, not a folder")
    refused(run(tmp_path / "s.zarr", *SMALL, "--segy-dir", tmp_path / "file.txt" / "sgy"), "is a file")
    assert snapshot(tmp_path) == before


def test_segy_files_are_replaced_only_when_facies_synth_wrote_them(tmp_path):
    sgy = tmp_path / "sgy"
    store = small_store(tmp_path / "s.zarr", segy_dir=sgy, segy_volumes=["amplitude", "truth"]).path
    assert is_synth_segy(sgy / "amplitude.sgy")
    args = [store, *SMALL, "--segy-dir", sgy, "--segy-volumes", "amplitude,truth"]
    # Without --overwrite an existing SEG-Y file is refused (the store too, but each is checked first).
    refused(run(tmp_path / "t.zarr", *args[1:]), "amplitude.sgy already exists")
    (sgy / "truth.sgy").write_bytes(b"somebody's survey")
    before = snapshot(tmp_path)
    refused(run(*args, "--overwrite"), "not a SEG-Y file facies synth wrote")
    assert (sgy / "truth.sgy").read_bytes() == b"somebody's survey"
    (sgy / "truth.sgy").unlink()
    (sgy / "truth.sgy").symlink_to(tmp_path / "file.txt")
    refused(run(*args, "--overwrite"), "symbolic link")
    (sgy / "truth.sgy").unlink()
    (sgy / "truth.sgy").mkdir()
    refused(run(*args, "--overwrite"), "is a folder")
    (sgy / "truth.sgy").rmdir()
    changed_by_this_test = ("sgy", "sgy/truth.sgy")
    assert {k: v for k, v in snapshot(tmp_path).items() if k not in changed_by_this_test} == \
        {k: v for k, v in before.items() if k not in changed_by_this_test}
    old = (sgy / "amplitude.sgy").stat().st_mtime_ns
    result = run(*args, "--overwrite", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert (sgy / "amplitude.sgy").stat().st_mtime_ns != old and is_synth_segy(sgy / "truth.sgy")


def test_segy_dir_inside_the_store_is_refused(tmp_path):
    store = small_store(tmp_path / "s.zarr").path
    before = snapshot(tmp_path)
    refused(run(store, *SMALL, "--overwrite", "--segy-dir", store / "sgy"), "inside the new store")
    refused(run(tmp_path / "amplitude.sgy", *SMALL, "--segy-dir", tmp_path), "new store's own path")
    assert snapshot(tmp_path) == before


def test_a_segy_file_written_by_another_command_is_not_synths(tmp_path):
    path = tmp_path / "x.sgy"
    path.write_bytes(b"\x40" * 3600)  # EBCDIC blanks
    assert not is_synth_segy(path)
    assert not is_synth_segy(tmp_path / "missing.sgy")
    # A facies export of an array another command made is a facies export, not synth's.
    store = small_store(tmp_path / "s.zarr")
    ingested = ingest_segy(export_segy(store, "amplitude", tmp_path / "a.sgy"), tmp_path / "i.zarr")
    export_segy(ingested, "amplitude", tmp_path / "i.sgy")
    assert is_synth_segy(tmp_path / "a.sgy") and is_facies_segy(tmp_path / "i.sgy")
    assert not is_synth_segy(tmp_path / "i.sgy")
    sgy = tmp_path / "sgy"
    sgy.mkdir()
    os.replace(tmp_path / "i.sgy", sgy / "amplitude.sgy")
    before = snapshot(tmp_path)
    refused(run(tmp_path / "s.zarr", *SMALL, "--overwrite", "--segy-dir", sgy, "--segy-volumes", "amplitude"),
            "not a SEG-Y file facies synth wrote")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- memory
def test_a_shape_too_large_for_memory_is_one_line_before_anything(tmp_path):
    before = snapshot(tmp_path)
    line = refused(run(tmp_path / "s.zarr", "--shape", "1000000", "1000000", "1000"),
                   "1000000 x 1000000 x 1000", "GB of memory", "available")
    assert snapshot(tmp_path) == before, line


def test_memory_is_checked_against_what_is_available(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_module, "host_memory", lambda: (8 * 2**30, 50 * 2**20))
    with pytest.raises(FaciesError, match=r"shape 48 x 40 x 64 needs about 0\.1 GB of memory .* 0\.1 GB available"):
        make_synthetic(tmp_path / "s.zarr", size="tiny", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_memory_plan_lowers_the_threads_to_what_fits():
    shape, chunks = (400, 400, 500), (128, 128, 128)
    one = memory_plan(shape, chunks, 1, 10**12)
    assert isinstance(one, MemoryPlan) and one.workers == 1
    # A 144 x 144 x 500 brick: about 90 bytes per voxel (and the model's block), under 1.1 GB per thread.
    assert 0.8e9 < one.per_worker < 1.1e9
    assert memory_plan(shape, chunks, 4, 10**12).workers == 4
    assert memory_plan(shape, chunks, 4, one.shared + 2 * one.per_worker + 1).workers == 2
    with pytest.raises(FaciesError, match="smaller --chunks"):
        memory_plan(shape, chunks, 4, one.shared + one.per_worker - 1)
    # Thinner bricks need less: the estimate follows the chunks (a 48 x 48-trace brick, a ninth of the voxels,
    # is one piece for the attribute operators, whose scratch then spans the whole brick).
    assert memory_plan(shape, (32, 32, 128), 1, 10**12).per_worker < one.per_worker / 4


# ---------------------------------------------------------------------- careless and hostile input
@pytest.mark.parametrize("args, fragment", [
    (["--size", "tiny", "--seed", "-1"], "non-negative"),
    (["--size", "tiny", "--seed", str(2**63)], "too large"),
    (["--shape", "0", "10", "10"], "positive"),
    (["--shape", "-8", "10", "16"], "positive"),
    (["--size", "tiny", "--chunks", "1,1,1"], "chunk files"),
    (["--size", "tiny", "--chunks", "4,4"], "--chunks"),
    (["--size", "tiny", "--segy-dir", "{d}/sgy", "--segy-volumes", "amplitude,nope"], "'nope'"),
    (["--size", "tiny", "--segy-dir", "{d}/sgy", "--segy-volumes", ","], "names no volume"),
    (["--size", "tiny", "--segy-volumes", "amplitude"], "give --segy-dir"),
])
def test_bad_input_is_one_line_and_creates_nothing(tmp_path, args, fragment):
    before = snapshot(tmp_path)
    refused(run(tmp_path / "s.zarr", *(a.format(d=tmp_path) for a in args)), fragment)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name, fragment", [
    ("s" * 300, "300 bytes"),                  # the store's own name
    ("p" * 250, "polygons.json"),              # fits, but its polygon file's name does not
    ("..", "names no folder"),
    ("missing/s.zarr", "does not exist"),
    ("file.txt/s.zarr", "is a file"),
])
def test_bad_store_paths_are_one_line_and_create_nothing(tmp_path, name, fragment):
    (tmp_path / "file.txt").write_text("x")
    before = snapshot(tmp_path)
    refused(run(tmp_path / name, "--size", "tiny"), fragment)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- no half-made store that looks complete
def test_a_failure_before_the_polygons_leaves_every_array_incomplete(tmp_path, monkeypatch):
    store = small_store(tmp_path / "s.zarr", seed=1).path

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device", str(polygons_path(store)))

    monkeypatch.setattr(generate_module, "write_polygons", failing)
    refused(run(store, *SMALL, "--overwrite", "--seed", "2"), "No space left on device")
    survey = Survey.open(store)
    assert survey.volumes() == [] and len(survey.volumes(include_incomplete=True)) == 12
    # The old store's polygons went with it: none stands beside the new, unfinished store.
    assert not polygons_path(store).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_a_store_being_written_cannot_be_replaced_meanwhile(tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"
    real = generate_module._write_bricks
    seen = []

    def with_a_rival(*args, **kwargs):
        with pytest.raises(FaciesError, match="in use by another facies command") as info:
            make_synthetic(path, shape=(10, 9, 16), overwrite=True, progress=False)
        seen.append(str(info.value))
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_module, "_write_bricks", with_a_rival)
    survey = make_synthetic(path, shape=(10, 9, 16), progress=False)
    assert seen and len(survey.volumes()) == 12
