"""Run ledger: done flags survive reopening, parameters are checked, the lock excludes a second run."""

import subprocess
import sys
import textwrap

import pytest

from facies.engine import FaciesError
from facies.engine.ledger import MAX_KEY_BYTES, Ledger, find_ledger, ledger_key, parameter_diff
from tests.helpers import tiny_store


def test_flags_persist_and_resume_skips_done(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    with Ledger.start(survey, "out", (2, 3), {"radius": 2}, resume=False) as ledger:
        ledger.mark_done((0, 1))
        ledger.mark_done((1, 2))
    with Ledger.start(survey, "out", (2, 3), {"radius": 2}, resume=True) as ledger:
        assert ledger.n_done == 2 and ledger.n_tasks == 6
        assert ledger.is_done((0, 1)) and not ledger.is_done((0, 0))
        assert list(ledger.pending()) == [(0, 0), (0, 2), (1, 0), (1, 1)]


def test_without_resume_the_run_starts_over(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    with Ledger.start(survey, "out", (2,), {"a": 1}, resume=False) as ledger:
        ledger.mark_done((0,))
    with Ledger.start(survey, "out", (2,), {"a": 1}, resume=False) as ledger:
        assert ledger.n_done == 0


@pytest.mark.parametrize("params, grid", [({"radius": 3}, (2, 3)), ({"radius": 2}, (3, 3))])
def test_resume_with_other_parameters_is_refused(tmp_path, params, grid):
    survey = tiny_store(tmp_path / "s.zarr")
    Ledger.start(survey, "out", (2, 3), {"radius": 2}, resume=False).close()
    with pytest.raises(FaciesError, match="cannot resume 'out'.*without --resume"):
        Ledger.start(survey, "out", grid, params, resume=True)


def test_second_run_on_same_output_gets_clear_error(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    holder = textwrap.dedent(f"""
        import sys, time
        from facies.engine import Survey
        from facies.engine.ledger import Ledger
        ledger = Ledger.start(Survey.open({str(tmp_path / 's.zarr')!r}), "out", (4,), {{}}, resume=False)
        print("locked", flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FaciesError, match="another facies command is writing or reading 'out'"):
            Ledger.start(survey, "out", (4,), {}, resume=False)
    finally:
        proc.kill()
        proc.wait()
    # The kernel releases the lock of a killed process: the next run proceeds.
    Ledger.start(survey, "out", (4,), {}, resume=True).close()


def test_finish_removes_the_ledger(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    ledger = Ledger.start(survey, "out", (2,), {}, resume=False)
    ledger.mark_done((0,))
    ledger.finish()
    assert "out" not in survey.group["_runs"]
    with Ledger.start(survey, "out", (2,), {}, resume=True) as again:
        assert again.n_done == 0


def test_finish_keeps_the_lock_file_so_a_run_that_opened_it_still_excludes_others(tmp_path):
    """A run that opened the lock file just before the holder finished must not lock a deleted inode."""
    import fcntl

    survey = tiny_store(tmp_path / "s.zarr")
    ledger = Ledger.start(survey, "out", (1,), {}, resume=False)
    (lock_path,) = (tmp_path / "s.zarr" / "_runs").glob("out*.lock")
    with open(lock_path, "a+") as waiting:  # the next run has opened the file, not yet locked it
        ledger.finish()
        fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ...and now holds the lock
        assert lock_path.exists()
        with pytest.raises(FaciesError, match="another facies command is writing or reading 'out'"):
            Ledger.start(survey, "out", (1,), {}, resume=False)


def test_locks_name_every_array_and_a_refused_start_holds_none(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    holder = Ledger.start(survey, "b", (1,), {}, resume=False)
    with pytest.raises(FaciesError, match="another facies command is writing or reading 'b'"):
        Ledger.start(survey, "a+b+c", (1,), {}, resume=False, locks=["c", "a", "b"])
    holder.close()
    # 'a' (taken before 'b' failed) was released; the ledger 'a+b+c' was never written.
    Ledger.start(survey, "a", (1,), {}, resume=False).close()
    assert "a+b+c" not in survey.group["_runs"]


def test_long_keys_are_bounded_and_the_ledger_names_its_arrays(tmp_path):
    """A key longer than a file name may be (e.g. ``ingest-<long name>``) still gets a ledger."""
    survey = tiny_store(tmp_path / "s.zarr")
    key = "ingest-" + "x" * 300
    with Ledger.start(survey, key, (2,), {"a": 1}, resume=False, locks=["short"]) as ledger:
        ledger.mark_done((1,))
    (folder,) = (p.name for p in (tmp_path / "s.zarr" / "_runs").iterdir() if p.is_dir())
    assert len(folder.encode()) <= MAX_KEY_BYTES and folder == ledger_key(key)
    record = find_ledger(survey, key)
    assert record.n_done == 1 and record.names == ["short"] and record.key == key and record.grid == (2,)
    with pytest.raises(FaciesError, match=r"cannot resume 'short': it was started with other parameters \(a: 1 -> 2\)"):
        Ledger.start(survey, key, (2,), {"a": 2}, resume=True, locks=["short"])
    again = Ledger.start(survey, key, (2,), {"a": 1}, resume=True, locks=["short"])
    assert again.n_done == 1
    again.finish()
    assert find_ledger(survey, key) is None
    assert ledger_key("ingest-amplitude") == "ingest-amplitude"  # short keys stay readable


def _kuwahara(radius, stat="mean"):
    return {"operator": "KuwaharaOperator", "input": "amplitude", "radius": [radius] * 3, "mode": "octant",
            "stat": stat, "output": "amplitude_kuw", "halo": [radius] * 3, "boundary": "nan",
            "weights": {"mask": True, "note": "x" * 500}}


def test_parameter_diff_names_nested_keys_in_one_short_line():
    old = {"operators": [_kuwahara(2), _kuwahara(2)], "outputs": {"a": "a_kuw"}, "brick": [64, 64, 64]}
    new = {"operators": [_kuwahara(3), _kuwahara(2, "median")], "outputs": {"a": "a_kuw"}, "brick": [64, 64, 64]}
    diff = parameter_diff(old, new)
    assert diff == ("operators[0].halo: [2, 2, 2] -> [3, 3, 3]; operators[0].radius: [2, 2, 2] -> [3, 3, 3]; "
                    "operators[1].stat: \"mean\" -> \"median\"")
    # A long value is cut; more than three differences end with "and N more"; added keys say "absent".
    new["operators"][0]["weights"]["note"] = "y" * 500
    new["operators"].append(_kuwahara(1))
    new["device"] = "gpu"
    diff = parameter_diff(old, new)
    assert diff.startswith('device: absent -> "gpu"; operators[0].halo: [2, 2, 2] -> [3, 3, 3]; ')
    assert diff.endswith("; and 3 more") and len(diff) < 200 and "\n" not in diff
    assert '"' + "y" * 36 + "..." in parameter_diff(old["operators"][0], new["operators"][0], limit=10)
    assert parameter_diff({"a": [1]}, {"a": [1]}) == "task grid changed"
