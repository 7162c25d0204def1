"""``--resume`` through the real app never replaces an array the run did not make, and runs with
many long output names get a bounded ledger key ("Nothing lost, ever")."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine import Survey
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import run_key
from facies.engine.store import MAX_NAME_BYTES
from facies.engine.ledger import RUNS_GROUP, find_ledger
from facies.engine.synth import polygons_path
from tests.helpers import writable_copy
from tests.helpers import one_line_error as _assert_refused

pytestmark = pytest.mark.usefixtures("cpu_only")
runner = CliRunner()


@pytest.fixture
def store(tiny_synthetic, tmp_path):
    """A writable copy of the session's tiny synthetic survey."""
    return writable_copy(tiny_synthetic, tmp_path)


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _ok(*args):
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def _array_files(store, name) -> dict[str, bytes]:
    """Every file of array ``name`` (metadata and chunks), by path: the array's exact bytes."""
    root = store / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_filter_resume_does_not_replace_an_ingested_array(store, tmp_path):
    """Only some outputs exist, one of them an ingested original: --resume must refuse it."""
    _ok("export", store, "amplitude", tmp_path / "a.sgy")
    _ok("ingest", tmp_path / "a.sgy", "--survey", store, "--name", "envelope_p")
    before = _array_files(store, "envelope_p")
    result = _invoke("filter", "kuwahara", store, "-i", "amplitude", "-i", "envelope", "--radius", "2",
                     "--suffix", "_p", "--resume")
    _assert_refused(result, "'envelope_p'", "facies ingest", "choose another output name")
    assert _array_files(store, "envelope_p") == before
    survey = Survey.open(store)
    assert survey.is_complete("envelope_p") and not survey.has("amplitude_p")
    # --overwrite does not make an original replaceable: runs replace only what runs computed.
    _assert_refused(_invoke("filter", "kuwahara", store, "-i", "amplitude", "-i", "envelope", "--radius", "2",
                            "--suffix", "_p", "--overwrite"), "'envelope_p'", "facies ingest")
    assert _array_files(store, "envelope_p") == before


def test_filter_resume_does_not_replace_an_output_made_with_other_parameters(store):
    _ok("filter", "kuwahara", store, "-i", "amplitude", "--radius", "3", "--suffix", "_p")
    before = _array_files(store, "amplitude_p")
    args = ["filter", "kuwahara", store, "-i", "amplitude", "-i", "envelope", "--suffix", "_p", "--resume"]
    _assert_refused(_invoke(*args, "--radius", "2"), "'amplitude_p'", "other parameters", "--overwrite")
    assert _array_files(store, "amplitude_p") == before
    assert not Survey.open(store).has("envelope_p")
    # "The same command" with --overwrite replaces it, as the message says.
    _ok(*args, "--radius", "2", "--overwrite")
    survey = Survey.open(store)
    assert survey.provenance("amplitude_p")["parameters"]["operators"][0]["radius"] == [2, 2, 2]
    assert survey.is_complete("envelope_p")


@pytest.fixture
def trained_two_facies(store, tmp_path):
    """The store with model ``t`` trained on background and salt only, and its prediction."""
    pytest.importorskip("treelite")
    _ok("training", "extract", store, polygons_path(store), "--all")
    _ok("training", "export", store, tmp_path / "picks.csv")
    lines = (tmp_path / "picks.csv").read_text().splitlines(keepends=True)
    (tmp_path / "two.csv").write_text("".join(line for line in lines if not line.startswith("mtd,")))
    train = ["rf", "train", store, "--name", "t", "--trees", "3", "--max-depth", "4", "--attributes",
             "amplitude,envelope", "--out", tmp_path / "report"]
    _ok(*train, "--csv", tmp_path / "two.csv")
    _ok("rf", "predict", store, "--model", "t", "--device", "cpu")
    return train


def test_rf_predict_resume_after_retraining_with_more_facies_is_refused(store, trained_two_facies):
    """The retrained model writes one more array (prob_t_mtd): the older predictions must stay."""
    names = ["facies_t", "prob_t_background", "prob_t_salt", "confidence_t"]
    before = {name: _array_files(store, name) for name in names}
    _ok(*trained_two_facies, "--overwrite")  # every facies of the table: background, salt, mtd
    result = _invoke("rf", "predict", store, "--model", "t", "--device", "cpu", "--resume")
    _assert_refused(result, "'facies_t'", "other parameters", "--overwrite")
    assert {name: _array_files(store, name) for name in names} == before
    assert not Survey.open(store).has("prob_t_mtd")


def test_resume_refuses_an_unfinished_output_of_another_run(store):
    """An incomplete array left by a run with other outputs is that run's to resume, not this one's."""
    from facies.engine.filtering import filter_kuwahara

    survey = Survey.open(store)
    filter_kuwahara(survey, ["amplitude"], 3, suffix="_p", options=RunOptions(progress=False))
    survey.mark_incomplete("amplitude_p")  # as if that run had been interrupted
    before = _array_files(store, "amplitude_p")
    result = _invoke("filter", "kuwahara", store, "-i", "amplitude", "-i", "envelope", "--radius", "3",
                     "--suffix", "_p", "--resume")
    _assert_refused(result, "'amplitude_p'", "unfinished output of another run", "--overwrite")
    assert _array_files(store, "amplitude_p") == before


# ---------------------------------------------------------------------- long output names
#: Longer than the 255 bytes of a file name once joined (11 attributes), each name well under it.
LONG_SUFFIX = "_kuwahara_octant_mean_radius_two_for_the_facies_run"


def test_kuwahara_all_with_long_output_names_runs_and_resumes(store):
    """Eleven attributes with a long suffix: the names joined are longer than a file name may be."""
    survey = Survey.open(store)
    outputs = {f"{name}{LONG_SUFFIX}": f"{name}{LONG_SUFFIX}" for name in survey.volumes(kind="attribute")}
    assert len("+".join(outputs).encode()) > 255 and max(len(n.encode()) for n in outputs) < MAX_NAME_BYTES
    args = ["filter", "kuwahara", store, "--all", "--suffix", LONG_SUFFIX]
    assert "11 input(s)" in _ok(*args).output
    survey = Survey.open(store)
    assert all(survey.is_complete(name) for name in outputs) and find_ledger(survey, run_key(outputs)) is None
    assert all(len(p.name.encode()) <= 255 for p in (store / RUNS_GROUP).iterdir())
    assert "already complete, nothing to do" in _ok(*args, "--resume").output


@pytest.mark.parametrize("name", ["a" * (MAX_NAME_BYTES + 1), "é" * (MAX_NAME_BYTES // 2 + 1)])
def test_output_names_too_long_for_the_file_system_are_refused(store, name):
    result = _invoke("filter", "mean", store, "-i", "amplitude", "-o", name)
    _assert_refused(result, f"at most {MAX_NAME_BYTES} bytes")
    assert not Survey.open(store).has(name)


def test_resume_over_a_finished_run_is_still_nothing_to_do(store):
    args = ["filter", "kuwahara", store, "-i", "amplitude", "-i", "envelope", "--suffix", "_p"]
    _ok(*args)
    before = {name: _array_files(store, name) for name in ("amplitude_p", "envelope_p")}
    assert "already complete, nothing to do" in _ok(*args, "--resume").output
    assert {name: _array_files(store, name) for name in ("amplitude_p", "envelope_p")} == before
    # Nothing existing, no ledger: --resume starts afresh.
    assert "input(s)" in _ok("filter", "kuwahara", store, "-i", "similarity", "--suffix", "_q", "--resume").output
    assert np.isfinite(Survey.open(store).read("similarity_q")).any()


def test_overwrite_never_replaces_an_original_of_the_synthetic_survey(store):
    """The truth labels and the generated attributes are originals: no run replaces them."""
    for name in ("truth", "envelope"):
        before = _array_files(store, name)
        result = _invoke("filter", "mean", store, "-i", "amplitude", "-o", name, "--overwrite")
        _assert_refused(result, f"'{name}'", "not computed by a facies run")
        assert _array_files(store, name) == before
