"""Ctrl-C through the real command line: SIGINT to a running ``facies filter kuwahara`` / ``facies rf predict``.

Each test starts the real command in a subprocess on the tiny synthetic survey (stored in 8 x 8 trace chunks, so
``--brick 8,8`` gives 30 bricks), waits until the run's ledger under ``_runs/`` records a few bricks, sends
SIGINT (what Ctrl-C sends), and checks what a user sees: exit status 130, the one-line resume hint of
``facies.cli.runs.exit_130_when_interrupted`` and no traceback. ``--resume`` must then finish the run, skipping
the recorded bricks (as many as the hint said), and the result must equal an uninterrupted run of the same
command bit for bit.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine import Survey
from facies.engine.ledger import RUNS_GROUP
from tests.helpers import default_sigint, writable_copy

pytestmark = pytest.mark.usefixtures("cpu_only")

REPO = Path(__file__).resolve().parents[1]
CHUNKS = (8, 8, 64)
N_BRICKS = 30  # tiny is 48 x 40 traces: 6 x 5 bricks of 8 x 8
#: The line exit_130_when_interrupted prints (cli/runs.py), from the message of RunInterrupted (engine/bricks/run.py).
HINT = re.compile(r"facies: interrupted: (\d+) of (\d+) bricks are written and recorded; "
                  r"run the same command again with --resume to continue")
#: Bricks the interrupted run must have recorded before SIGINT is sent.
RECORDED_BEFORE_SIGINT = 2
#: The uninterrupted run takes a few seconds; this is a hang, not a slow machine.
DEADLINE_S = 120


@pytest.fixture(scope="module")
def chunked(tmp_path_factory) -> Path:
    """The tiny synthetic survey (seed 0) in 8 x 8 trace chunks."""
    from facies.engine.synth import make_synthetic

    path = tmp_path_factory.mktemp("ctrl_c") / "tiny.zarr"
    make_synthetic(path, size="tiny", seed=0, chunks=CHUNKS, progress=False)
    return path


@pytest.fixture(scope="module")
def with_model(chunked, tmp_path_factory) -> Path:
    """A copy of ``chunked`` with its training table and a small forest ``m``."""
    pytest.importorskip("treelite")  # the stored model is a treelite checkpoint
    from facies.engine.forest.workflow import train_model
    from facies.engine.synth import polygons_path
    from facies.engine.training import extract_training

    path = writable_copy(chunked, tmp_path_factory.mktemp("ctrl_c_model"))
    survey = Survey.open(path)
    extract_training(survey, polygons_path(path))
    train_model(survey, "m", trees=(5,), max_depth=6, n_jobs=1, figure=False, out_dir=path.parent / "report")
    return path


def recorded_bricks(store: Path) -> int:
    """Bricks the running command's ledger has recorded: one flag file per brick under ``_runs/<key>/c/``."""
    runs = store / RUNS_GROUP
    return sum(1 for p in runs.glob("*/c/**/*") if p.is_file() and not p.name.endswith(".partial"))


def interrupt(args: list[str], store: Path) -> tuple[int, str, str]:
    """Run ``facies ARGS`` in a subprocess, SIGINT it once its ledger records a few bricks; (status, out, err)."""
    env = dict(os.environ, FACIES_DEVICE="cpu",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    code = "import sys; from facies.cli.app import main; sys.argv[0] = 'facies'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=default_sigint)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while recorded_bricks(store) < RECORDED_BEFORE_SIGINT:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the command ended (status {proc.returncode}) before {RECORDED_BEFORE_SIGINT} bricks "
                            f"were recorded; it is too fast to interrupt:\n{out.decode()}\n{err.decode()}")
            assert time.monotonic() < deadline, "the command recorded no brick in time"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def check_interrupted(status: int, out: str, err: str) -> int:
    """Exit 130, exactly one resume hint on stderr, no traceback, no error line; returns the bricks recorded."""
    assert status == 130, f"status {status}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, err
    assert "error:" not in out + err, err
    hints = [line for line in err.splitlines() if HINT.fullmatch(line.strip())]
    assert len(hints) == 1, f"expected one resume hint line on stderr, got:\n{err}"
    done, total = (int(g) for g in HINT.fullmatch(hints[0].strip()).groups())
    assert total == N_BRICKS and RECORDED_BEFORE_SIGINT <= done < total, hints[0]
    return done


def check_same_arrays(store: Path, reference: Path, names: list[str]) -> None:
    got, want = Survey.open(store), Survey.open(reference)
    for name in names:
        assert got.is_complete(name), name
        a, b = got.read(name), want.read(name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name


def copies(chunked: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two writable copies of the survey: one to interrupt, one for the uninterrupted run."""
    stores = []
    for which in ("interrupted", "reference"):
        (tmp_path / which).mkdir()
        stores.append(Path(shutil.copytree(chunked, tmp_path / which / chunked.name)))
    return stores[0], stores[1]


def test_ctrl_c_in_filter_kuwahara_exits_130_then_resume_equals_an_uninterrupted_run(chunked, tmp_path):
    store, reference = copies(chunked, tmp_path)
    inputs = ["amplitude", "envelope", "similarity", "rms_amplitude"]
    outputs = [f"{name}_kuw" for name in inputs]

    def args(path):
        return ["filter", "kuwahara", str(path), *(a for name in inputs for a in ("-i", name)), "--radius", "2",
                "--device", "cpu", "--brick", "8,8"]

    done = check_interrupted(*interrupt(args(store), store))
    survey = Survey.open(store)
    assert all(survey.has(name) and not survey.is_complete(name) for name in outputs)

    runner = CliRunner()
    # a run without --resume is refused: the outputs exist, incomplete
    refused = runner.invoke(app, args(store))
    assert refused.exit_code == 2 and "--resume" in refused.output, refused.output
    resumed = runner.invoke(app, [*args(store), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    # the hint counted exactly the bricks on disk: the resume skips those and computes the rest
    assert f"({done} of {N_BRICKS} bricks resumed)" in " ".join(resumed.output.split()), (done, resumed.output)
    plain = runner.invoke(app, args(reference))
    assert plain.exit_code == 0, plain.output
    check_same_arrays(store, reference, outputs)


def test_ctrl_c_in_rf_predict_exits_130_then_resume_equals_an_uninterrupted_run(with_model, tmp_path):
    store, reference = copies(with_model, tmp_path)

    def args(path):
        return ["rf", "predict", str(path), "--model", "m", "--device", "cpu", "--brick", "8,8"]

    done = check_interrupted(*interrupt(args(store), store))
    runner = CliRunner()
    resumed = runner.invoke(app, [*args(store), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    # the hint counted exactly the bricks on disk: the resume skips those and computes the rest
    assert f"{N_BRICKS - done} bricks computed, {done} skipped" in " ".join(resumed.output.split()), \
        (done, resumed.output)
    plain = runner.invoke(app, args(reference))
    assert plain.exit_code == 0, plain.output
    outputs = sorted(n for n in Survey.open(reference).volumes()
                     if n.startswith(("facies_m", "prob_m_", "confidence_m")))
    assert len(outputs) == 5  # facies, three probabilities, confidence
    check_same_arrays(store, reference, outputs)
