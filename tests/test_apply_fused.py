"""``facies apply``: the fused pass (virtual Kuwahara filters, GTM projection, forest prediction in one read of
each brick) gives what the staged commands write, bit for bit, on the tiny synthetic survey; it writes only what
is asked, reads each source brick once, resumes to the uninterrupted result, and refuses bad input in one line.

The staged and fused stores are built once per session (tests/apply_surveys.py); Dask: test_apply_dask.py.
"""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

from facies.engine import Survey
from facies.engine.apply.workflow import apply_models
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import BrickSink
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import ForestOperator
from facies.engine.gtm.model_io import load_gtm
from facies.engine.training import TrainingTable
from tests.apply_surveys import (BRICK, FILTERED, GTM_OUTPUTS, OUTPUTS, RF_OUTPUTS, SOURCES, assert_same_arrays,
                                 cli_ok, fused_copy)
from tests.apply_surveys import surveys  # noqa: F401 - the session fixture
from tests.helpers import one_line_error, run_cli

pytestmark = pytest.mark.usefixtures("cpu_only")
pytest.importorskip("treelite")

LOCAL = RunOptions(device="cpu", brick=(16, 16), progress=False)


def test_fits_on_virtual_attributes_equal_the_staged_fits(surveys):  # noqa: F811 - the fixture
    staged, fused = Survey.open(surveys.staged, mode="r"), Survey.open(surveys.fused, mode="r")
    assert set(FILTERED) <= set(staged.attributes())
    assert all(fused.is_virtual(name) and not fused.has(name) for name in FILTERED)
    a, b = TrainingTable.load(staged), TrainingTable.load(fused)
    assert a.attribute_names == b.attribute_names == list(FILTERED) and len(a) > 1000
    for column in ("codes", "inline", "crossline", "sample", "polygon"):
        assert np.array_equal(getattr(a, column), getattr(b, column)), column
    for name in FILTERED:
        assert np.array_equal(a.attributes[name], b.attributes[name]), name
    g, h = load_gtm(staged, "gtm"), load_gtm(fused, "gtm")
    assert g.sha256 == h.sha256 and g.beta == h.beta
    assert np.array_equal(g.mean, h.mean) and np.array_equal(g.scale, h.scale)
    assert load_model(staged, "rf").sha256 == load_model(fused, "rf").sha256


def test_apply_equals_the_staged_commands(surveys, tmp_path):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    output = cli_ok("apply", store, "--gtm", "gtm", "--rf", "rf", "--device", "cpu", "--brick", BRICK)
    assert "9 bricks computed" in output
    assert "filtered on the way: amplitude_kuw, envelope_kuw, similarity_kuw" in " ".join(output.split())
    assert_same_arrays(store, surveys.staged, OUTPUTS)
    survey, staged = Survey.open(store, mode="r"), Survey.open(surveys.staged, mode="r")
    assert all(survey.is_virtual(name) for name in FILTERED)  # computed in memory, not written
    for name in OUTPUTS:
        assert survey.provenance(name)["command"] == "facies apply" and survey.kind(name) == "result"
        mine, theirs = survey.array(name).attrs.asdict(), staged.array(name).attrs.asdict()
        assert {k: v for k, v in mine.items() if k != "facies"} == {k: v for k, v in theirs.items() if k != "facies"}


def test_write_filtered_and_only_the_requested_outputs(surveys, tmp_path):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    before = set(Survey.open(store, mode="r").volumes())
    # Data replaces a recipe only with --overwrite, as for every run (engine/bricks/outputs.py).
    one_line_error(run_cli("apply", store, "--rf", "rf", "--write-filtered", "--device", "cpu"),
                   "'amplitude_kuw' already exists", "virtual array", "--overwrite")
    cli_ok("apply", store, "--gtm", "gtm", "--rf", "rf", "--outputs", "classes,latent", "--write-filtered",
           "--overwrite", "--device", "cpu", "--brick", BRICK)
    survey = Survey.open(store, mode="r")
    written = set(survey.volumes()) - before
    assert written == {"facies_gtm", "gtm_u1", "gtm_u2", "facies_rf", *FILTERED}
    assert_same_arrays(store, surveys.staged, sorted(written))
    assert survey.virtual_recipes() == {}  # the data replaced the recipes
    assert set(FILTERED) <= set(survey.attributes())  # stored attributes, as filter kuwahara writes them
    assert {survey.kind(name) for name in ("facies_gtm", "gtm_u1", "facies_rf")} == {"result"}
    # The fits' attributes are stored now: the staged commands read them as they are.
    cli_ok("rf", "predict", store, "--model", "rf", "--device", "cpu", "--overwrite")
    assert_same_arrays(store, surveys.staged, RF_OUTPUTS)


def test_rf_predict_and_gtm_project_filter_virtual_attributes_on_the_fly(surveys, tmp_path):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    cli_ok("rf", "predict", store, "--model", "rf", "--device", "cpu", "--brick", BRICK)
    cli_ok("gtm", "project", store, "--device", "cpu")
    assert_same_arrays(store, surveys.staged, OUTPUTS)
    survey = Survey.open(store, mode="r")
    assert all(survey.is_virtual(name) for name in FILTERED)
    assert survey.provenance("facies_rf")["command"] == "facies rf predict"


def test_each_source_brick_is_read_once(surveys, tmp_path, monkeypatch):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    reads: Counter = Counter()
    real_read = BrickSink.read

    def counting_read(self, name, region):
        reads[name, tuple(region)] += 1
        return real_read(self, name, region)

    monkeypatch.setattr(BrickSink, "read", counting_read)
    result = apply_models(store, gtm="gtm", forest="rf", options=LOCAL)
    assert result.run.bricks_total == 9
    # The stored sources only (never the filtered attributes), each once per brick, never one region twice.
    assert _per_array(reads) == {**{name: 9 for name in SOURCES}, "trace_mask": 9} and set(reads.values()) == {1}
    # The staged projection and prediction read the stored filtered volumes once each: twice in all.
    reads.clear()
    staged = tmp_path / "staged.zarr"
    shutil.copytree(surveys.staged, staged)
    cli_ok("gtm", "project", staged, "--device", "cpu", "--brick", BRICK, "--overwrite")
    cli_ok("rf", "predict", staged, "--model", "rf", "--device", "cpu", "--brick", BRICK, "--overwrite")
    assert _per_array(reads) == {**{name: 18 for name in FILTERED}, "trace_mask": 18}


def _per_array(reads: Counter) -> dict[str, int]:
    """Reads per array from reads per (array, region)."""
    total: Counter = Counter()
    for (name, _), count in reads.items():
        total[name] += count
    return dict(total)


def test_interrupted_apply_resumes_to_the_uninterrupted_result(surveys, tmp_path, monkeypatch):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    real_compute, calls = ForestOperator.compute, []

    def interrupt_on_the_fourth_brick(self, inputs, xp):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as Ctrl-C would
        return real_compute(self, inputs, xp)

    monkeypatch.setattr(ForestOperator, "compute", interrupt_on_the_fourth_brick)
    interrupted = run_cli("apply", store, "--gtm", "gtm", "--rf", "rf", "--write-filtered", "--overwrite", "--device",
                          "cpu", "--brick", BRICK)
    assert interrupted.exit_code == 130 and "run the same command again with --resume" in interrupted.output
    survey = Survey.open(store, mode="r")
    # The run created the filtered arrays (replacing their recipes) and left them unfinished.
    assert survey.virtual_recipes() == {} and not any(survey.is_complete(name) for name in FILTERED)
    monkeypatch.setattr(ForestOperator, "compute", real_compute)
    # Without --resume the unfinished outputs are refused; with it, the filters come back from their provenance.
    with pytest.raises(Exception, match="--resume to continue"):
        apply_models(store, gtm="gtm", forest="rf", write_filtered=True, options=LOCAL)
    result = apply_models(store, gtm="gtm", forest="rf", write_filtered=True,
                          options=RunOptions(device="cpu", resume=True, progress=False))
    assert 0 < result.run.bricks_skipped < result.run.bricks_total == 9
    assert result.filtered == list(FILTERED)
    assert_same_arrays(store, surveys.staged, OUTPUTS + FILTERED)


@pytest.mark.parametrize(("args", "fragments"), [
    ((), ("no model to apply", "--gtm NAME", "--rf NAME")),
    (("--gtm", "nope"), ("no GTM model 'nope'",)),
    (("--rf", "nope"), ("no model 'nope'",)),
    (("--rf", "rf", "--outputs", "latent"), ("latent", "--gtm")),
    (("--gtm", "gtm", "--rf", "rf", "--outputs", "latent"), ("writes nothing of random forest 'rf'",)),
    (("--gtm", "gtm", "--outputs", "classes,odds"), ("--outputs takes", "'odds'")),
    (("--gtm", "gtm", "--method", "nearest"), ("--method must be one of",)),
    (("--rf", "rf", "--engine", "fastest"), ("--engine must be one of", "'fastest'")),
])
def test_bad_input_is_one_line(surveys, tmp_path, args, fragments):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    before = set(Survey.open(store, mode="r").volumes(include_incomplete=True))
    one_line_error(run_cli("apply", store, *args, "--device", "cpu"), *fragments)
    assert set(Survey.open(store, mode="r").volumes(include_incomplete=True)) == before


@pytest.mark.parametrize("command", [("apply", "{s}", "--rf", "rf"), ("apply", "{s}", "--gtm", "gtm", "--rf", "rf"),
                                     ("rf", "predict", "{s}", "--model", "rf"), ("gtm", "project", "{s}")])
def test_a_virtual_attribute_without_its_source_is_one_line(surveys, tmp_path, command):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    Survey.open(store).delete("amplitude")
    before = set(Survey.open(store, mode="r").volumes(include_incomplete=True))
    one_line_error(run_cli(*(store if arg == "{s}" else arg for arg in command), "--device", "cpu"),
                   "'amplitude_kuw' is computed from 'amplitude'", "no stored volume 'amplitude'")
    assert set(Survey.open(store, mode="r").volumes(include_incomplete=True)) == before


def test_existing_outputs_need_overwrite_or_resume(surveys, tmp_path):  # noqa: F811
    store = fused_copy(surveys, tmp_path)
    cli_ok("apply", store, "--gtm", "gtm", "--outputs", "classes", "--device", "cpu")
    one_line_error(run_cli("apply", store, "--gtm", "gtm", "--device", "cpu"), "'facies_gtm' already exists",
                   "--overwrite")
    assert "already complete" in cli_ok("apply", store, "--gtm", "gtm", "--outputs", "classes", "--device", "cpu",
                                        "--resume")
    # Made with other outputs: not this run's to continue.
    one_line_error(run_cli("apply", store, "--gtm", "gtm", "--device", "cpu", "--resume"),
                   "cannot resume 'facies_gtm'")
    cli_ok("apply", store, "--gtm", "gtm", "--device", "cpu", "--overwrite")
    assert_same_arrays(store, surveys.staged, GTM_OUTPUTS)
