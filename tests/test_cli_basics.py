"""CLI: doctor, info, and how user errors come out (one line, exit code 2)."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from facies.cli.app import USER_ERROR, app
from tests.helpers import tiny_store

runner = CliRunner()


def test_doctor_without_gpu_says_so_and_exits_0(monkeypatch):
    monkeypatch.setenv("FACIES_DEVICE", "cpu")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    gpu_lines = [line for line in result.output.splitlines() if line.startswith("GPU:")]
    assert len(gpu_lines) == 1 and "none (FACIES_DEVICE=cpu forces the CPU)" in gpu_lines[0]


@pytest.mark.parametrize("why", ["forced", "no_cupy"])
def test_doctor_json(monkeypatch, why):
    """The JSON report's schema (keys and types), and what a machine without a usable GPU must report: no GPU,
    the CPU backend, tier none, and the reason (FACIES_DEVICE=cpu, or CuPy that does not import)."""
    import platform

    import numpy

    from facies.engine import backend, doctor, memory

    if why == "forced":
        monkeypatch.setenv("FACIES_DEVICE", "cpu")
        reason = "FACIES_DEVICE=cpu forces the CPU"
    else:
        monkeypatch.delenv("FACIES_DEVICE", raising=False)
        reason = "CuPy does not import (ImportError: No module named 'cupy')"
        monkeypatch.setattr(backend, "probe_cupy", lambda: (None, reason))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    assert set(rep) == {"python", "platform", "packages", "cupy_imports", "host", "gpu", "device", "tier"}
    assert rep["python"] == sys.version.split()[0] and rep["platform"] == platform.platform()
    # every package named, each with its version or null; facies and its requirements are installed
    assert list(rep["packages"]) == list(doctor.PACKAGES)
    assert all(v is None or isinstance(v, str) for v in rep["packages"].values())
    assert rep["packages"]["numpy"] == numpy.__version__ and isinstance(rep["packages"]["facies"], str)
    assert isinstance(rep["cupy_imports"], bool)
    if why == "no_cupy":
        assert rep["cupy_imports"] is False
    host = rep["host"]
    assert set(host) == {"cpus", "total_bytes", "available_bytes", "brick_budget_bytes"}
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in host.values())
    assert host["cpus"] >= 1 and host["total_bytes"] >= host["available_bytes"] > 0
    assert host["brick_budget_bytes"] == memory.brick_budget(host["available_bytes"])
    # no GPU: nothing but these three keys, whatever this machine has
    assert rep["gpu"] == {"available": False, "reason": reason, "tier": "none"}
    assert rep["device"] == "cpu" and rep["tier"] == "none"


def test_info_reports_arrays_and_stats(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    data = survey.read("amplitude")
    result = runner.invoke(app, ["info", str(tmp_path / "s.zarr"), "--json"])
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    assert rep["shape"] == [6, 5, 12] and rep["inline"]["step"] == 2 and rep["live_traces"] == 29
    (amp,) = rep["arrays"]
    assert amp["name"] == "amplitude" and amp["chunks"] == [4, 4, 8] and amp["compression"] == "ZstdCodec"
    assert amp["min"] == float(data.min()) and amp["max"] == float(data.max())
    assert abs(amp["mean"] - float(data.astype("float64").mean())) < 1e-12
    text = runner.invoke(app, ["info", str(tmp_path / "s.zarr")])
    assert "amplitude" in text.output and "step 2" in text.output


def test_user_error_is_one_line_with_exit_2(tmp_path):
    result = runner.invoke(app, ["info", str(tmp_path / "nothing.zarr")])
    assert result.exit_code == USER_ERROR
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "not a survey store" in result.stderr


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "from facies.cli.app import main; main()", "info",
                           str(tmp_path / "x.zarr")], capture_output=True, text=True)
    assert proc.returncode == USER_ERROR
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["filter", "mean", "s.zarr", "-i", "a", "--radius", "abc"], "Invalid value for '--radius'"),
    (["--bogus"], "No such option: --bogus"),
    (["filter", "nonsense"], "No such command 'nonsense'"),
    (["synth"], "Missing argument"),
])
def test_usage_errors_are_one_line(args, fragment):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "--help" in lines[0]


def test_no_arguments_still_show_the_help():
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.output and "error:" not in result.output
