"""bench/gpu_check.sh: steps that each write their JSON as they finish, an unknown step refused (no GPU needed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and timeout")


def run(*args, out: Path):
    env = {**os.environ, "OUT": str(out), "FACIES_SITE": str(out / "site"), "STEP_SECONDS": "60"}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=out, env=env, capture_output=True, text=True,
                          timeout=120)


def test_every_documented_step_exists_and_all_runs_them_in_order():
    text = SCRIPT.read_text()
    documented = re.findall(r"^#   (\w+) ", text, flags=re.MULTILINE)
    defined = re.findall(r"^step_(\w+)\(\)", text, flags=re.MULTILINE)
    assert documented[0] == "setup" and documented[1] == "parity"  # the most valuable evidence first
    assert documented == defined
    order = re.search(r"steps=\((setup [a-z ]+)\)", text).group(1).split()
    assert order == documented


def test_a_step_writes_its_json_even_when_it_fails(tmp_path):
    # Run from a copy so that the script's .gpu_src links land in tmp_path, not in the checkout.
    work = tmp_path / "repo"
    (work / "bench").mkdir(parents=True)
    shutil.copy(SCRIPT, work / "bench" / SCRIPT.name)
    env = {**os.environ, "OUT": str(tmp_path / "out"), "FACIES_SITE": str(tmp_path / "site"),
           "STEP_SECONDS": "60", "PATH": os.environ["PATH"]}
    done = subprocess.run(["bash", "bench/gpu_check.sh", "setup"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads((tmp_path / "out" / "step_setup.json").read_text())
    assert report["step"] == "setup" and report["seconds"] >= 0
    assert (report["status"] == 0) == (done.returncode == 0)
    assert "step setup: exit" in done.stdout


def test_an_unknown_step_and_no_step_are_refused(tmp_path):
    assert run("warp-speed", out=tmp_path).returncode == 2
    none = run(out=tmp_path)
    assert none.returncode == 2 and "parity" in none.stdout
