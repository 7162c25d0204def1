"""``facies gtm fit|project|show|evaluate`` through the real app on the tiny synthetic survey, and every refusal
as one line (exit 2, nothing written as complete)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facies.engine import Survey
from facies.engine.gtm.model_io import list_gtms, load_gtm
from facies.engine.selection.record import record_selection
from facies.engine.synth import polygons_path
from facies.engine.training import TrainingTable, extract_training
from facies.engine.provenance import make_provenance
from tests.helpers import one_line_error, run_cli, writable_copy

pytestmark = pytest.mark.usefixtures("cpu_only")

#: Small settings: the whole module stays within seconds on two cores.
SMALL = ("--grid", "6", "--basis", "3", "--iterations", "20", "--sample", "5000")
ATTRIBUTES = "rms_amplitude,similarity,texture_contrast,dip_deviation"
#: Floor of the held-out accuracy and of the mean recall: a classifier guessing among the 3 facies at random
#: scores about 1/3 on both. Measured with SMALL on synthetic seed 0: accuracy 0.871, mean recall 0.74.
MIN_ACCURACY, MIN_MEAN_RECALL = 0.6, 0.5


@pytest.fixture(scope="module")
def tiny(tiny_synthetic, tmp_path_factory):
    """A writable copy of the tiny synthetic survey with its training table ``picks`` (every attribute)."""
    path = writable_copy(tiny_synthetic, tmp_path_factory.mktemp("gtm"))
    extract_training(Survey.open(path), polygons_path(path))
    return path


@pytest.fixture(scope="module")
def fitted(tiny):
    """The tiny survey with a GTM ``gtm`` fitted on ATTRIBUTES and projected."""
    result = run_cli("gtm", "fit", tiny, "--attributes", ATTRIBUTES, *SMALL)
    assert result.exit_code == 0, result.output
    assert "attributes (user): rms_amplitude, similarity, texture_contrast, dip_deviation" in result.output
    assert "sample: 5000 of" in result.output and "saved gtm_models/gtm" in result.output
    result = run_cli("gtm", "project", tiny, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return tiny


def test_fit_project_show_evaluate(fitted, tmp_path):
    survey = Survey.open(fitted)
    model = load_gtm(survey, "gtm")
    assert model.attributes == ATTRIBUTES.split(",") and model.sample_size == 5000 and model.latent.shape == (36, 2)
    assert {"facies_gtm", "prob_gtm_salt", "prob_gtm_mtd", "prob_gtm_background", "confidence_gtm", "gtm_u1",
            "gtm_u2"} <= set(survey.volumes())
    assert survey.provenance("facies_gtm")["command"] == "facies gtm project"
    assert "gtm" in [m["name"] for m in json.loads(run_cli("info", fitted, "--json", "--no-stats").stdout)
                     ["gtm_models"]]
    assert "GTM model gtm: 6 x 6 nodes on " + ATTRIBUTES.replace(",", ", ") in " ".join(
        run_cli("info", fitted, "--no-stats").output.split())
    result = run_cli("gtm", "evaluate", fitted, "--json")
    assert result.exit_code == 0, result.output
    score = json.loads(result.stdout)
    print(f"GTM held-out accuracy on tiny synthetic: {score}")
    assert score["accuracy"] > MIN_ACCURACY and np.mean(list(score["recall"].values())) > MIN_MEAN_RECALL
    assert set(score["recall"]) == {"background", "salt", "mtd"}
    result = run_cli("gtm", "evaluate", fitted)
    assert result.exit_code == 0 and "facies_gtm vs truth: accuracy" in result.output
    out = tmp_path / "show"
    result = run_cli("gtm", "show", fitted, "--out", out)
    assert result.exit_code == 0, result.output
    names = {"gtm_latent_density.png", "gtm_facies_pdfs.png", "gtm_colour_key.png", "gtm_time_slice.png",
             "gtm_pdfs.csv"}
    assert {p.name for p in out.iterdir()} == names
    lines = (out / "gtm_pdfs.csv").read_text().splitlines()
    assert lines[0] == "node,u1,u2,background,salt,mtd" and len(lines) == 37
    table = np.loadtxt(out / "gtm_pdfs.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 3:].sum(axis=0), 1, atol=1e-6)
    # A second show refuses to replace its own files without --overwrite, and replaces them with it.
    one_line_error(run_cli("gtm", "show", fitted, "--out", out), "earlier facies gtm show", "--overwrite")
    assert run_cli("gtm", "show", fitted, "--out", out, "--overwrite").exit_code == 0
    # A file show did not write is never replaced, --overwrite or not; nothing is drawn.
    (out / "gtm_pdfs.csv").write_text("mine\n")
    before = (out / "gtm_colour_key.png").stat().st_mtime_ns
    one_line_error(run_cli("gtm", "show", fitted, "--out", out, "--overwrite"), "gtm_pdfs.csv",
                   "which facies gtm show did not write")
    assert (out / "gtm_pdfs.csv").read_text() == "mine\n" and (out / "gtm_colour_key.png").stat().st_mtime_ns == before


def test_project_refuses_existing_outputs_and_resume_of_a_finished_run(fitted):
    before = (fitted / "facies_gtm" / "zarr.json").read_bytes()
    one_line_error(run_cli("gtm", "project", fitted), "'facies_gtm' already exists", "--overwrite")
    assert (fitted / "facies_gtm" / "zarr.json").read_bytes() == before
    result = run_cli("gtm", "project", fitted, "--resume")
    assert result.exit_code == 0, result.output


def test_the_same_seed_fits_the_same_model_and_the_selection_sources(fitted, tmp_path):
    survey = Survey.open(fitted)
    first = load_gtm(survey, "gtm")
    # --selection: a facies select folder's best combination.
    folder = tmp_path / "sel"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"attributes": [], "facies": [], "best_per_dimension": {},
                                                     "best": {"attributes": ATTRIBUTES.split(",")}}))
    result = run_cli("gtm", "fit", fitted, "--selection", folder, "--name", "again", *SMALL)
    assert result.exit_code == 0, result.output
    assert "attributes (selection)" in result.output
    again = load_gtm(Survey.open(fitted), "again")
    assert again.sha256 == first.sha256  # same seed, same attributes: the same sample and map
    # Default: the store's latest selection, each attribute replaced by its complete _kuw version.
    survey.add_volume("envelope_kuw", survey.read("envelope"), provenance=make_provenance("test", {}))
    record_selection(survey, {"attributes": ["envelope", "similarity"]})
    table = TrainingTable.load(survey)
    with_kuw = TrainingTable(facies_names=table.facies_names, codes=table.codes, inline=table.inline,
                             crossline=table.crossline, sample=table.sample, sample_axis=table.sample_axis,
                             attributes={**table.attributes, "envelope_kuw": table.attributes["envelope"]},
                             polygon=table.polygon)
    with_kuw.save(survey, "kuw")
    result = run_cli("gtm", "fit", fitted, "--name", "default", "--seed", "3", "--training", "kuw", *SMALL)
    assert result.exit_code == 0, result.output
    assert "attributes (store): envelope_kuw, similarity" in result.output and "Kuwahara-filtered" in result.output
    assert load_gtm(Survey.open(fitted), "default").sample_seed == 3


def _nothing_new(store, before):
    survey = Survey.open(store)
    assert list_gtms(survey) == before["models"]
    assert survey.volumes(include_incomplete=True) == before["volumes"]


@pytest.mark.parametrize("args, fragments", [
    (("fit", "{s}", "--attributes", "nope", *SMALL, "--name", "x"), ("no volume 'nope'",)),
    (("fit", "{s}", "--attributes", "truth_x", *SMALL, "--name", "x"), ("no volume 'truth_x'",)),
    (("fit", "{s}", "--attributes", "envelope,envelope", *SMALL, "--name", "x"), ("names an attribute twice",)),
    (("fit", "{s}", "--attributes", "envelope,truth", *SMALL, "--name", "x"), ("has no column 'truth'",)),
    (("fit", "{s}", "--attributes", "envelope", "--grid", "6", "--sample", "20", "--name", "x"),
     ("fewer voxels than the 36 nodes",)),
    (("fit", "{s}", "--attributes", "envelope", "--sample", "1000000000000", "--name", "x"), ("at most 20000000",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL, "--name", "bad name"), ("GTM model name 'bad name'",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL), ("GTM model 'gtm' already exists", "--overwrite")),
    (("fit", "{s}", "--attributes", "envelope", "--grid", "1", "--name", "x"), ("--grid must be in 2..100",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL, "--regularisation", "-1", "--name", "x"),
     ("--regularisation must be",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL, "--priors", "odd", "--name", "x"), ("--priors must be",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL, "--training", "nope", "--name", "x"), ("'nope'",)),
    (("fit", "{s}", "--attributes", "envelope", "--selection", "{s}", *SMALL, "--name", "x"),
     ("either --attributes or --selection",)),
    (("fit", "{s}", "--selection", "{s}", *SMALL, "--name", "x"), ("no summary.json written by facies select",)),
    (("fit", "{s}", "--attributes", "envelope", *SMALL, "--device", "tpu", "--name", "x"), ("device must be",)),
    (("fit", "{s}.missing", *SMALL), ("not a survey store",)),
    (("project", "{s}", "--model", "nope"), ("no GTM model 'nope'",)),
    (("project", "{s}", "--method", "vote", "--overwrite"), ("--method must be one of bhattacharyya, gtc",)),
    (("project", "{s}", "--model", "../x"), ("GTM model name '../x' is not valid",)),
    (("show", "{s}", "--model", "nope", "--out", "{t}/o"), ("no GTM model 'nope'",)),
    (("show", "{s}", "--out", "{s}/training/picks/facies/zarr.json"), ("is a file",)),
    (("show", "{s}", "--out", "{s}/pictures"), ("lies inside the survey store",)),
    (("show", "{s}", "--out", "{t}/o", "--at", "99999"), ("outside the survey",)),
    (("evaluate", "{s}", "--labels", "amplitude"), ("no label volume 'amplitude'",)),
    (("evaluate", "{s}", "--min-distance", "-1"), ("--min-distance must be",)),
])
def test_refusals_are_one_line_and_change_nothing(fitted, tmp_path, args, fragments):
    survey = Survey.open(fitted)
    before = {"models": list_gtms(survey), "volumes": survey.volumes(include_incomplete=True)}
    result = run_cli("gtm", *(a.format(s=fitted, t=tmp_path) for a in args))
    one_line_error(result, *fragments)
    _nothing_new(fitted, before)
    assert not (tmp_path / "o").exists()


def test_a_table_without_some_facies_is_refused(fitted):
    survey = Survey.open(fitted)
    table = TrainingTable.load(survey)
    keep = table.codes != 2
    partial = TrainingTable(facies_names=table.facies_names, codes=table.codes[keep], inline=table.inline[keep],
                            crossline=table.crossline[keep], sample=table.sample[keep], sample_axis=table.sample_axis,
                            attributes={k: v[keep] for k, v in table.attributes.items()},
                            polygon=table.polygon[keep])
    partial.save(survey, "partial")
    result = run_cli("gtm", "fit", fitted, "--attributes", "envelope", "--training", "partial", *SMALL, "--name", "x")
    one_line_error(result, "training table 'partial' has no voxel of facies 'salt'")
    assert "x" not in list_gtms(Survey.open(fitted))


def test_an_incomplete_attribute_is_refused(fitted):
    survey = Survey.open(fitted)
    survey.add_volume("half", survey.read("envelope"), provenance=make_provenance("test", {}))
    survey.mark_incomplete("half")
    one_line_error(run_cli("gtm", "fit", fitted, "--attributes", "half", *SMALL, "--name", "x"),
                   "'half'", "incomplete")
    assert "x" not in list_gtms(Survey.open(fitted))


def test_show_skips_a_slice_projected_with_another_fit_of_the_model(fitted, tmp_path):
    """After gtm fit --overwrite, the stored u1/u2 are the old map's: show says so instead of colouring them."""
    assert run_cli("gtm", "fit", fitted, "--attributes", ATTRIBUTES, "--name", "stale", *SMALL).exit_code == 0
    assert run_cli("gtm", "project", fitted, "--model", "stale", "--device", "cpu").exit_code == 0
    shown = run_cli("gtm", "show", fitted, "--model", "stale", "--out", tmp_path / "a")
    assert shown.exit_code == 0 and (tmp_path / "a" / "stale_time_slice.png").exists(), shown.output
    refit = run_cli("gtm", "fit", fitted, "--attributes", ATTRIBUTES, "--name", "stale", "--seed", "5",
                    "--overwrite", *SMALL)
    assert refit.exit_code == 0, refit.output
    shown = run_cli("gtm", "show", fitted, "--model", "stale", "--out", tmp_path / "b")
    assert shown.exit_code == 0, shown.output
    assert "were not projected with this model" in " ".join(shown.output.split())
    assert not (tmp_path / "b" / "stale_time_slice.png").exists()
