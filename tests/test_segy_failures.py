"""Every failure a user can cause in ingest and export, through the CLI: one line ``error: ...``, exit 2,
no traceback, and nothing half-made left looking complete (no new store without a volume, no partial SEG-Y)."""

from __future__ import annotations

import errno
import logging
import os
import threading

import numpy as np
import pytest
import segyio
from typer.testing import CliRunner

from facies.cli.app import USER_ERROR, app
from facies.engine.errors import FaciesError
from facies.engine.provenance import make_provenance
from facies.engine.segy import export, ingest, ingest_segy
from facies.engine import store as store_module
from facies.engine.store import Survey
from tests.segy_support import grid, make_segy, trace_values

IL, XL = [10, 12, 14], [5, 6, 7, 8]


def _run(args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _fails(args, *patterns: str) -> str:
    """Run the CLI, expect exit 2 with one ``error:`` line on stderr that contains every pattern."""
    result = _run(args)
    assert result.exit_code == USER_ERROR, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for pattern in patterns:
        assert pattern in lines[0], lines[0]
    return lines[0]


def _ok(args):
    result = _run(args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _ingest(files, store, *extra):
    files = files if isinstance(files, (list, tuple)) else [files]
    return ["ingest", *files, "--survey", store, "--no-progress", *extra]


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------- 1. all-dead files
@pytest.mark.parametrize("fmt", [1, 5])
def test_all_dead_file_is_an_error_and_leaves_no_store(tmp_path, fmt):
    traces = grid(IL, XL)
    dead = make_segy(tmp_path / "dead.sgy", traces, fmt=fmt, zero=traces)
    _fails(_ingest(dead, tmp_path / "s.zarr", "--chunks", "2,2,6"), "dead.sgy has no live trace", "all dead")
    assert _names(tmp_path) == ["dead.sgy"]


def test_all_dead_later_file_leaves_the_store_as_it_was(tmp_path):
    traces = grid(IL, XL)
    a = make_segy(tmp_path / "a.sgy", traces, zero=[(14, 5)])
    # Live only where a is dead: zero on every live trace of the survey.
    b = make_segy(tmp_path / "b.sgy", traces, zero=[t for t in traces if t != (14, 5)])
    store = tmp_path / "s.zarr"
    _ok(_ingest(a, store, "--chunks", "2,2,6"))
    before = Survey.open(store)
    mask, data = before.geometry.trace_mask.copy(), before.read("amplitude")
    _fails(_ingest(b, store), "b.sgy has no live trace", "11 live traces")
    after = Survey.open(store)
    assert after.volumes(include_incomplete=True) == ["amplitude"]
    assert "b" not in after.group.attrs["segy"]["volumes"]
    np.testing.assert_array_equal(after.geometry.trace_mask, mask)
    assert after.read("amplitude").tobytes() == data.tobytes()
    _ok(_ingest(a, store, "--name", "b"))  # the name is free again


def test_all_dead_first_file_into_an_existing_store_frees_the_mask(tmp_path):
    """A store made by a dead file's failed ingest (here: kept because the store existed) takes the next file."""
    traces = grid(IL, XL)
    good = make_segy(tmp_path / "good.sgy", traces, zero=[(10, 5)])
    dead = make_segy(tmp_path / "dead.sgy", traces, zero=traces)
    store = tmp_path / "s.zarr"
    Survey.create(store, ingest.scan_segy(good, ingest.header_bytes()).geometry, chunks=(2, 2, 6))
    _fails(_ingest(dead, store), "no live trace")
    survey = Survey.open(store)
    assert survey.volumes(include_incomplete=True) == [] and survey.geometry.trace_mask.all()
    _ok(_ingest(good, store))
    survey = Survey.open(store)
    assert survey.volumes() == ["amplitude"] and int(survey.geometry.trace_mask.sum()) == 11


# ---------------------------------------------------------------------- 2. sample interval 0
def test_zero_sample_interval_needs_the_option(tmp_path):
    path = make_segy(tmp_path / "a.sgy", grid(IL, XL), interval_us=0)
    store = tmp_path / "s.zarr"
    _fails(_ingest(path, store), "a.sgy: the sample interval is 0", "--sample-interval")
    _fails(_ingest(path, store, "--sample-interval", "-2"), "--sample-interval must be a positive number")
    assert _names(tmp_path) == ["a.sgy"]
    _ok(_ingest(path, store, "--sample-interval", "2.5"))
    survey = Survey.open(store)
    np.testing.assert_array_equal(survey.geometry.samples, np.arange(6) * 2.5)
    assert survey.group.attrs["segy"]["sample_interval"] == 2500
    out = tmp_path / "out.sgy"
    _ok(["export", store, "amplitude", out])
    with segyio.open(out) as f:
        assert f.bin[segyio.BinField.Interval] == 2500 and f.header[0][segyio.TraceField.TRACE_SAMPLE_INTERVAL] == 2500


def test_sample_interval_option_overrides_the_headers(tmp_path):
    path = make_segy(tmp_path / "a.sgy", grid(IL, XL), interval_us=4000)
    survey = ingest_segy(path, tmp_path / "s.zarr", sample_interval=2)
    np.testing.assert_array_equal(survey.geometry.samples, np.arange(6) * 2.0)


# ---------------------------------------------------------------------- 3. one-line slabs
@pytest.mark.parametrize("inlines, crosslines", [([7], [3, 4, 5, 6, 7]), ([7, 9, 11], [3])])
def test_one_line_slab_is_a_cube_as_segyio_reads_it(tmp_path, inlines, crosslines):
    path = make_segy(tmp_path / "slab.sgy", grid(inlines, crosslines), n_samples=8)
    store = tmp_path / "s.zarr"
    result = _ok(_ingest(path, store, "--chunks", "2,2,4"))
    assert f"{len(inlines)} x {len(crosslines)} x 8" in result.stdout
    survey = Survey.open(store)
    g = survey.geometry
    data = survey.read("amplitude")
    with segyio.open(path) as f:  # segyio's own geometry inference
        np.testing.assert_array_equal(g.inlines, f.ilines)
        np.testing.assert_array_equal(g.crosslines, f.xlines)
        np.testing.assert_array_equal(g.samples, f.samples)
        for i, il in enumerate(f.ilines):
            np.testing.assert_array_equal(data[i], f.iline[il])
        for j, xl in enumerate(f.xlines):
            np.testing.assert_array_equal(data[:, j], f.xline[xl])
    assert g.trace_mask.all() and data[0, 0, 1] == trace_values(inlines[0], crosslines[0], 8)[1]
    out = tmp_path / "out.sgy"
    _ok(["export", store, "amplitude", out])
    with segyio.open(out) as f:
        np.testing.assert_array_equal(f.ilines, inlines)
        assert f.trace.raw[:].tobytes() == data.reshape(-1, 8).tobytes()


# ---------------------------------------------------------------------- 4. --overwrite, "already ingested"
def test_interrupted_ingest_can_be_resumed_or_started_over(tmp_path, monkeypatch):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    store = tmp_path / "s.zarr"
    reference = ingest_segy(a, tmp_path / "ref.zarr", chunks=(1, 2, 6)).read("amplitude")

    def interrupt(done):
        if done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "_after_column_hook", interrupt)
    assert _run(_ingest(a, store, "--chunks", "1,2,6")).exit_code == 130
    monkeypatch.setattr(ingest, "_after_column_hook", None)
    _fails(_ingest(a, store, "--chunks", "1,2,6"), "'amplitude' already exists", "--overwrite", "--resume")
    _fails(_ingest(a, store, "--chunks", "1,2,6", "--resume", "--overwrite"), "pass one of them")
    _fails(_ingest(a, store, "--chunks", "2,2,6", "--resume"), "cannot resume", "chunks",
           "--overwrite instead of --resume")
    _ok(_ingest(a, store, "--chunks", "1,2,6", "--overwrite"))
    survey = Survey.open(store)
    assert survey.volumes() == ["amplitude"] and survey.read("amplitude").tobytes() == reference.tobytes()
    assert "ingest-amplitude" not in survey.group["_runs"]


def test_resume_of_a_two_file_command_ingests_nothing_twice(tmp_path, monkeypatch):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    b = make_segy(tmp_path / "b.sgy", grid(IL, XL), zero=[(12, 6)])
    store = tmp_path / "s.zarr"
    args = _ingest([a, b], store, "--chunks", "1,2,6")  # 6 columns per file
    calls = []

    def interrupt(done):
        calls.append(done)
        if len(calls) == 8:  # the second column of b
            raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "_after_column_hook", interrupt)
    assert _run(args).exit_code == 130
    monkeypatch.undo()
    assert Survey.open(store).volumes(include_incomplete=True) == ["amplitude", "b"]
    _ok([*args, "--resume"])
    survey = Survey.open(store)
    assert survey.volumes(include_incomplete=True) == ["amplitude", "b"]
    together = ingest_segy([a, b], tmp_path / "r.zarr", chunks=(1, 2, 6))
    for name in ("amplitude", "b"):
        assert survey.read(name).tobytes() == together.read(name).tobytes()


def test_already_ingested_only_when_it_is_so(tmp_path, caplog):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    b = make_segy(tmp_path / "b.sgy", grid(IL, XL), zero=[(10, 5)])  # same grid, other samples
    store = tmp_path / "s.zarr"
    _ok(_ingest(a, store))
    reference = Survey.open(store).read("amplitude")
    with caplog.at_level(logging.WARNING, logger="facies"):
        _ok(_ingest(a, store, "--resume"))  # the same command again: the first file is still "amplitude"
    assert "a.sgy is already ingested as 'amplitude'; nothing to resume" in caplog.text
    assert Survey.open(store).volumes(include_incomplete=True) == ["amplitude"]
    _fails(_ingest(b, store, "--name", "amplitude", "--resume"), "'amplitude'",
           "complete but was ingested from other input", "b.sgy", "--overwrite")
    _fails(_ingest(a, store, "--resume", "--cdpx-byte", "185"), "other input", "header_bytes")
    assert Survey.open(store).read("amplitude").tobytes() == reference.tobytes()
    _ok(_ingest(b, store, "--name", "amplitude", "--overwrite"))
    survey = Survey.open(store)
    assert survey.volumes() == ["amplitude"] and not survey.read("amplitude")[0, 0].any()
    assert survey.provenance("amplitude")["parameters"]["file"] == str(b.resolve())
    assert not survey.geometry.trace_mask[0, 0]  # b defines the mask now: its dead trace


def test_overwrite_replaces_only_what_ingest_made(tmp_path):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    store = tmp_path / "s.zarr"
    survey = ingest_segy(a, store)
    made = np.ones(survey.shape, np.float32)
    survey.add_volume("smooth", made, provenance=make_provenance("facies filter mean", {}, ["amplitude"]))
    _fails(_ingest(a, store, "--name", "smooth", "--overwrite"), "'smooth'", "made by 'facies filter mean'",
           "not by ingest")
    _fails(_ingest(a, store, "--name", "smooth"), "already exists", "--overwrite")
    np.testing.assert_array_equal(Survey.open(store).read("smooth"), made)


# ---------------------------------------------------------------------- 5. names, and no store left behind
@pytest.mark.parametrize("name, message", [
    ("../../x", "is not valid"), ("a/b", "is not valid"), (".hidden", "is not valid"), ("trace_mask", "coordinate"),
    ("é" * 101, "202 bytes long in UTF-8"), ("x" * 201, "201 bytes long"),
])
def test_bad_names_are_refused_before_anything_is_created(tmp_path, name, message):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    path = make_segy(work / "f.sgy", grid(IL, XL))
    _fails(_ingest(path, work / "s.zarr", "--name", name), message)
    assert _names(work) == ["f.sgy"] and _names(tmp_path) == ["a"] and _names(tmp_path / "a") == ["b"]


def test_longest_name_is_taken(tmp_path):
    path = make_segy(tmp_path / "f.sgy", grid(IL, XL))
    name = "é" * 100  # 200 bytes in UTF-8
    _ok(_ingest(path, tmp_path / "s.zarr", "--name", name))
    assert Survey.open(tmp_path / "s.zarr").volumes() == [name]


def test_default_name_of_a_long_file_name_is_cut(tmp_path):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    long = make_segy(tmp_path / ("ü" * 120 + ".sgy"), grid(IL, XL))  # 240-byte file name
    _ok(_ingest([a, long], tmp_path / "s.zarr"))
    assert Survey.open(tmp_path / "s.zarr").volumes() == sorted(["amplitude", "ü" * 100])


@pytest.mark.parametrize("extra, message", [
    (["--sample-axis", "sideways"], "sample axis must be"), (["--compression", "lz4"], "compression must be"),
    (["--preset", "odd"], "preset must be"), (["--name", "x", "--name", "x"], "would both be ingested as 'x'"),
    (["--iline-byte", "300"], "outside the 240-byte"),
])
def test_bad_options_leave_no_store(tmp_path, extra, message):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    b = make_segy(tmp_path / "b.sgy", grid(IL, XL))
    _fails(_ingest([a, b], tmp_path / "s.zarr", *extra), message)
    assert _names(tmp_path) == ["a.sgy", "b.sgy"]


def test_bad_second_file_is_found_before_the_first_is_ingested(tmp_path):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    data = a.read_bytes()
    (tmp_path / "cut.sgy").write_bytes(data[:-10])
    (tmp_path / "zero.sgy").write_bytes(make_segy(tmp_path / "z.sgy", grid(IL, XL), interval_us=0).read_bytes())
    _fails(_ingest([a, tmp_path / "cut.sgy"], tmp_path / "s.zarr"), "cut.sgy is truncated")
    _fails(_ingest([a, tmp_path / "zero.sgy"], tmp_path / "s.zarr"), "zero.sgy: the sample interval is 0")
    _fails(_ingest([a, tmp_path / "absent.sgy"], tmp_path / "s.zarr"), "absent.sgy does not exist")
    assert not (tmp_path / "s.zarr").exists()


def test_a_second_file_that_does_not_fit_keeps_the_first(tmp_path):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    other = make_segy(tmp_path / "o.sgy", grid([1, 2], [1, 2]))
    _fails(_ingest([a, other], tmp_path / "s.zarr"), "o.sgy does not match the geometry")
    assert Survey.open(tmp_path / "s.zarr").volumes() == ["amplitude"]


def test_existing_store_is_never_removed(tmp_path):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    dead = make_segy(tmp_path / "dead.sgy", grid(IL, XL), zero=grid(IL, XL))
    store = tmp_path / "s.zarr"
    Survey.create(store, ingest.scan_segy(a, ingest.header_bytes()).geometry)  # empty: no volume
    _fails(_ingest(a, store, "--name", "../x"), "is not valid")
    _fails(_ingest(dead, store), "no live trace")
    _fails(_ingest(tmp_path / "absent.sgy", store), "does not exist")
    assert Survey.open(store).volumes(include_incomplete=True) == []


def test_disk_full_before_any_column_removes_the_new_store(tmp_path, monkeypatch):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ingest, "_write_column", full)
    _fails(_ingest(a, tmp_path / "s.zarr", "--chunks", "1,2,6"), "No space left on device", "disk is full")
    assert _names(tmp_path) == ["a.sgy"]


def test_disk_full_after_some_columns_keeps_them_for_resume(tmp_path, monkeypatch):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    store = tmp_path / "s.zarr"
    args = _ingest(a, store, "--chunks", "1,2,6")

    def full(done):  # in the main thread, once two columns are recorded: deterministic
        if done == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ingest, "_after_column_hook", full)
    _fails(args, "No space left on device", "--resume")
    monkeypatch.undo()
    survey = Survey.open(store)
    assert survey.volumes() == [] and survey.volumes(include_incomplete=True) == ["amplitude"]
    _ok([*args, "--resume"])
    survey = Survey.open(store)
    assert survey.read("amplitude").tobytes() == ingest_segy(a, tmp_path / "r.zarr").read("amplitude").tobytes()


# ---------------------------------------------------------------------- 6. two ingests creating one store
def _create_first(monkeypatch, store, source):
    """While this ingest reads its file, another one creates ``store`` from ``source`` (and completes)."""
    real = ingest.scan_segy

    def scan(*args, **kwargs):
        scanned = real(*args, **kwargs)
        if not store.exists():
            monkeypatch.setattr(ingest, "scan_segy", real)
            ingest_segy(source, store, names=["theirs"])
        return scanned

    monkeypatch.setattr(ingest, "scan_segy", scan)


def test_store_created_meanwhile_by_another_ingest(tmp_path, monkeypatch):
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    store = tmp_path / "s.zarr"
    _create_first(monkeypatch, store, a)
    _fails(_ingest(a, store), "was created by another command while this ingest was reading a.sgy",
           "run this command again")
    survey = Survey.open(store)
    assert survey.volumes(include_incomplete=True) == ["theirs"]
    assert survey.read("theirs").tobytes() == ingest_segy(a, tmp_path / "r.zarr").read("amplitude").tobytes()
    _ok(_ingest(a, store))  # again, as advised: added to that store (named after the file: not the first array)
    assert Survey.open(store).volumes() == ["a", "theirs"]


def test_store_created_between_the_check_and_the_folder(tmp_path, monkeypatch):
    """The other command's folder appears after Survey.create's own existence check: creation is atomic."""
    a = make_segy(tmp_path / "a.sgy", grid(IL, XL))
    store = tmp_path / "s.zarr"

    class Blind(type(store)):
        """A path that does not see the store's folder, as a check made just before it was created."""

        def exists(self, *args, **kwargs):
            return self != store and super().exists(*args, **kwargs)

    real = ingest.scan_segy

    def scan(*args, **kwargs):
        scanned = real(*args, **kwargs)
        monkeypatch.setattr(ingest, "scan_segy", real)
        ingest_segy(a, store, names=["theirs"])
        monkeypatch.setattr(store_module, "Path", Blind)  # Survey.create's check now comes too late
        return scanned

    monkeypatch.setattr(ingest, "scan_segy", scan)
    _fails(_ingest(a, store), "was created by another command")
    monkeypatch.undo()
    survey = Survey.open(store)
    assert survey.volumes(include_incomplete=True) == ["theirs"]
    assert survey.read("theirs").tobytes() == ingest_segy(a, tmp_path / "r.zarr").read("amplitude").tobytes()


def test_two_threads_creating_one_store(tmp_path, monkeypatch):
    """Both ingests scan their file, then both create the store: one wins, the other gets a clear error."""
    files = [make_segy(tmp_path / f"{n}.sgy", grid(IL, XL)) for n in ("a", "b")]
    store = tmp_path / "s.zarr"
    both_scanned = threading.Barrier(2, timeout=30)
    real = ingest.scan_segy

    def scan(*args, **kwargs):
        scanned = real(*args, **kwargs)
        both_scanned.wait()  # neither has created the store yet: both found it absent
        return scanned

    monkeypatch.setattr(ingest, "scan_segy", scan)
    outcomes = {}

    def run(path):
        try:
            ingest_segy(path, store, names=[path.stem])
            outcomes[path.stem] = "ok"
        except FaciesError as exc:
            outcomes[path.stem] = str(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes.values())[-1] == "ok", outcomes
    winner = next(k for k, v in outcomes.items() if v == "ok")
    loser = next(k for k, v in outcomes.items() if v != "ok")
    assert "was created by another command" in outcomes[loser] and "\n" not in outcomes[loser]
    monkeypatch.setattr(ingest, "scan_segy", real)
    survey = Survey.open(store)
    assert survey.volumes(include_incomplete=True) == [winner]
    assert survey.read(winner).tobytes() == ingest_segy(files[0], tmp_path / "r.zarr").read("amplitude").tobytes()


# ---------------------------------------------------------------------- 7. export targets, full disk
@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.zarr"
    ingest_segy(make_segy(tmp_path / "a.sgy", grid(IL, XL)), path)
    return path


def test_export_under_a_file(tmp_path, store):
    (tmp_path / "notes.txt").write_text("x")
    _fails(["export", store, "amplitude", tmp_path / "notes.txt" / "out.sgy"], "notes.txt is a file, not a folder")
    _fails(["export", store, "amplitude", tmp_path / "notes.txt" / "sub" / "out.sgy"], "notes.txt is a file")
    _fails(["export", store, "amplitude", tmp_path / "missing" / "out.sgy"], "missing does not exist; create it")
    _fails(["export", store, "amplitude", tmp_path], "is a folder; give the SEG-Y file's name")
    assert (tmp_path / "notes.txt").read_text() == "x" and not (tmp_path / "missing").exists()


def test_export_to_an_existing_file_needs_overwrite(tmp_path, store):
    out = tmp_path / "out.sgy"
    out.write_bytes(b"keep me")
    for extra in ([], ["--overwrite"]):  # not a file facies export wrote: refused either way
        _fails(["export", store, "amplitude", out, *extra], "out.sgy already exists and is not a SEG-Y file facies "
               "export wrote", "move it away or choose another name")
        assert out.read_bytes() == b"keep me"
    out.unlink()
    _ok(["export", store, "amplitude", out, "--format", "ibm"])
    _fails(["export", store, "amplitude", out], "out.sgy already exists (a SEG-Y file facies export wrote); "
           "pass --overwrite")
    _ok(["export", store, "amplitude", out, "--overwrite"])
    with segyio.open(out) as f:
        np.testing.assert_array_equal(segyio.tools.cube(f), Survey.open(store).read("amplitude"))


@pytest.mark.parametrize("existing", [False, True])
def test_export_disk_full_leaves_no_partial_file(tmp_path, store, monkeypatch, existing):
    out = tmp_path / "out.sgy"
    if existing:  # a previous export, which --overwrite may replace
        _ok(["export", store, "amplitude", out, "--format", "ibm"])
        old = out.read_bytes()
    real = os.pwrite

    def pwrite(fd, data, offset):
        if offset >= 3600:  # trace records: the headers went through, the disk filled up after
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(export.os, "pwrite", pwrite)
    args = ["export", store, "amplitude", out] + (["--overwrite"] if existing else [])
    _fails(args, "No space left on device", str(out), "disk is full")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.sgy", "s.zarr"] + (["out.sgy"] if existing else []))
    if existing:
        assert out.read_bytes() == old
