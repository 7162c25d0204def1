"""Safety of brick runs: resume of finished or replaced outputs, one lock per output array, output names."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from facies.engine.bricks.operator import Chain
from facies.engine.bricks.plan import BrickPlan
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import create_outputs, lock_outputs
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger
from facies.engine.operators import LocalMean
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from tests.test_bricks_helpers import make_survey

BRICK = (8, 8, 16)


def _mean(survey, radius, outputs=None, **kwargs):
    kwargs.setdefault("brick", BRICK)
    return run_bricks(survey, [LocalMean("amp", "m", radius=radius)], outputs or {"m": "out"},
                      options=RunOptions(device="cpu", progress=False, **kwargs))


def _parameters(survey, radius, outputs=None):
    """The parameters run_bricks records for ``_mean(survey, radius)`` on the CPU."""
    return {"operators": Chain([LocalMean("amp", "m", radius=radius)], survey.shape).describe(),
            "outputs": outputs or {"m": "out"}, "brick": list(BRICK), "device": "cpu"}


def _interrupted_ledger(survey, radius):
    """The ledger of a ``_mean(survey, radius)`` run that died after taking it (locks released)."""
    plan = BrickPlan(survey.shape, survey.chunks, BRICK)
    return lock_outputs(survey, {"m": "out"}, plan.grid, _parameters(survey, radius))


class WatchComplete(LocalMean):
    """LocalMean that records, at each brick, whether the store calls the output ``out`` complete."""

    def __init__(self, *args, path, **kwargs):
        super().__init__(*args, **kwargs)
        self.path, self.seen = path, []

    def compute(self, inputs, xp):
        self.seen.append(Survey.open(self.path).is_complete("out"))
        return super().compute(inputs, xp)

    def describe(self):  # same parameters as LocalMean, so the run counts as the same run
        return {**super().describe(), "operator": "LocalMean"}


# ------------------------------------------------------------------ 1: resume of finished outputs
def test_resume_of_a_finished_output_compares_its_parameters(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    _mean(survey, 1)
    with pytest.raises(FaciesError, match=r"cannot resume 'out': it was made with other parameters "
                                          r"\(.*radius.*\); run again without --resume \(add --overwrite\)"):
        _mean(survey, 3, resume=True)
    assert _mean(survey, 1, resume=True).already_complete
    # Brick shape and device do not change the values: still complete.
    assert _mean(survey, 1, resume=True, brick=(16, 16, 32)).already_complete


def test_resume_of_an_array_not_made_by_a_run_is_refused(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    survey.add_volume("out", volume, provenance={"command": "test"})
    for resume, overwrite in ((True, False), (False, True), (True, True)):
        with pytest.raises(FaciesError, match="'out' already exists .* made by 'test', not computed by a facies run"):
            _mean(survey, 1, resume=resume, overwrite=overwrite)
    np.testing.assert_array_equal(survey.read("out"), volume)


# ------------------------------------------------------------------ 2: one lock per output array
def test_a_run_holding_one_output_blocks_a_run_with_another_output_set(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    holder = textwrap.dedent(f"""
        import time
        from facies.engine.ledger import Ledger
        from facies.engine.store import Survey
        ledger = Ledger.start(Survey.open({str(survey.path)!r}), "b", (1,), {{}}, resume=False)
        print("locked", flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        operators = [LocalMean("amp", "m"), LocalMean("amp", "v", radius=2)]
        with pytest.raises(FaciesError, match="another facies command is writing or reading 'b'"):
            run_bricks(survey, operators, {"m": "a", "v": "b"}, options=RunOptions(device="cpu", progress=False))
        assert not survey.has("a") and not survey.has("b")
    finally:
        proc.kill()
        proc.wait()
    # The refused run released the lock it had taken on 'a'.
    Ledger.start(survey, "a", (1,), {}, resume=False).close()


def test_a_run_over_two_outputs_blocks_a_run_over_one_of_them(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    holder = Ledger.start(Survey.open(survey.path), "a+out", (1,), {}, resume=False, locks=["a", "out"])
    try:
        with pytest.raises(FaciesError, match="another facies command is writing or reading 'out'"):
            _mean(survey, 1, overwrite=True)
    finally:
        holder.close()
    _mean(survey, 1, overwrite=True)


# ------------------------------------------------------------------ 3: resume never writes into a complete array
def test_resume_after_an_overwrite_killed_before_it_made_its_outputs(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    _mean(survey, 1)
    # An --overwrite run with radius 2 took its ledger, then died before creating the output.
    _interrupted_ledger(survey, 2).close()
    # 'out' is still the complete radius-1 array: only "the same command" (with --overwrite) replaces it.
    with pytest.raises(FaciesError, match="cannot resume 'out': it was made with other parameters"):
        _mean(survey, 2, resume=True)
    assert Survey.open(survey.path).provenance("out")["parameters"]["operators"][0]["radius"] == [1, 1, 1]
    watch = WatchComplete("amp", "m", radius=2, path=survey.path)
    run_bricks(survey, [watch], {"m": "out"},
               options=RunOptions(device="cpu", brick=BRICK, resume=True, overwrite=True, progress=False))
    assert watch.seen and not any(watch.seen), "bricks were written into an array still marked complete"
    survey = Survey.open(survey.path)
    assert survey.provenance("out")["parameters"]["operators"][0]["radius"] == [2, 2, 2]
    reference = Chain([LocalMean("amp", "m", radius=2)], volume.shape).run_whole({"amp": volume})["m"]
    assert np.array_equal(survey.read("out"), reference, equal_nan=True)


def test_resumed_output_is_marked_incomplete_before_its_first_brick(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    _mean(survey, 2)
    # The run died after marking its output complete but before removing its ledger; two bricks recorded.
    ledger = _interrupted_ledger(survey, 2)
    ledger.mark_done((0, 0, 0))
    ledger.mark_done((0, 0, 1))
    ledger.close()
    watch = WatchComplete("amp", "m", radius=2, path=survey.path)
    result = run_bricks(survey, [watch], {"m": "out"}, options=RunOptions(device="cpu", resume=True, progress=False))
    assert result.bricks_skipped == 2
    assert watch.seen and not any(watch.seen)
    survey = Survey.open(survey.path)
    assert survey.is_complete("out")
    reference = Chain([LocalMean("amp", "m", radius=2)], volume.shape).run_whole({"amp": volume})["m"]
    assert np.array_equal(survey.read("out"), reference, equal_nan=True)


def test_resume_refuses_an_output_another_run_rewrote_meanwhile(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    ledger = _interrupted_ledger(survey, 2)
    ledger.mark_done((0, 0, 0))  # an interrupted run of 'out' alone...
    ledger.close()
    # ...then a run over 'out' and 'other' (another ledger) rewrote 'out' with radius 1.
    run_bricks(survey, [LocalMean("amp", "m"), LocalMean("amp", "v")], {"m": "out", "v": "other"},
               options=RunOptions(device="cpu", brick=BRICK, overwrite=True, progress=False))
    with pytest.raises(FaciesError, match="cannot resume 'out': it was rewritten by another run"):
        _mean(survey, 2, resume=True)
    assert Survey.open(survey.path).is_complete("out")


@pytest.mark.parametrize("other_b", [False, True])
def test_resume_after_a_run_killed_between_creating_its_outputs(tmp_path, other_b):
    """The ledger exists, 'a' was created (incomplete), 'b' not yet: resume makes both anew, unless
    'b' is another run's output (here the run was an --overwrite one): that needs --overwrite."""
    survey, volume = make_survey(tmp_path / "s.zarr")
    operators = [LocalMean("amp", "m"), LocalMean("amp", "v", radius=2)]
    outputs = {"m": "a", "v": "b"}
    chain = Chain(operators, survey.shape)
    parameters = {"operators": chain.describe(), "outputs": outputs, "brick": list(BRICK), "device": "cpu"}
    if other_b:
        another = {"operators": [{"op": "another run"}], "outputs": {"x": "b"}}
        survey.add_volume("b", volume, provenance=make_provenance("facies filter mean", another))
    lock_outputs(survey, outputs, BrickPlan(survey.shape, survey.chunks, BRICK).grid, parameters).close()
    create_outputs(survey, chain, {"m": "a"}, kind="result", provenance=make_provenance("test", parameters))

    def run(**kwargs):
        return run_bricks(survey, operators, outputs, options=RunOptions(device="cpu", resume=True, progress=False,
                                                                         **kwargs))

    if other_b:
        with pytest.raises(FaciesError, match="cannot resume 'b': it was made with other parameters "
                                              r"\(.*\); run again without --resume \(add --overwrite\)"):
            run()
        assert np.array_equal(Survey.open(survey.path).read("b"), volume, equal_nan=True)
    result = run(overwrite=other_b)
    assert result.bricks_skipped == 0 and not result.already_complete
    whole = chain.run_whole({"amp": volume})
    survey = Survey.open(survey.path)
    assert np.array_equal(survey.read("a"), whole["m"], equal_nan=True)
    assert np.array_equal(survey.read("b"), whole["v"], equal_nan=True)


# ------------------------------------------------------------------ 5, 7: checked before anything runs
@pytest.mark.parametrize("name, message", [("bad/name", "array name 'bad/name' is not valid"),
                                           ("_hidden", "is not valid"),
                                           ("inline", "'inline' is a coordinate name of the store")])
def test_bad_output_names_are_clear_errors(tmp_path, name, message):
    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match=message):
        _mean(survey, 1, {"m": name})


@pytest.mark.parametrize("fraction", [0, 1.5])
def test_memory_fraction_is_checked_with_an_explicit_brick(tmp_path, fraction):
    survey, _ = make_survey(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match=r"--memory-fraction must be in \(0, 1\]"):
        _mean(survey, 1, memory_fraction=fraction)
    assert not survey.has("out")
