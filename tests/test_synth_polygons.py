"""The synthetic survey's interpreter polygons lie strictly inside bodies of their facies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from facies.engine.synth import FACIES_NAMES, SIZES, make_synthetic, polygons_path
from facies.engine.synth.layout import make_geometry
from facies.engine.synth.model import EarthModel
from facies.engine.synth.polygons import make_polygons, star_polygon


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("poly") / "survey.zarr", size="tiny", progress=False)


def _slice_and_axes(truth, geometry, polygon):
    """Labels on the polygon's slice and the survey values of its (u, v) axes."""
    g = geometry
    if polygon["slice"] == "inline":
        return truth[g.inline_index(polygon["at"])], g.crosslines, g.samples
    if polygon["slice"] == "crossline":
        return truth[:, g.crossline_index(polygon["at"])], g.inlines, g.samples
    assert polygon["slice"] == "time"
    return truth[:, :, g.sample_index(polygon["at"])], g.inlines, g.crosslines


def _claimed(polygon, u_values, v_values):
    """Brute force: voxel centres inside the polygon or on its edge (tiny radius both ways)."""
    uu, vv = np.meshgrid(u_values.astype(np.float64), v_values.astype(np.float64), indexing="ij")
    points = np.column_stack([uu.ravel(), vv.ravel()])
    path = MplPath(np.asarray(polygon["vertices"], dtype=np.float64))
    inside = path.contains_points(points)
    inside |= path.contains_points(points, radius=1e-6) | path.contains_points(points, radius=-1e-6)
    return inside.reshape(uu.shape)


def _check_polygons(doc, truth, geometry):
    assert doc["facies"] == list(FACIES_NAMES)
    claimed_per_facies = dict.fromkeys(FACIES_NAMES, 0)
    kinds = {name: set() for name in FACIES_NAMES}
    for polygon in doc["polygons"]:
        labels, u_values, v_values = _slice_and_axes(truth, geometry, polygon)
        claimed = _claimed(polygon, u_values, v_values)
        code = doc["facies"].index(polygon["facies"]) + 1
        assert claimed.sum() >= 4, polygon
        assert np.all(labels[claimed] == code), (polygon["facies"], polygon["slice"], polygon["at"])
        claimed_per_facies[polygon["facies"]] += int(claimed.sum())
        kinds[polygon["facies"]].add(polygon["slice"])
    for code, name in enumerate(FACIES_NAMES, start=1):
        assert kinds[name] == {"inline", "crossline", "time"}, name
        # Most of every body stays outside the polygons (accuracy is measured there).
        assert claimed_per_facies[name] < 0.25 * np.count_nonzero(truth == code), name


def test_tiny_polygons_inside_bodies(tiny):
    doc = json.loads(polygons_path(tiny.path).read_text())
    _check_polygons(doc, tiny.read("truth"), tiny.geometry)


def test_polygon_units_and_slices_on_the_grid(tiny):
    doc = json.loads(polygons_path(tiny.path).read_text())
    g = tiny.geometry
    for polygon in doc["polygons"]:
        assert polygon.keys() == {"facies", "slice", "at", "vertices"}
        if polygon["slice"] == "time":
            assert isinstance(polygon["at"], float) and polygon["at"] in g.samples
        else:
            assert isinstance(polygon["at"], int)
        vertices = np.asarray(polygon["vertices"])
        assert vertices.ndim == 2 and vertices.shape[1] == 2 and len(vertices) >= 3


def test_small_polygons_inside_bodies():
    # The demo size, without writing volumes: labels come straight from the model the generator uses.
    shape = SIZES["small"]
    geometry = make_geometry(shape, 0)
    model = EarthModel.build(shape, 0, geometry.trace_mask)
    truth = model.labels(np.arange(shape[0])[:, None, None], np.arange(shape[1])[None, :, None],
                         np.arange(shape[2])[None, None, :])
    codes = len(FACIES_NAMES) + 1
    counts = [np.stack([(truth == c).sum(axis=tuple(a for a in range(3) if a != axis)) for c in range(codes)])
              for axis in range(3)]
    doc = json.loads(json.dumps(make_polygons(model, geometry, counts)))  # through JSON, as a reader sees it
    _check_polygons(doc, truth, geometry)


def test_star_polygon_on_a_concave_mask():
    # An L-shaped body: the polygon must not cut the inner corner.
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:35, 5:15] = True
    mask[25:35, 5:35] = True
    vertices = star_polygon(mask)
    assert vertices is not None
    u, v = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    path = MplPath(vertices)
    points = np.column_stack([u.ravel(), v.ravel()]).astype(float)
    claimed = (path.contains_points(points) | path.contains_points(points, radius=0.5)
               | path.contains_points(points, radius=-0.5)).reshape(mask.shape)
    assert claimed.sum() >= 4 and not np.any(claimed & ~mask)
    assert star_polygon(np.zeros((10, 10), dtype=bool)) is None


def test_training_extraction_reads_the_right_labels(tiny):
    """The training-data reader (issue 5) turns every polygon voxel into its facies code."""
    extract = pytest.importorskip("facies.engine.training.extract",
                                  reason="the training-data helper (facies.engine.training) is not installed")
    table = extract.extract_training(tiny, polygons_path(tiny.path), attributes=["envelope"], name="synth_check",
                                     overwrite=True)
    g = tiny.geometry
    i = np.searchsorted(g.inlines, table.inline)
    j = np.searchsorted(g.crosslines, table.crossline)
    k = np.searchsorted(g.samples, table.sample)
    truth = tiny.read("truth")
    np.testing.assert_array_equal(truth[i, j, k], table.codes)
    assert set(np.unique(table.codes)) == {1, 2, 3}
