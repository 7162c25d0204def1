"""Bad SEG-Y input: one-line FaciesError, exit 2 from the CLI, nothing left looking complete."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import USER_ERROR, app
from facies.engine.errors import FaciesError
from facies.engine.segy import ingest_segy
from facies.engine.store import Survey
from tests.segy_support import grid, make_segy


def _patched(src, dst, offset, value: bytes):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(value)
    return dst


def _expect(path, store, match, **kwargs):
    with pytest.raises(FaciesError, match=match) as info:
        ingest_segy(path, store, **kwargs)
    assert "\n" not in str(info.value)
    assert not store.exists()  # checked before the store is created, or the new store removed again


def test_not_a_segy_file(tmp_path):
    (tmp_path / "notes.sgy").write_text("hello\n" * 1000)
    _expect(tmp_path / "notes.sgy", tmp_path / "s.zarr", "not a SEG-Y file")
    (tmp_path / "tiny.sgy").write_bytes(b"\0" * 100)
    _expect(tmp_path / "tiny.sgy", tmp_path / "s.zarr", "less than the 3600-byte")
    _expect(tmp_path / "absent.sgy", tmp_path / "s.zarr", "does not exist")


def test_truncated_file(shared_data, tmp_path):
    data = (shared_data / "f3.sgy").read_bytes()
    (tmp_path / "cut.sgy").write_bytes(data[:-100])
    _expect(tmp_path / "cut.sgy", tmp_path / "s.zarr", "truncated")


@pytest.mark.parametrize("code, name", [(4, "fixed point"), (7, "3-byte signed")])
def test_unsupported_sample_format(shared_data, tmp_path, code, name):
    path = _patched(shared_data / "f3.sgy", tmp_path / "f.sgy", 3224, int(code).to_bytes(2, "big"))
    _expect(path, tmp_path / "s.zarr", f"{name}.*not supported")


def test_unbinnable_headers(tmp_path):
    cube = make_segy(tmp_path / "cube.sgy", grid([1, 2], [1, 2]))
    _expect(cube, tmp_path / "s.zarr", "inline number 0 at byte 13.*--iline-byte", iline_byte=13)
    _expect(cube, tmp_path / "s.zarr", "outside the 240-byte", xline_byte=239)


def test_prestack_or_duplicate_traces(tmp_path):
    gathers = make_segy(tmp_path / "gathers.sgy", grid([1, 2], [1, 2]) * 3)
    _expect(gathers, tmp_path / "s.zarr", "4 bins hold several traces.*pre-stack")


def test_existing_array_name(shared_data, tmp_path):
    store = tmp_path / "s.zarr"
    ingest_segy(shared_data / "small.sgy", store, names=["amp"])
    with pytest.raises(FaciesError, match="'amp' already exists.*--name"):
        ingest_segy(shared_data / "small.sgy", store, names=["amp"])
    assert Survey.open(store).volumes() == ["amp"]


def test_geometry_mismatch_names_the_difference(shared_data, tmp_path):
    store = tmp_path / "s.zarr"
    ingest_segy(shared_data / "f3.sgy", store)
    other = make_segy(tmp_path / "o.sgy", grid(range(111, 134), range(875, 893)), n_samples=10)
    with pytest.raises(FaciesError, match="samples: 75 values.*vs 10 values"):
        ingest_segy(other, store)


def test_cli_error_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.sgy").write_bytes(np.zeros(5000, np.uint8).tobytes())
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "bad.sgy"), "--survey", str(tmp_path / "s.zarr")])
    assert result.exit_code == USER_ERROR
    assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "bad.sgy"), "--survey", str(tmp_path / "s.zarr"),
                                      "--chunks", "1,2"])
    assert result.exit_code == USER_ERROR and "--chunks" in result.output


def test_cli_ingest_ctrl_c_says_how_to_resume(tmp_path, monkeypatch):
    """Ctrl-C: exit 130 with the columns done and the --resume hint (not click's bare 'Aborted!'); --resume finishes."""
    from facies.engine.segy import ingest

    def interrupt(done):
        if done == 2:
            raise KeyboardInterrupt

    source = make_segy(tmp_path / "a.sgy", grid([10, 12, 14], [5, 6, 7, 8]))
    args = ["ingest", str(source), "--survey", str(tmp_path / "s.zarr"), "--chunks", "1,2,6", "--no-progress"]
    monkeypatch.setattr(ingest, "_after_column_hook", interrupt)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines() == [
        f"facies: interrupted: 2 of 6 columns of 'amplitude' are written and recorded in {tmp_path / 's.zarr'}; "
        "run the same command again with --resume to continue"]
    assert Survey.open(tmp_path / "s.zarr").volumes() == []
    monkeypatch.setattr(ingest, "_after_column_hook", None)
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert Survey.open(tmp_path / "s.zarr").volumes() == ["amplitude"]
