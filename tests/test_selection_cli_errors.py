"""`facies select` failures: one line, exit 2, a bad --out before any fitting, facies named, and no earlier
result left looking current when a run ends without one.

On a writable copy of the built-in tiny survey, with small training tables imported into it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import facies.engine.selection.workflow as workflow
from facies.cli.app import app
from facies.engine.selection.record import SELECTION_KEY, record_selection, selected_attributes
from facies.engine.store import Survey
from facies.engine.training import import_training
from tests.helpers import writable_copy
from tests.helpers import one_line_error

runner = CliRunner()
ATTRIBUTES = ("amplitude", "envelope", "similarity")
PREVIOUS = {"attributes": ["envelope"], "score": 2.5, "out": "/somewhere", "training": "picks", "select_by": "score"}


def training_csv(path, voxels: dict[str, int], seed: int = 0):
    """A CSV of ``voxels[name]`` rows per facies on distinct voxels of inline 1010, random attribute values."""
    rng = np.random.default_rng(seed)
    rows, k = [f"facies,inline,crossline,time,{','.join(ATTRIBUTES)}"], 0
    for name, n in voxels.items():
        for _ in range(n):
            values = ",".join(f"{v:.6f}" for v in rng.normal(len(rows), 1, len(ATTRIBUTES)))
            rows.append(f"{name},1010,{2000 + k % 40},{4 * (k // 40)},{values}")
            k += 1
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def store(tiny_synthetic, tmp_path):
    """A writable tiny survey holding 'few' (3 voxels per facies), 'thin' (mtd: 1 voxel) and 'gap' (no background)."""
    path = writable_copy(tiny_synthetic, tmp_path)
    survey = Survey.open(path)
    import_training(survey, training_csv(tmp_path / "few.csv", {"salt": 3, "mtd": 3, "background": 3}), "few")
    import_training(survey, training_csv(tmp_path / "thin.csv", {"salt": 30, "mtd": 1, "background": 30}), "thin")
    import_training(survey, training_csv(tmp_path / "gap.csv", {"salt": 30, "mtd": 30}), "gap",
                    facies_names=["salt", "mtd", "background"])
    return path


def previous_run(store, out):
    """What an earlier successful selection left: the store record and the three files in ``out``."""
    record_selection(Survey.open(store), PREVIOUS)
    out.mkdir(exist_ok=True)
    (out / "combinations.csv").write_text("attributes,dimension,score,valid\namplitude,1,1.0,1\n")
    (out / "summary.json").write_text(json.dumps({"attributes": ["amplitude"], "facies": ["salt"], "best": None,
                                                  "best_per_dimension": {}}))
    (out / "scores.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"Software Matplotlib version" + bytes(64))


def select(store, training, out, *options):
    return runner.invoke(app, ["select", str(store), "--training", training, "--sem-iter", "2", "--device", "cpu",
                               "--out", str(out), *options])


def test_no_valid_combination_is_an_error_and_the_previous_result_is_not_left_current(store, tmp_path):
    out = tmp_path / "out"
    previous_run(store, out)
    # 3 voxels per facies cannot fit a 3-attribute Gaussian (a cluster needs more voxels than attributes)
    line = one_line_error(select(store, "few", out, "--attributes", ",".join(ATTRIBUTES), "--dims", "3",
                                 "--holdout", "0", "--max-clusters", "1"))
    assert line.startswith("error: no attribute combination is valid: salt (3 fitting voxels), mtd (3 fitting voxels), "
                           "background (3 fitting voxels) have no valid fit in any of the 1 combinations")
    assert str(out / "combinations.csv") in line
    # this run's table of invalid fits, no summary or figure of the previous run, and no record
    assert sorted(p.name for p in out.iterdir()) == ["combinations.csv"]
    rows = (out / "combinations.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("amplitude+envelope+similarity,3,,0,")
    survey = Survey.open(store)
    assert selected_attributes(survey) is None and not survey.group.attrs.get(SELECTION_KEY)


@pytest.mark.parametrize("training, options, message", [
    ("thin", ["--holdout", "0"], "error: mtd keeps 1 fitting voxel(s) of 1 with --holdout 0; fitting needs at least 2"),
    ("gap", [], "error: background has no training voxels; draw a polygon for it"),
])
def test_training_data_errors_name_the_facies_and_clear_the_previous_result(store, tmp_path, training, options,
                                                                            message):
    out = tmp_path / "out"
    previous_run(store, out)
    line = one_line_error(select(store, training, out, "--dims", "1", *options))
    assert line.startswith(message), line
    assert "facies 2" not in line and "facies 3" not in line
    assert list(out.iterdir()) == []
    assert selected_attributes(Survey.open(store)) is None


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_out_that_is_a_file_is_refused_before_fitting(store, tmp_path, monkeypatch, where):
    def no_fitting(*args, **kwargs):
        raise AssertionError("the fitting started")

    monkeypatch.setattr(workflow, "run_selection", no_fitting)
    record_selection(Survey.open(store), PREVIOUS)
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    out = taken if where == "file" else taken / "out"
    line = one_line_error(select(store, "few", out))
    if where == "file":
        assert line == f"error: --out {taken} is a file; give a folder for combinations.csv, summary.json, scores.png"
    else:
        assert line.startswith(f"error: {taken} is a file, not a folder, so the --out folder {out} cannot be made")
    assert taken.read_text() == "not a folder"
    # an option error is not a run: the previous selection stays recorded
    assert selected_attributes(Survey.open(store)) == PREVIOUS["attributes"]


def test_a_successful_run_after_a_failed_one_records_again(store, tmp_path):
    out = tmp_path / "out"
    one_line_error(select(store, "few", out, "--attributes", ",".join(ATTRIBUTES), "--dims", "3", "--holdout", "0",
                          "--max-clusters", "1"))
    import_training(Survey.open(store), training_csv(tmp_path / "good.csv", {"salt": 30, "mtd": 30, "background": 30}),
                    "good")
    result = select(store, "good", out, "--attributes", "amplitude,envelope", "--dims", "1", "--max-clusters", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert selected_attributes(Survey.open(store)) == summary["best"]["attributes"]
    assert sorted(p.name for p in out.iterdir()) == ["combinations.csv", "scores.png", "summary.json"]


@pytest.mark.parametrize("name", ["summary.json", "combinations.csv", "scores.png"])
def test_out_holding_a_file_select_did_not_write_is_refused_before_fitting(store, tmp_path, monkeypatch, name):
    def no_fitting(*args, **kwargs):
        raise AssertionError("the fitting started")

    monkeypatch.setattr(workflow, "run_selection", no_fitting)
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("someone's own notes")
    line = one_line_error(select(store, "few", out))
    assert f"holds {name}, which facies select did not write" in line
    assert (out / name).read_text() == "someone's own notes"


def test_discarding_a_failed_run_removes_only_files_select_wrote(tmp_path):
    from facies.engine.selection.results import discard_outputs

    out = tmp_path / "out"
    mine = tmp_path / "notes.txt"
    mine.write_text("someone's notes")
    out.mkdir()
    (out / "summary.json").symlink_to(mine)  # a link to a user's file: neither it nor its target is removed
    (out / "combinations.csv").write_text("attributes,dimension,score,valid\n")
    (out / "scores.png").write_text("not a figure of ours")
    assert [p.name for p in discard_outputs(out)] == ["combinations.csv"]
    assert mine.read_text() == "someone's notes" and (out / "summary.json").is_symlink()
    assert (out / "scores.png").read_text() == "not a figure of ours"
