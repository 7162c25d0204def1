"""The synthetic survey's interpreter polygons lie strictly inside bodies of their facies.

"Inside" is judged by the rule the training extraction applies (centres inside or on an edge,
:func:`facies.engine.training.rasterise.points_in_polygon`), in grid units as extraction uses them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from facies.engine.store import Survey
from facies.engine.synth import FACIES_NAMES, SIZES, polygons_path
from facies.engine.synth.layout import make_geometry
from facies.engine.synth.model import EarthModel
from facies.engine.synth.polygons import CHECK_TOLERANCE, claimed_centres, make_polygons, star_polygon
from facies.engine.training import extract_training
from facies.engine.training.polygons import grid_units
from facies.engine.training.rasterise import points_in_polygon
from tests.helpers import writable_copy


@pytest.fixture(scope="module")
def tiny(tiny_synthetic):
    """The session's tiny synthetic survey (seed 0), read-only."""
    return Survey.open(tiny_synthetic, mode="r")


def _slice_and_axes(truth, geometry, polygon):
    """Labels on the polygon's slice and the survey axes (0 inline, 1 crossline, 2 sample) of its (u, v)."""
    g = geometry
    if polygon["slice"] == "inline":
        return truth[g.inline_index(polygon["at"])], (1, 2)
    if polygon["slice"] == "crossline":
        return truth[:, g.crossline_index(polygon["at"])], (0, 2)
    assert polygon["slice"] == "time"
    return truth[:, :, g.sample_index(polygon["at"])], (0, 1)


def _claimed(polygon, geometry, uv_axes):
    """Brute force over every voxel centre of the slice: inside the polygon or on its edge, in grid units."""
    axes = (geometry.inlines, geometry.crosslines, geometry.samples)
    u, v = (grid_units(geometry, a, axes[a]) for a in uv_axes)
    vertices = np.asarray(polygon["vertices"], dtype=np.float64)
    vertices = np.column_stack([grid_units(geometry, a, vertices[:, c]) for c, a in enumerate(uv_axes)])
    uu, vv = np.meshgrid(u, v, indexing="ij")
    return points_in_polygon(uu, vv, vertices)


def _check_polygons(doc, truth, geometry):
    assert doc["facies"] == list(FACIES_NAMES)
    claimed_per_facies = dict.fromkeys(FACIES_NAMES, 0)
    kinds = {name: set() for name in FACIES_NAMES}
    for polygon in doc["polygons"]:
        labels, uv_axes = _slice_and_axes(truth, geometry, polygon)
        claimed = _claimed(polygon, geometry, uv_axes)
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
    u, v = np.meshgrid(np.arange(40.0), np.arange(40.0), indexing="ij")
    claimed = points_in_polygon(u, v, vertices, tolerance=CHECK_TOLERANCE)
    assert claimed.sum() >= 4 and not np.any(claimed & ~mask)
    # claimed_centres tests only the bounding box, with the same result as the brute force.
    iu, iv = claimed_centres(vertices, mask.shape, CHECK_TOLERANCE)
    np.testing.assert_array_equal(np.argwhere(claimed), np.column_stack([iu, iv]))
    assert star_polygon(np.zeros((10, 10), dtype=bool)) is None


def test_training_extraction_reads_the_right_labels(tiny_synthetic, tmp_path):
    """Extracting the polygons with every attribute gives each voxel its true facies code, and no warning."""
    survey = Survey.open(writable_copy(tiny_synthetic, tmp_path))
    polygons = polygons_path(survey.path)
    table = extract_training(survey, polygons, None, name="synth_check")
    assert table.facies_names == json.loads(polygons.read_text())["facies"] == list(FACIES_NAMES)
    g = survey.geometry
    i = np.searchsorted(g.inlines, table.inline)
    j = np.searchsorted(g.crosslines, table.crossline)
    k = np.searchsorted(g.samples, table.sample)
    truth = survey.read("truth")
    np.testing.assert_array_equal(truth[i, j, k], table.codes)
    assert set(np.unique(table.codes)) == {1, 2, 3}
    assert table.attribute_names == survey.attributes()
    assert not table.report["warnings"], table.report["warnings"]
