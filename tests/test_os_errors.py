"""Operating-system failures a user meets end in one line, exit 2, no traceback, nothing marked complete.

Permissions are tested as root without the capabilities that bypass file modes (capsh), since
CI runs as root; the other cases (a full disk, a long name, a path under a file) are driven in process.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facies.engine import Survey
from facies.engine.integrity import CheckedStore
from facies.engine.oserrors import describe_os_error
from tests.helpers import tiny_store
from tests.helpers import run_cli as run, one_line_error as assert_one_line_error

FACIES = [str(Path(sys.executable).parent / "facies")]  # the console script of this environment


# ---------------------------------------------------------------------- the message
@pytest.mark.parametrize("exc, fragments", [
    (PermissionError(errno.EACCES, "Permission denied", "/s.zarr/a"),
     ["Permission denied", "'/s.zarr/a'", "permissions"]),
    (OSError(errno.ENOSPC, "No space left on device"), ["No space left", "disk is full", "--resume"]),
    (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), ["File name too long", "255 bytes"]),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "f.txt/s.zarr"), ["Not a directory", "is a file"]),
    (MemoryError(), ["not enough memory"]),
])
def test_os_errors_read_as_one_line(exc, fragments):
    message = describe_os_error(exc)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# ---------------------------------------------------------------------- permissions (real ones)
def _without_dac_override(command: list[str], cwd) -> subprocess.CompletedProcess:
    """Run ``command`` as root without the capabilities that ignore file modes."""
    line = " ".join(f"'{part}'" for part in command)
    return subprocess.run(["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner", "--", "-c", line],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FACIES_DEVICE": "cpu"})


@pytest.fixture
def read_only_store(tmp_path):
    if shutil.which("capsh") is None or os.geteuid() != 0:
        pytest.skip("needs root and capsh to drop the permission bypass")
    folder = tmp_path / "ro"
    folder.mkdir()
    tiny_store(folder / "s.zarr", chunks=(4, 4, 8))
    (folder / "polygons.json").write_text('{"polygons": []}')
    before = sorted(str(p) for p in folder.rglob("*"))
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    yield folder, before
    subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)


@pytest.mark.parametrize("args", [
    ["filter", "mean", "{s}", "-i", "amplitude", "-r", "1"],
    ["filter", "kuwahara", "{s}", "-i", "amplitude", "--radius", "1"],
    ["synth", "{d}/new.zarr", "--size", "tiny"],
    ["export", "{s}", "amplitude", "{d}/a.sgy"],
    ["training", "import", "{s}", "{d}/polygons.json", "--name", "picks"],
])
def test_permission_denied_is_one_line_and_changes_nothing(read_only_store, args):
    folder, before = read_only_store
    command = FACIES + [a.format(s=folder / "s.zarr", d=folder) for a in args]
    result = _without_dac_override(command, folder.parent)
    assert_one_line_error(result)
    assert sorted(str(p) for p in folder.rglob("*")) == before


def test_a_read_only_store_can_still_be_read(read_only_store):
    folder, _ = read_only_store
    for args in (["info", str(folder / "s.zarr")], ["verify", str(folder / "s.zarr")]):
        result = _without_dac_override(FACIES + args, folder.parent)
        assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------- a full disk
def test_a_full_disk_during_a_filter_leaves_the_output_incomplete_then_resumes(tmp_path, monkeypatch):
    store = tiny_store(tmp_path / "s.zarr", shape=(12, 10, 16), chunks=(4, 4, 8)).path
    real_set = CheckedStore.set
    written = []

    async def filling_set(self, key, value):
        if "/amplitude_mean/c/" in f"/{key}":
            written.append(key)
            if len(written) > 5:
                raise OSError(errno.ENOSPC, "No space left on device")
        return await real_set(self, key, value)

    monkeypatch.setattr(CheckedStore, "set", filling_set)
    common = ["filter", "mean", store, "-i", "amplitude", "-r", "1", "--device", "cpu"]
    args = [*common, "--output", "amplitude_mean", "--brick", "4,4"]
    assert_one_line_error(run(*args), "No space left on device", "--resume")
    survey = Survey.open(store)
    assert survey.has("amplitude_mean") and not survey.is_complete("amplitude_mean")

    monkeypatch.setattr(CheckedStore, "set", real_set)  # space freed
    assert run(*args, "--resume").exit_code == 0
    resumed = Survey.open(store).read("amplitude_mean")
    assert run(*common, "--output", "whole").exit_code == 0
    np.testing.assert_array_equal(resumed, Survey.open(store).read("whole"))


# ---------------------------------------------------------------------- names and paths
def test_a_store_name_longer_than_the_file_system_allows(tmp_path):
    result = run("synth", tmp_path / ("s" * 300 + ".zarr"), "--size", "tiny")
    assert_one_line_error(result)
    assert list(tmp_path.iterdir()) == []


def test_a_store_path_under_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    assert_one_line_error(run("synth", tmp_path / "file.txt" / "s.zarr", "--size", "tiny"))
    assert (tmp_path / "file.txt").read_text() == "x"


def test_an_export_path_under_a_file(tmp_path):
    store = tiny_store(tmp_path / "s.zarr").path
    (tmp_path / "file.txt").write_text("x")
    assert_one_line_error(run("export", store, "amplitude", tmp_path / "file.txt" / "a.sgy"))


def test_an_array_zarr_json_that_is_a_folder(tmp_path):
    store = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope")).path
    (store / "envelope" / "zarr.json").unlink()
    (store / "envelope" / "zarr.json").mkdir()
    result = run("export", store, "envelope", tmp_path / "e.sgy")
    assert_one_line_error(result)
    assert run("export", store, "amplitude", tmp_path / "a.sgy").exit_code == 0


def test_select_on_a_store_it_cannot_record_in_fails_before_fitting(tmp_path):
    if shutil.which("capsh") is None or os.geteuid() != 0:
        pytest.skip("needs root and capsh to drop the permission bypass")
    from tests.helpers import training_table

    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope"))
    rng = np.random.default_rng(0)
    codes = np.repeat([1, 2, 3], 60)
    table = training_table(codes, {"amplitude": rng.standard_normal(180) + codes,
                                   "envelope": rng.standard_normal(180) - codes})
    table.save(survey, "picks")
    subprocess.run(["chmod", "-R", "a-w", str(survey.path)], check=True)
    try:
        out = tmp_path / "sel"
        command = FACIES + ["select", str(survey.path), "--training", "picks", "--out", str(out), "--dims", "1"]
        result = _without_dac_override(command, tmp_path)
        assert_one_line_error(result, "Permission denied")
        assert not (out / "summary.json").exists() and not (out / "combinations.csv").exists()
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(survey.path)], check=True)
