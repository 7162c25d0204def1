"""bench/bench_survey.py at a tiny size: the report's fields, fused outputs equal to the staged ones bit for bit,
a run that would not fit refused in one line before anything is made, nothing left behind (also on Ctrl-C)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import default_sigint

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "bench_survey.py"
#: A survey of 3 volumes of about 100 x 100 x 96 from a tile of 48 x 40 x 64, models as small as fit.
TINY = ["--gigabytes", "0.01", "--attributes", "3", "--tile", "48,40,64", "--samples", "96", "--chunks", "32,32,48",
        "--brick", "32,32", "--gtm-grid", "5", "--gtm-basis", "3", "--gtm-iterations", "5", "--trees", "3",
        "--max-depth", "4"]


@pytest.fixture
def bench_modules(monkeypatch):
    """bench/ on sys.path, as when its scripts run."""
    monkeypatch.syspath_prepend(str(BENCH))


def run_script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def test_tiny_survey_fused_equals_staged(tmp_path):
    build, out = tmp_path / "build", tmp_path / "survey.json"
    build.mkdir()
    done = run_script(*TINY, "--folder", str(build), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert list(build.iterdir()) == []  # the stores were removed
    size = report["sizes"][0]
    assert size["fused_equals_staged"] is True
    assert {"facies_gtm", "confidence_gtm", "facies_rf", "confidence_rf"} <= set(size["compared_arrays"])
    assert size["voxels"] == np.prod(size["shape"]) and size["shape"][2] == 96
    assert size["volume_names"][:2] == ["envelope", "similarity"]
    steps = {mode: [s["step"] for s in size["modes"][mode]["steps"]] for mode in size["modes"]}
    assert steps == {"zarr_copy": ["zarr_copy_copy"], "staged": ["staged_filter", "staged_gtm", "staged_forest"],
                     "fused": ["fused_declare", "fused_apply"]}
    for mode in size["modes"].values():
        assert mode["wall_s"] > 0 and mode["voxels_per_s"] == pytest.approx(size["voxels"] / mode["wall_s"])
        assert mode["peak_rss_bytes"] > 50e6 and mode["rchar"] > 0 and mode["wchar"] > 0
        assert mode["array_bytes_read"] > 0 and mode["array_bytes_written"] > 0
    staged_written = {n for s in size["modes"]["staged"]["steps"] for n in s["arrays_written"]}
    fused_written = set(size["modes"]["fused"]["steps"][1]["arrays_written"])
    assert {"envelope_kuw", "similarity_kuw"} <= staged_written and fused_written == staged_written - {
        "envelope_kuw", "similarity_kuw"}
    assert set(size["ratios"]) == {"fused_over_staged_time", "staged_over_fused_speed", "staged_over_zarr_copy_time",
                                   "fused_over_zarr_copy_time"}
    here = report["projection"]["this_machine"]
    assert here["survey"] == [2900, 2930, 1250] and set(here["workflow"]["stages"]) == {"store", "kuwahara", "gtm",
                                                                                          "forest"}
    assert here["same_models_seconds"]["staged"] == pytest.approx(
        size["modes"]["staged"]["wall_s"] * 2900 * 2930 * 1250 / size["voxels"])
    assert "available" in report["projection"]["gpu"]
    assert report["machine"]["cpus"] >= 1 and len(report["load_average_before"]) == 3
    assert report["settings"]["models"]["trees"] == 3


def test_run_that_does_not_fit_is_refused_in_one_line(tmp_path):
    done = run_script("--gigabytes", "1000000", "--folder", str(tmp_path), "--out", str(tmp_path / "r.json"),
                      timeout=120)
    assert done.returncode == 2
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 1e+06 GB does not fit"), done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_removes_the_folder(tmp_path):
    child = subprocess.Popen([sys.executable, str(SCRIPT), *TINY, "--folder", str(tmp_path), "--out",
                              str(tmp_path / "r.json")], stdout=subprocess.PIPE, text=True,
                             preexec_fn=default_sigint)
    first = child.stdout.readline()
    assert first.startswith("building in "), first
    assert Path(first.split()[-1]).is_dir()
    child.send_signal(signal.SIGINT)
    rest, _ = child.communicate(timeout=300)
    assert child.returncode == 130, rest
    assert list(tmp_path.iterdir()) == []


def test_hashes_tell_one_changed_voxel(tmp_path, bench_modules):
    from bench_survey import hashes
    from facies.engine.store import Survey
    from facies.engine.synth.layout import make_geometry

    survey = Survey.create(tmp_path / "s.zarr", make_geometry((20, 12, 16), 0), chunks=(8, 8, 8))
    values = np.random.default_rng(0).standard_normal(survey.shape).astype(np.float32)
    survey.add_volume("a", values, provenance={})
    values[19, 11, 15] = np.nextafter(values[19, 11, 15], np.float32(9))
    survey.add_volume("b", values, provenance={})
    survey.add_volume("c", values, provenance={})
    found = hashes(survey.path, ["a", "b", "c"], (8, 8))
    assert found["a"] != found["b"] and found["b"] == found["c"]


def test_mirrored_repeat_and_names(bench_modules):
    from survey_data import Models, mirrored, source_of, volume_names

    assert mirrored(9, 3).tolist() == [0, 1, 2, 2, 1, 0, 0, 1, 2]
    names = volume_names(Models(), 14)
    assert names[:2] == ["envelope", "similarity"] and len(set(names)) == 14
    assert "amplitude_2" in names and source_of("amplitude_2") == "amplitude" and source_of("noise_b") == "noise_b"
