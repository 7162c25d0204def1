"""The GTM engine: the stratified sample, the stored model (round trip, damage), the projection brick by brick
against the whole volume, and an interrupted projection resumed."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest

from facies.engine import Survey
from facies.engine.bricks.options import RunOptions
from facies.engine.errors import FaciesError
from facies.engine.gtm.model import GtmModel
from facies.engine.gtm.model_io import list_gtms, load_gtm, save_gtm
from facies.engine.gtm.operator import GtmOperator, output_names
from facies.engine.gtm.project import project_survey
from facies.engine.gtm.sample import draw, quotas, sample_positions, sample_voxels, strata
from facies.engine.provenance import make_provenance
from facies.kernels.gtm import GtmSettings, fit_gtm, responsibilities
from tests.helpers import one_line_error, run_cli, tiny_store

pytestmark = pytest.mark.usefixtures("cpu_only")

SHAPE, CHUNKS = (12, 10, 16), (4, 4, 8)
ATTRIBUTES = ("a", "b")


def make_model(survey, name: str = "gtm", *, seed: int = 0) -> GtmModel:
    """A GTM fitted on the store's attributes (a 4 x 4 map), with made-up facies PDFs; not saved."""
    x = np.stack([survey.read(a).reshape(-1) for a in ATTRIBUTES], axis=1).astype(np.float64)
    live = np.broadcast_to(survey.geometry.trace_mask[:, :, None], survey.shape).reshape(-1)
    x = x[live]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    t = (x - mean) / scale
    settings = GtmSettings(grid=4, basis=2, iterations=5)
    fit = fit_gtm(t, settings)
    r = responsibilities(t, fit.nodes, fit.beta)[0]
    density = r.mean(axis=0)
    density /= density.sum()
    rng = np.random.default_rng(seed)
    pdfs = rng.random((3, 16))
    pdfs /= pdfs.sum(axis=1, keepdims=True)
    return GtmModel(name=name, attributes=list(ATTRIBUTES), mean=mean, scale=scale, settings=asdict(settings),
                    latent=fit.latent, phi=fit.phi, W=fit.W, beta=fit.beta, loglik=fit.loglik,
                    iterations=fit.iterations, converged=fit.converged, density=density,
                    facies_names=["salt", "mtd", "background"], codes=[1, 2, 3], pdfs=pdfs,
                    priors=np.array([0.2, 0.3, 0.5]), training="picks", sample_seed=0, sample_size=int(t.shape[0]),
                    provenance=make_provenance("test", {}))


@pytest.fixture
def store(tmp_path):
    """A small store of two random attributes, chunks 4 x 4 x 8 (many bricks), with a saved GTM ``gtm``."""
    survey = tiny_store(tmp_path / "s.zarr", shape=SHAPE, chunks=CHUNKS, names=ATTRIBUTES)
    save_gtm(survey, make_model(survey))
    return tmp_path / "s.zarr"


# -- the sample ----------------------------------------------------------------------------------------------


def test_draw_is_distinct_sorted_and_reproducible():
    for population, quota in ((100, 1), (100, 37), (100, 99), (7, 7), (10**9, 1000)):
        positions = draw(3, 5, population, quota)
        assert positions.size == quota and np.all(np.diff(positions) > 0)
        assert positions[0] >= 0 and positions[-1] < population
        assert np.array_equal(positions, draw(3, 5, population, quota))
    assert not np.array_equal(draw(3, 5, 10**6, 100), draw(4, 5, 10**6, 100))
    assert not np.array_equal(draw(3, 5, 10**6, 100), draw(3, 6, 10**6, 100))


def test_sample_is_stratified_in_proportion_to_live_voxels():
    rng = np.random.default_rng(1)
    mask = rng.random((40, 30)) > 0.3
    mask[:20, :15] = False  # a dead corner: no voxel of it may be drawn
    chunks, n_samples, size = (8, 8, 16), 40, 3000
    positions = sample_positions(mask, n_samples, chunks, size=size, seed=7)
    assert positions.shape == (size, 3)
    assert np.unique(positions, axis=0).shape[0] == size  # no voxel twice
    assert mask[positions[:, 0], positions[:, 1]].all()
    grid, live = strata(mask, n_samples, chunks)
    quota = quotas(live, size)
    assert quota.sum() == size
    expected = live * size / live.sum()
    assert np.all(np.abs(quota - expected) < 1)  # proportional to each stratum's live voxels
    cells = positions // np.array(chunks)
    counted = np.zeros(grid, dtype=int)
    np.add.at(counted, tuple(cells.T), 1)
    assert np.array_equal(counted, quota)
    # The same seed gives the same sample; another seed another.
    assert np.array_equal(positions, sample_positions(mask, n_samples, chunks, size=size, seed=7))
    assert not np.array_equal(positions, sample_positions(mask, n_samples, chunks, size=size, seed=8))


def test_sample_does_not_depend_on_the_bricks(store):
    survey = Survey.open(store)
    small = sample_voxels(survey, ATTRIBUTES, size=300, seed=2, brick=(4, 4), progress=False)
    whole = sample_voxels(survey, ATTRIBUTES, size=300, seed=2, brick=SHAPE[:2], progress=False)
    default = sample_voxels(survey, ATTRIBUTES, size=300, seed=2, progress=False)
    for other in (whole, default):
        assert np.array_equal(small.indices, other.indices)
        assert np.array_equal(small.values, other.values)
    i, j, k = small.indices.T
    for d, name in enumerate(ATTRIBUTES):
        assert np.array_equal(small.values[:, d], survey.read(name)[i, j, k])
    assert small.drawn == 300 and small.live == int(survey.geometry.trace_mask.sum()) * SHAPE[2]
    everything = sample_voxels(survey, ATTRIBUTES, size=10**6, seed=2, progress=False)
    assert everything.drawn == everything.live  # a sample larger than the survey is every live voxel


# -- the stored model ----------------------------------------------------------------------------------------


def test_model_round_trip(store):
    survey = Survey.open(store)
    model = load_gtm(survey, "gtm")
    again = make_model(survey)
    assert list_gtms(survey) == ["gtm"]
    assert model.sha256 == again.sha256 and model.metadata() == {**again.metadata(), "provenance":
                                                                  model.provenance}
    for field in ("mean", "scale", "latent", "phi", "W", "loglik", "density", "pdfs", "priors"):
        assert np.array_equal(getattr(model, field), getattr(again, field)), field
    with pytest.raises(FaciesError, match="already exists"):
        save_gtm(survey, again)
    save_gtm(survey, replace(again, pdfs=again.pdfs[::-1].copy()), overwrite=True)
    assert np.array_equal(load_gtm(survey, "gtm").pdfs, again.pdfs[::-1])


def _edit_metadata(store, change) -> None:
    path = store / "gtm_models" / "gtm" / "zarr.json"
    doc = json.loads(path.read_text())
    change(doc["attributes"]["facies"])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("change, reason", [
    (lambda m: m.update(beta=-1.0), "beta is -1"),
    (lambda m: m.update(sha256="0" * 64), "checksum mismatch"),
    (lambda m: m["settings"].update(grid=5), "latent has shape"),
    (lambda m: m["settings"].update(width=2.0), "basis matrix is not the one"),
    (lambda m: m["settings"].update(evil=1), "unknown key 'evil'"),
    (lambda m: m.update(facies_names=["a b", "a_b", "c"]), "would both be written"),
    (lambda m: m.update(attributes=["a", "facies_gtm"]), "also an array its projection writes"),
    (lambda m: m.update(attributes=["a", "trace_mask"]), "not the name of an array"),
    (lambda m: m["standardisation"].update(scale=[1e-45, 1.0]), "scale outside"),
    (lambda m: m.update(codes=[1, 1, 2]), "code twice"),
    (lambda m: m.update(iterations=True), "iterations is True"),
    (lambda m: m.update(format_version="1"), "format_version"),
    (lambda m: m.update(beta=10 ** 400), "beta is too large a number"),  # JSON integers have no bound
    (lambda m: m["settings"].update(width=10 ** 400), "settings are not valid"),
    (lambda m: m["settings"].update(width=1e-200), "basis matrix is not the one"),  # and no warnings
])
def test_a_damaged_model_is_one_line(store, change, reason):
    _edit_metadata(store, change)
    result = run_cli("gtm", "project", store)
    assert "Warning" not in result.output
    one_line_error(result, "GTM model 'gtm'", "is damaged", reason, "facies gtm fit")
    assert Survey.open(store).volumes(include_incomplete=True) == ["a", "b"]  # no output was created
    check = run_cli("verify", store)
    assert check.exit_code == 2 and "gtm_models/gtm" in check.output


def test_damaged_document_bytes_and_foreign_arrays(store):
    chunk = next(p for p in (store / "gtm_models" / "gtm" / "c").rglob("*") if p.is_file())
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    one_line_error(run_cli("gtm", "project", store), "GTM model 'gtm'", "damaged")
    survey = Survey.open(store)
    save_gtm(survey, make_model(survey), overwrite=True)
    _edit_metadata(store, lambda m: m.update(format="something-else"))
    one_line_error(run_cli("gtm", "show", store, "--out", store.parent / "out"), "is not a facies GTM")
    assert not (store.parent / "out").exists()


def test_a_document_larger_than_any_model_is_refused_before_it_is_read(store):
    path = store / "gtm_models" / "gtm" / "zarr.json"
    doc = json.loads(path.read_text())
    doc["shape"] = [10 ** 12]  # a terabyte of fill value, were it read
    path.write_text(json.dumps(doc))
    one_line_error(run_cli("gtm", "project", store), "GTM model 'gtm'", "is damaged", "at most")


def test_a_model_the_gpu_kernel_cannot_hold_is_refused_before_any_output(store, monkeypatch):
    import types

    from facies.engine.bricks.options import RunOptions
    from facies.engine.gtm import project as project_module

    survey = Survey.open(store)
    model = load_gtm(survey, "gtm")
    big = replace(model, latent=np.zeros((2000, 2)))  # more nodes than any specialisation's shared memory holds
    monkeypatch.setattr(project_module, "get_backend", lambda device: types.SimpleNamespace(is_gpu=True))
    with pytest.raises(FaciesError, match="GTM model 'gtm': the GPU projection holds at most .* not 2000"):
        project_module.check_fits_the_gpu(big, RunOptions(device="gpu"))
    project_module.check_fits_the_gpu(model, RunOptions(device="gpu"))  # the tiny model fits
    monkeypatch.setattr(project_module, "get_backend", lambda device: types.SimpleNamespace(is_gpu=False))
    project_module.check_fits_the_gpu(big, RunOptions(device="cpu"))  # the CPU holds any model


def test_a_model_that_cannot_be_read_back_is_not_stored(store):
    survey = Survey.open(store)
    bad = replace(make_model(survey, "other"), facies_names=["a b", "a_b", "c"])
    with pytest.raises(FaciesError, match="cannot be stored.*would both be written"):
        save_gtm(survey, bad)
    assert list_gtms(survey) == ["gtm"]


# -- the projection ------------------------------------------------------------------------------------------


def _whole_volume(survey, model, method):
    """The kernel on the whole survey at once: the reference of the brick runs."""
    operator = GtmOperator(model, method=method)
    inputs = {a: survey.read(a) for a in model.attributes}
    inputs["trace_mask"] = survey.geometry.trace_mask
    return operator.compute(inputs, np)


@pytest.mark.parametrize("method", ["bhattacharyya", "gtc"])
def test_projection_brick_by_brick_equals_the_whole_volume(store, method):
    survey = Survey.open(store)
    model = load_gtm(survey, "gtm")
    result = project_survey(survey, "gtm", method=method,
                            options=RunOptions(device="cpu", brick=(4, 4, 8), progress=False))
    assert result.run.bricks_total == 3 * 3 * 2
    reference = _whole_volume(survey, model, method)
    names = output_names(model)
    for name in [names["classes"], *names["probabilities"], names["confidence"], *names["latent"]]:
        assert np.array_equal(survey.read(name), reference[name], equal_nan=True), name
    codes = survey.read("facies_gtm")
    dead = ~survey.geometry.trace_mask
    assert np.all(codes[dead] == 0) and np.all(np.isnan(survey.read("gtm_u1")[dead]))
    assert set(np.unique(codes[~dead])) <= {1, 2, 3}
    probs = np.stack([survey.read(p) for p in names["probabilities"]])
    np.testing.assert_allclose(probs.sum(axis=0)[~dead], 1, atol=1e-5)
    attrs = survey.array("facies_gtm").attrs
    assert attrs["flag_values"] == [0, 1, 2, 3] and attrs["flag_meanings"] == "no_data salt mtd background"
    assert attrs["method"] == method and attrs["model"] == "gtm"
    assert survey.provenance("facies_gtm")["parameters"]["operators"][0]["method"] == method


def test_interrupted_projection_resumes_to_the_uninterrupted_result(store, tmp_path, monkeypatch):
    import shutil

    twin = tmp_path / "twin.zarr"
    shutil.copytree(store, twin)
    assert run_cli("gtm", "project", twin, "--brick", "4,4,8", "--device", "cpu").exit_code == 0
    calls = {"n": 0}
    real = GtmOperator.compute

    def stop_at_the_fifth(self, inputs, xp):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, inputs, xp)

    monkeypatch.setattr(GtmOperator, "compute", stop_at_the_fifth)
    stopped = run_cli("gtm", "project", store, "--brick", "4,4,8", "--device", "cpu")
    assert stopped.exit_code == 130 and "--resume" in stopped.output
    survey = Survey.open(store)
    assert not survey.is_complete("facies_gtm")
    monkeypatch.setattr(GtmOperator, "compute", real)
    # Another method is another run: refused, naming the parameter.
    one_line_error(run_cli("gtm", "project", store, "--method", "gtc", "--resume"), "facies_gtm", "method")
    resumed = run_cli("gtm", "project", store, "--resume", "--device", "cpu")
    assert resumed.exit_code == 0, resumed.output
    assert "skipped" in resumed.output
    done, reference = Survey.open(store), Survey.open(twin)
    for name in reference.volumes(kind="result"):
        assert np.array_equal(done.read(name), reference.read(name), equal_nan=True), name


def test_a_model_of_another_attribute_set_is_refused(store, tmp_path):
    """A GTM copied from a store whose attributes this one lacks: one line, nothing created."""
    import shutil

    other = tiny_store(tmp_path / "o.zarr", shape=SHAPE, chunks=CHUNKS, names=("a", "c"))
    shutil.copytree(store / "gtm_models", other.path / "gtm_models")
    one_line_error(run_cli("gtm", "project", other.path), "fitted on a, b", "no volume 'b'")
    assert "facies_gtm" not in Survey.open(other.path).volumes(include_incomplete=True)
