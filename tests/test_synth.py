"""The synthetic survey: geometry, determinism, independence of bricking, dead traces, bad arguments, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import segyio
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.store import Survey
from facies.engine.synth import ATTRIBUTE_NAMES, FACIES_NAMES, SIZES, make_synthetic, polygons_path
from facies.engine.synth.hashing import normal, stream_key, uniform

TINY = SIZES["tiny"]


@pytest.fixture(scope="module")
def tiny(tiny_synthetic) -> Survey:
    """The session's tiny synthetic survey (seed 0), read-only."""
    return Survey.open(tiny_synthetic, mode="r")


def test_shape_axes_and_coordinates(tiny):
    g = tiny.geometry
    assert tiny.shape == TINY == (48, 40, 64)
    assert tiny.dims == ("inline", "crossline", "time")
    np.testing.assert_array_equal(g.inlines, 1000 + np.arange(48))
    np.testing.assert_array_equal(g.crosslines, 2000 + np.arange(40))
    np.testing.assert_array_equal(g.samples, 4.0 * np.arange(64))
    assert g.sample_unit == "ms"
    # 25 m between inlines, 12.5 m between crosslines, on a grid rotated off north.
    step_il = np.hypot(np.diff(g.cdp_x, axis=0), np.diff(g.cdp_y, axis=0))
    step_xl = np.hypot(np.diff(g.cdp_x, axis=1), np.diff(g.cdp_y, axis=1))
    np.testing.assert_allclose(step_il, 25.0)
    np.testing.assert_allclose(step_xl, 12.5)
    assert np.ptp(g.cdp_y[:, 0]) > 0 and np.ptp(g.cdp_x[0, :]) > 0


def test_volumes_kinds_dtypes_and_provenance(tiny):
    assert set(tiny.volumes()) == {"truth", "amplitude", *ATTRIBUTE_NAMES}
    assert 8 <= len(ATTRIBUTE_NAMES) <= 10
    assert tiny.kind("truth") == "label" and tiny.array("truth").dtype == np.uint8
    for name in ("amplitude", *ATTRIBUTE_NAMES):
        assert tiny.kind(name) == "attribute"
        assert tiny.array(name).dtype == np.float32
        prov = tiny.provenance(name)
        assert prov["command"] == "facies synth"
        assert prov["parameters"]["seed"] == 0 and prov["parameters"]["shape"] == list(TINY)
    truth_attrs = tiny.array("truth").attrs
    assert truth_attrs["facies_names"] == list(FACIES_NAMES) == ["background", "salt", "mtd"]
    assert truth_attrs["facies_codes"]["0"] == "no data"


def test_every_facies_is_sizeable(tiny):
    counts = np.bincount(tiny.read("truth").ravel(), minlength=4)
    assert counts.sum() == np.prod(TINY)
    share = counts[1:] / counts[1:].sum()
    assert share[0] > 0.7  # background dominates, as in real surveys
    assert share[1] > 0.03 and share[2] > 0.02, share


def test_dead_traces_are_zero_and_masked(tiny):
    mask = tiny.geometry.trace_mask
    assert 0 < np.count_nonzero(~mask) < 0.1 * mask.size
    truth = tiny.read("truth")
    assert np.all(truth[~mask] == 0) and np.all(truth[mask] > 0)
    for name in ("amplitude", *ATTRIBUTE_NAMES):
        values = tiny.read(name)
        assert np.all(values[~mask] == 0), name
        assert np.all(np.isfinite(values)), name
        assert np.count_nonzero(values[mask]) > 0.99 * values[mask].size, name


def test_same_seed_any_chunks_is_bit_identical(tiny, tmp_path):
    # Chunks that divide nothing and are smaller than the attributes' halo: bricks must not matter.
    other = make_synthetic(tmp_path / "odd.zarr", size="tiny", seed=0, chunks=(7, 13, 20), progress=False, workers=2)
    assert other.chunks == (7, 13, 20)
    for name in tiny.volumes():
        np.testing.assert_array_equal(other.read(name), tiny.read(name), err_msg=name)
    assert polygons_path(other.path).read_text() == polygons_path(tiny.path).read_text()


def test_different_seeds_differ(tiny, tmp_path):
    other = make_synthetic(tmp_path / "seed1.zarr", size="tiny", seed=1, progress=False)
    a, b = tiny.read("amplitude"), other.read("amplitude")
    live = tiny.geometry.trace_mask & other.geometry.trace_mask
    assert np.mean(a[live] != b[live]) > 0.95
    assert not np.array_equal(tiny.read("noise_a"), other.read("noise_a"))


def test_explicit_shape(tmp_path):
    survey = make_synthetic(tmp_path / "s.zarr", shape=(20, 16, 32), seed=3, progress=False)
    assert survey.shape == (20, 16, 32)
    assert set(np.unique(survey.read("truth"))) == {0, 1, 2, 3}


@pytest.mark.parametrize("kwargs, message", [
    ({"size": "huge"}, "unknown size"),
    ({"shape": (0, 10, 10)}, "positive"),
    ({"shape": (-4, 10, 10)}, "positive"),
    ({"shape": (10, 10)}, "three values"),
    ({"shape": (4, 40, 64)}, "too small"),
    ({"shape": (48, 40, 64), "size": "tiny"}, "not both"),
    ({"size": "tiny", "seed": -1}, "non-negative"),
    ({"size": "tiny", "chunks": (0, 4, 4)}, "positive"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(FaciesError, match=message):
        make_synthetic(tmp_path / "bad.zarr", progress=False, **kwargs)


def test_existing_store_needs_overwrite(tmp_path):
    path = tmp_path / "again.zarr"
    make_synthetic(path, shape=(8, 8, 16), progress=False)
    with pytest.raises(FaciesError, match="already exists"):
        make_synthetic(path, shape=(8, 8, 16), progress=False)
    assert make_synthetic(path, shape=(8, 8, 16), overwrite=True, progress=False).shape == (8, 8, 16)


def test_polygons_path_is_beside_the_store():
    assert polygons_path("demo/survey.zarr") == Path("demo/survey.polygons.json")
    assert polygons_path(Path("/x/y/s")) == Path("/x/y/s.polygons.json")


def test_counter_based_draws_are_functions_of_the_counter():
    key = stream_key(5, 1)
    counters = np.arange(200_000, dtype=np.uint64)
    u = uniform(key, counters)
    np.testing.assert_array_equal(uniform(key, counters[1234:5678]), u[1234:5678])
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    z = normal(key, counters)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    assert not np.array_equal(uniform(stream_key(5, 2), counters[:100]), u[:100])
    assert not np.array_equal(uniform(stream_key(6, 1), counters[:100]), u[:100])


def test_cli_synth(tmp_path):
    store = tmp_path / "cli.zarr"
    result = CliRunner().invoke(app, ["synth", str(store), "--shape", "20", "16", "32", "--seed", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "cli.polygons.json").read_text())
    assert f"polygons: {tmp_path / 'cli.polygons.json'} ({len(doc['polygons'])} polygons)" in result.output
    assert "truth: facies codes 1..3 = background, salt, mtd (0 = dead trace)" in result.output
    assert Survey.open(store).shape == (20, 16, 32)
    assert doc["facies"] == list(FACIES_NAMES)


def test_on_polygons_reports_the_file_and_its_count(tmp_path):
    reported = []
    make_synthetic(tmp_path / "s.zarr", shape=(20, 16, 32), seed=2, progress=False,
                   on_polygons=lambda path, count: reported.append((path, count)))
    path = tmp_path / "s.polygons.json"
    assert reported == [(path, len(json.loads(path.read_text())["polygons"]))] and reported[0][1] > 0


def test_cli_rejects_shape_and_size(tmp_path):
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "x.zarr"), "--shape", "20", "16", "32",
                                         "--size", "tiny"])
    assert result.exit_code == 2
    assert "error: give either a shape" in result.output
    assert not (tmp_path / "x.zarr").exists()


def test_segy_dir_writes_every_volume(tmp_path):
    survey = make_synthetic(tmp_path / "s.zarr", shape=(10, 9, 16), seed=4, segy_dir=tmp_path / "sgy",
                            progress=False)
    files = sorted(p.stem for p in (tmp_path / "sgy").glob("*.sgy"))
    assert files == survey.volumes()
    with segyio.open(tmp_path / "sgy" / "amplitude.sgy", ignore_geometry=True) as f:
        traces = f.trace.raw[:]
        ils = f.attributes(segyio.TraceField.INLINE_3D)[:]
        xls = f.attributes(segyio.TraceField.CROSSLINE_3D)[:]
    amplitude = survey.read("amplitude")
    expected = amplitude[ils - 1000, xls - 2000]
    np.testing.assert_array_equal(traces, expected)


def test_segy_volumes_limits_the_export(tmp_path):
    make_synthetic(tmp_path / "s.zarr", shape=(10, 9, 16), seed=1, segy_dir=tmp_path / "sgy",
                   segy_volumes=["amplitude", "truth"], progress=False)
    assert sorted(p.name for p in (tmp_path / "sgy").iterdir()) == ["amplitude.sgy", "truth.sgy"]
    with pytest.raises(FaciesError, match="--segy-volumes names 'nope'"):
        make_synthetic(tmp_path / "t.zarr", shape=(10, 9, 16), segy_dir=tmp_path / "x", segy_volumes=["nope"])
