"""``facies export`` writes nothing into a survey store and replaces only a SEG-Y file facies export wrote.

Every refused export is one ``error:`` line on stderr, exit 2, no traceback; the target and every
store around are byte for byte as they were, and the stores still verify.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import segyio

from facies.engine.paths import enclosing_store
from facies.engine.segy import export
from facies.engine.segy.export import is_facies_segy
from facies.engine.store import Survey
from facies.engine.synth import polygons_path
from facies.engine.synth.preflight import is_synth_segy
from tests.helpers import writable_copy
from tests.helpers import run_cli as run, one_line_error as refused
from tests.segy_support import grid, make_segy


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def contents(folder: Path) -> dict:
    """Every entry under ``folder``: a link's target, a folder, or a file's SHA-256 (links not followed)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                out[key] = ("link", os.readlink(path))
            elif path.is_dir():
                out[key] = ("folder",)
            elif path.is_file():
                out[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                out[key] = ("special",)
    return out


@pytest.fixture(scope="module")
def world(tiny_synthetic, tmp_path_factory) -> Path:
    """A folder with the tiny synthetic store (with a training table and a model), its polygon file,
    a second store, a user's file, a foreign SEG-Y file and a previous facies export."""
    folder = tmp_path_factory.mktemp("world")
    store = writable_copy(tiny_synthetic, folder)
    ok("training", "extract", store, polygons_path(store), "-a", "amplitude,envelope")
    ok("rf", "train", store, "--name", "m", "--trees", "3", "--max-depth", "2", "--out", folder / "report")
    writable_copy(tiny_synthetic, folder / "other")  # other/tiny.zarr: not the exported store
    (folder / "thesis.txt").write_text("four years of work")
    make_segy(folder / "foreign.sgy", grid([1, 2], [1, 2, 3]))
    ok("export", store, "envelope", folder / "previous.sgy", "--no-progress")
    return folder


@pytest.fixture
def unchanged(world):
    """Assert, after the test, that nothing in the world changed and both stores verify."""
    before = contents(world)
    yield world
    assert contents(world) == before
    for store in (world / "tiny.zarr", world / "other" / "tiny.zarr"):
        ok("verify", store)


# ---------------------------------------------------------------------- (a) nothing into a store
IN_STORE = [
    "tiny.zarr/zarr.json",                            # the store's own metadata
    "tiny.zarr/amplitude/c/0/0/0",                    # a chunk file
    "tiny.zarr/amplitude/zarr.json",                  # an array's metadata
    "tiny.zarr/models/m/zarr.json",                   # a model's
    "tiny.zarr/training/picks/zarr.json",             # a training table's
    "tiny.zarr/new.sgy",                              # a new file in the store
    "tiny.zarr/amplitude/new.sgy",                    # a new file in an array's folder
    "tiny.zarr/nope/new.sgy",                         # a missing folder in the store
    "tiny.zarr/amplitude",                            # an array's folder
    "other/tiny.zarr/zarr.json",                      # another store than the one exported
    "other/tiny.zarr/new.sgy",
    "other/../tiny.zarr/new.sgy",                     # '..' leading into a store
]


@pytest.mark.parametrize("target", IN_STORE)
@pytest.mark.parametrize("overwrite", [True, False])
def test_a_target_inside_a_store_is_refused(unchanged, target, overwrite):
    world = unchanged
    store = world / "tiny.zarr"
    args = ["export", store, "envelope", world / target, "--no-progress"] + (["--overwrite"] if overwrite else [])
    expected = (world / "other" / "tiny.zarr" if target.startswith("other/tiny") else store).resolve()
    refused(run(*args), "is inside the survey store", str(expected), "choose a SEG-Y file name outside it")


def test_the_store_itself_is_refused(unchanged):
    store = unchanged / "tiny.zarr"
    refused(run("export", store, "amplitude", store, "--overwrite"), "is the survey store")


def test_a_folder_linked_into_a_store_is_refused(unchanged, tmp_path):
    (tmp_path / "link").symlink_to(unchanged / "tiny.zarr" / "amplitude")
    refused(run("export", unchanged / "tiny.zarr", "amplitude", tmp_path / "link" / "zarr.json", "--overwrite"),
            "inside the survey store")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_a_relative_target_from_inside_a_store_is_refused(unchanged, monkeypatch):
    monkeypatch.chdir(unchanged / "tiny.zarr" / "amplitude")
    refused(run("export", "..", "amplitude", "x.sgy"), "x.sgy is inside the survey store")


def test_enclosing_store_finds_the_innermost_store(world, tmp_path):
    store = (world / "tiny.zarr").resolve()
    assert enclosing_store(world / "tiny.zarr" / "amplitude" / "c") == store
    assert enclosing_store(world / "tiny.zarr" / "missing" / "deeper") == store
    assert enclosing_store(world / "tiny.zarr") == store
    assert enclosing_store(world) is None and enclosing_store(tmp_path) is None


# ---------------------------------------------------------------------- (b) only a facies export is replaced
@pytest.mark.parametrize("name", ["thesis.txt", "tiny.polygons.json", "foreign.sgy", "report/m_cv.csv"])
def test_overwrite_never_replaces_a_file_facies_export_did_not_write(unchanged, name):
    world = unchanged
    line = refused(run("export", world / "tiny.zarr", "amplitude", world / name, "--overwrite"),
                   "is not a SEG-Y file facies export wrote", "even with --overwrite",
                   "move it away or choose another name")
    assert name in line
    # Without --overwrite: the same, and no hint that --overwrite would do.
    line = refused(run("export", world / "tiny.zarr", "amplitude", world / name), "not a SEG-Y file facies export")
    assert "pass --overwrite" not in line


def test_a_previous_export_is_replaced_only_with_overwrite(world, tmp_path):
    out = tmp_path / "out.sgy"
    ok("export", world / "tiny.zarr", "envelope", out, "--no-progress", "--format", "ibm")
    assert is_facies_segy(out) and is_synth_segy(out)
    old = out.read_bytes()
    refused(run("export", world / "tiny.zarr", "amplitude", out), "already exists (a SEG-Y file facies export "
            "wrote); pass --overwrite")
    assert out.read_bytes() == old
    ok("export", world / "tiny.zarr", "amplitude", out, "--overwrite", "--no-progress")
    survey = Survey.open(world / "tiny.zarr")
    with segyio.open(out, ignore_geometry=True) as f:  # the live traces, inline-major
        np.testing.assert_array_equal(f.trace.raw[:], survey.read("amplitude")[survey.geometry.trace_mask])
    # ...and a file synth --segy-dir wrote, which is a facies export too.
    ok("synth", tmp_path / "s.zarr", "--shape", "10", "9", "16", "--segy-dir", tmp_path / "sgy",
       "--segy-volumes", "truth")
    ok("export", world / "tiny.zarr", "amplitude", tmp_path / "sgy" / "truth.sgy", "--overwrite", "--no-progress")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sgy", "s.polygons.json", "s.zarr", "sgy"]
    assert sorted(p.name for p in (tmp_path / "sgy").iterdir()) == ["truth.sgy"]


@pytest.mark.parametrize("points_to", ["previous.sgy", "thesis.txt", "missing.sgy"])
def test_a_symbolic_link_is_refused(unchanged, points_to):
    world = unchanged
    link = world / "link.sgy"
    link.symlink_to(world / points_to)
    try:
        for extra in (["--overwrite"], []):
            refused(run("export", world / "tiny.zarr", "amplitude", link, *extra), "link.sgy is a symbolic link",
                    "remove the link or choose another name")
        assert link.is_symlink() and os.readlink(link) == str(world / points_to)
    finally:
        link.unlink()


def test_a_folder_and_a_named_pipe_are_refused(tmp_path, world):
    (tmp_path / "dir.sgy").mkdir()
    refused(run("export", world / "tiny.zarr", "amplitude", tmp_path / "dir.sgy", "--overwrite"), "is a folder")
    os.mkfifo(tmp_path / "pipe.sgy")
    refused(run("export", world / "tiny.zarr", "amplitude", tmp_path / "pipe.sgy", "--overwrite"),
            "pipe.sgy is a named pipe, not a file", "move it away or choose another name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.sgy", "pipe.sgy"]
    assert list((tmp_path / "dir.sgy").iterdir()) == []


def test_a_file_put_at_the_target_during_the_export_is_not_replaced(world, tmp_path, monkeypatch):
    out = tmp_path / "out.sgy"
    real = export._fill_headers

    def fill_then_someone_writes(*args, **kwargs):
        if not out.exists():
            out.write_text("written meanwhile")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "_fill_headers", fill_then_someone_writes)
    refused(run("export", world / "tiny.zarr", "amplitude", out, "--overwrite", "--no-progress"),
            "not a SEG-Y file facies export wrote")
    assert out.read_text() == "written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sgy"]  # no temporary file left


def test_a_link_at_the_temporary_name_is_not_written_through(world, tmp_path):
    (tmp_path / "thesis.txt").write_text("keep")
    (tmp_path / f".out.sgy.{os.getpid()}.tmp").symlink_to(tmp_path / "thesis.txt")
    ok("export", world / "tiny.zarr", "amplitude", tmp_path / "out.sgy", "--no-progress")
    assert (tmp_path / "thesis.txt").read_text() == "keep" and is_facies_segy(tmp_path / "out.sgy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sgy", "thesis.txt"]


def test_what_counts_as_a_facies_export(world, tmp_path):
    previous = (world / "previous.sgy").read_bytes()
    assert is_facies_segy(world / "previous.sgy")
    assert not is_facies_segy(world / "foreign.sgy") and not is_facies_segy(world / "thesis.txt")
    assert not is_facies_segy(tmp_path / "missing.sgy") and not is_facies_segy(world)

    def variant(name, data):
        (tmp_path / name).write_bytes(data)
        return is_facies_segy(tmp_path / name)

    assert variant("whole.sgy", previous)
    assert not variant("short.sgy", previous[:3000])  # not even the two headers
    text = previous[:3200].decode("cp037")
    assert not variant("edited.sgy", ("C 1 acme " + text[9:]).encode("cp037") + previous[3200:])
    assert not variant("no_end.sgy", (text[:39 * 80] + " " * 80).encode("cp037") + previous[3200:])
    fmt = 3224  # the binary header's sample format (bytes 3225-3226)
    assert not variant("int16.sgy", previous[:fmt] + (3).to_bytes(2, "big") + previous[fmt + 2:])
    (tmp_path / "link.sgy").symlink_to(world / "previous.sgy")
    assert not is_facies_segy(tmp_path / "link.sgy")  # a link is not the file it points to
