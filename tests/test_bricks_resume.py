"""Resumable and safe runs: SIGKILL at random moments, Ctrl-C, parameter changes, concurrent runs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

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

REPO = Path(__file__).resolve().parents[1]

# A small job whose reads, computes and chunk-file writes are slowed and announced on stdout ("read+",
# "read-", ...; one os.write each, whole lines on a pipe), so that the parent can tell where each SIGKILL
# landed. The chunk files of the output are written by a slow writer: half the bytes, a pause, the rest (under
# Zarr's own temporary name, renamed when whole), so a kill can land in the middle of a chunk file.
# argv: store, "fresh"|"resume", and optionally "<phase>:<n>": the job SIGKILLs itself inside its n-th read,
# compute or write (a write after its first half), so that every phase is hit whatever the timing.
JOB = """
import os, signal, sys, threading, time
import zarr.storage._local as local_store
import facies.engine, facies.engine.bricks.run, facies.kernels
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import BrickSink, run_bricks
from facies.engine.operators import LocalMean
from facies.engine.store import Survey

kill_phase, _, kill_n = (sys.argv[3] if len(sys.argv) > 3 else "").partition(":")
started = {"read": 0, "compute": 0, "write": 0}
lock = threading.Lock()

def enter(phase):
    os.write(1, (phase + "+\\n").encode())
    with lock:
        started[phase] += 1
        return started[phase]

def leave(phase):
    os.write(1, (phase + "-\\n").encode())

def maybe_kill(phase, n):
    if phase == kill_phase and n == int(kill_n):
        os.kill(os.getpid(), signal.SIGKILL)

real_read = BrickSink.read

def slow_read(self, name, region):
    n = enter("read")
    time.sleep(0.005)
    maybe_kill("read", n)
    array = real_read(self, name, region)
    leave("read")
    return array

BrickSink.read = slow_read
real_put = local_store._put

def slow_put(path, value, exclusive=False):
    if "/out/c/" not in path.as_posix():  # metadata and other arrays: as Zarr writes them
        return real_put(path, value, exclusive)
    n = enter("write")
    path.parent.mkdir(parents=True, exist_ok=True)
    view = memoryview(value.as_buffer_like()).cast("B")
    with local_store._atomic_write(path, "wb", exclusive=exclusive) as f:
        written = f.write(view[:len(view) // 2])
        f.flush()
        maybe_kill("write", n)
        time.sleep(0.02)
        written += f.write(view[len(view) // 2:])
    leave("write")
    return written

local_store._put = slow_put

class SlowMean(LocalMean):
    def compute(self, inputs, xp):
        n = enter("compute")
        maybe_kill("compute", n)
        time.sleep(0.03)
        out = super().compute(inputs, xp)
        leave("compute")
        return out

# imports done: the parent starts its clock now; the files prove which tree this process runs
print("ready", facies.engine.__file__, facies.engine.bricks.run.__file__, facies.kernels.__file__, flush=True)
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


def _job_environment() -> dict:
    """The environment of a job: this checkout first on PYTHONPATH, anything already there after it."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, FACIES_DEVICE="cpu", PYTHONPATH=path)


def _landed(stdout: bytes) -> set:
    """The phases in flight when the job died: entered (``phase+``) more often than left (``phase-``)."""
    lines = stdout.decode().split()
    return {phase for phase in ("read", "compute", "write") if lines.count(phase + "+") > lines.count(phase + "-")}


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    """SIGKILL in a read, a compute and in the middle of a chunk file (the job kills itself there), then at
    random moments; every brick the ledger calls done is whole after each kill, and the resumed result is
    bit for bit the uninterrupted one. Counts where every kill landed, and fails when a phase was never hit."""
    survey, volume = make_survey(tmp_path / "s.zarr")
    reference = _reference(volume)
    rng = random.Random(7)
    env = _job_environment()
    planted = ["read:3", "compute:5", "write:4"]  # the n-th of its kind in that attempt
    mode, kills, done_counts, landed = "fresh", 0, [], {"read": 0, "compute": 0, "write": 0}
    partial_seen = False
    for _attempt in range(12):
        self_kill = planted.pop(0) if planted else None
        argv = [sys.executable, "-c", JOB, str(survey.path), mode, *([self_kill] if self_kill else [])]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == b"ready", proc.communicate()[1].decode()
        for imported in ready[1:]:  # the job ran this checkout, not another installed tree
            assert Path(imported.decode()).resolve().is_relative_to(REPO), (imported, REPO)
        if self_kill is None and kills < 6:
            time.sleep(rng.uniform(0.05, 0.6))  # the whole job takes under 1 s
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            phases = _landed(out)
            if self_kill:
                assert self_kill.split(":")[0] in phases, (self_kill, phases)
            for phase in phases:
                landed[phase] += 1
            partial_seen |= any(survey.path.glob("out/c/**/*.partial"))
        mode = "resume"
        done_counts.append(_check_done_bricks_are_whole(Survey.open(survey.path), reference))
        if proc.returncode == 0:
            break
    print(f"kills: {kills}, in flight at the kills: {landed}, bricks done after each attempt: {done_counts}")
    assert proc.returncode == 0, "the job never finished"
    assert all(landed.values()), f"no kill landed in some phase: {landed}"
    assert partial_seen, "no kill left a half-written chunk file (*.partial): the writes were never hit"
    assert kills >= 4, "the job always finished before the random kills: slow it down"
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
