"""Resumable and safe runs: SIGKILL at random moments, Ctrl-C, parameter changes, concurrent runs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from facies.engine.bricks.operator import Chain
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import run_key
from facies.engine.bricks.result import RunInterrupted
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.ledger import RUNS_GROUP, Ledger, find_ledger
from facies.engine.operators import LocalMean
from facies.engine.store import Survey
from tests.test_bricks_helpers import make_survey

# A small job slowed by a sleeping operator, so that SIGKILL lands in reads, computes and writes.
JOB = """
import sys, time
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.operators import LocalMean
from facies.engine.store import Survey

class SlowMean(LocalMean):
    def compute(self, inputs, xp):
        time.sleep(0.03)
        return super().compute(inputs, xp)

print("ready", flush=True)  # imports done: the parent starts its clock now
run_bricks(Survey.open(sys.argv[1]), [SlowMean("amp", "m", radius=2)], {"m": "out"},
           RunOptions(device="cpu", brick=(8, 8, 16), resume=sys.argv[2] == "resume", progress=False))
"""
BRICK = (8, 8, 16)


def _reference(volume):
    return Chain([LocalMean("amp", "m", radius=2)], volume.shape).run_whole({"amp": volume})["m"]


def _check_done_bricks_are_whole(survey, reference):
    """Every brick the ledger calls done holds its final values (no half-written brick is marked)."""
    runs, key = survey.group.get(RUNS_GROUP), run_key({"m": "out"})
    if runs is None or key not in runs or not survey.has("out"):
        return 0
    flags = np.asarray(runs[key][...], bool)
    out = survey.array("out", require_complete=False)
    plan = BrickPlan(survey.shape, survey.chunks, BRICK)
    for index in zip(*np.nonzero(flags)):
        region = plan.brick_at(tuple(int(i) for i in index)).region
        assert np.array_equal(out[region_slices(region)], reference[region_slices(region)], equal_nan=True), index
    return int(flags.sum())


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    reference = _reference(volume)
    rng = random.Random(7)
    env = dict(os.environ, FACIES_DEVICE="cpu", PYTHONPATH=os.getcwd())
    mode, kills, done_counts = "fresh", 0, []
    for _attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-c", JOB, str(survey.path), mode], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        if kills < 4:
            time.sleep(rng.uniform(0.05, 1.0))  # the whole job takes about 1 s
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        mode = "resume"
        done_counts.append(_check_done_bricks_are_whole(Survey.open(survey.path), reference))
        if proc.returncode == 0:
            break
    assert kills >= 2, "the job always finished before the kill: slow it down"
    assert any(0 < n < 27 for n in done_counts), f"no kill landed mid-run: {done_counts}"
    survey = Survey.open(survey.path)
    assert survey.is_complete("out")
    assert np.array_equal(survey.read("out"), reference, equal_nan=True)


class InterruptAfter(LocalMean):
    """LocalMean that raises KeyboardInterrupt (as Ctrl-C would) on its ``n``-th brick."""

    def __init__(self, *args, n: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.n, self.calls = n, 0

    def compute(self, inputs, xp):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return super().compute(inputs, xp)


def test_ctrl_c_stops_cleanly_and_resume_refuses_other_parameters(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    with pytest.raises(RunInterrupted, match="--resume"):
        run_bricks(survey, [InterruptAfter("amp", "m", radius=2, n=6)], {"m": "out"},
                   RunOptions(device="cpu", brick=BRICK, progress=False), readers=1, writers=1)
    assert not survey.is_complete("out")
    assert 0 < _check_done_bricks_are_whole(survey, _reference(volume)) < 27
    # The lock was released: a resume can start; with another radius it is refused.
    with pytest.raises(FaciesError, match="cannot resume 'out'.*radius"):
        run_bricks(survey, [LocalMean("amp", "m", radius=1)], {"m": "out"},
                   RunOptions(device="cpu", resume=True, progress=False))
    with pytest.raises(FaciesError, match="--resume to continue"):
        run_bricks(survey, [LocalMean("amp", "m", radius=2)], {"m": "out"}, RunOptions(device="cpu", progress=False))
    # The operator's class name is part of the parameters: resume with an equal one.
    result = run_bricks(survey, [InterruptAfter("amp", "m", radius=2, n=-1)], {"m": "out"},
                        RunOptions(device="cpu", resume=True, progress=False))
    assert 0 < result.bricks_skipped < result.bricks_total
    assert np.array_equal(survey.read("out"), _reference(volume), equal_nan=True)


def test_many_long_output_names_interrupt_and_resume(tmp_path):
    """Fourteen outputs whose names joined exceed a file name's 255 bytes: a bounded ledger key."""
    survey, volume = make_survey(tmp_path / "s.zarr")
    names = [f"amp_local_mean_of_radius_{r}_over_the_whole_survey_for_facies" for r in range(14)]
    assert len("+".join(names).encode()) > 255
    outputs = {f"m{r}": name for r, name in enumerate(names)}

    def operators(n):
        return [InterruptAfter("amp", f"m{r}", radius=1 + r % 3, n=n if r == 0 else -1) for r in range(14)]

    with pytest.raises(RunInterrupted, match="--resume"):
        run_bricks(survey, operators(6), outputs, RunOptions(device="cpu", brick=BRICK, progress=False), readers=1,
                   writers=1)
    record = find_ledger(survey, run_key(outputs))
    assert record is not None and 0 < record.n_done < 27 and record.names == names
    assert all(len(p.name.encode()) <= 255 for p in (tmp_path / "s.zarr" / RUNS_GROUP).iterdir())
    result = run_bricks(survey, operators(-1), outputs, RunOptions(device="cpu", resume=True, progress=False))
    assert result.bricks_skipped == record.n_done
    whole = Chain(operators(-1), volume.shape).run_whole({"amp": volume})
    for r, name in enumerate(names):
        assert np.array_equal(survey.read(name), whole[f"m{r}"], equal_nan=True), name
    assert find_ledger(survey, run_key(outputs)) is None
    again = run_bricks(survey, operators(-1), outputs, RunOptions(device="cpu", resume=True, progress=False))
    assert again.already_complete


def test_second_concurrent_run_gets_a_clear_error(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    holder = Ledger.start(Survey.open(survey.path), "out", (1,), {}, resume=False)  # another run's lock
    try:
        with pytest.raises(FaciesError, match="another facies command is writing or reading 'out'"):
            run_bricks(survey, [LocalMean("amp", "m")], {"m": "out"}, RunOptions(device="cpu", progress=False))
    finally:
        holder.close()


def test_existing_output_needs_overwrite(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    run_bricks(survey, [LocalMean("amp", "m")], {"m": "out"}, RunOptions(device="cpu", progress=False))
    with pytest.raises(FaciesError, match="already exists.*--overwrite"):
        run_bricks(survey, [LocalMean("amp", "m", radius=2)], {"m": "out"}, RunOptions(device="cpu", progress=False))
    run_bricks(survey, [LocalMean("amp", "m", radius=2)], {"m": "out"},
               RunOptions(device="cpu", overwrite=True, progress=False))
    assert survey.provenance("out")["parameters"]["operators"][0]["radius"] == [2, 2, 2]
    result = run_bricks(survey, [LocalMean("amp", "m", radius=2)], {"m": "out"},
                        RunOptions(device="cpu", resume=True, progress=False))
    assert result.already_complete and result.summary == "already complete"


def test_input_as_output_is_refused(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="also an input"):
        run_bricks(survey, [LocalMean("amp", "m")], {"m": "amp"}, RunOptions(device="cpu", progress=False))
