"""Geometry: validation, index look-ups and differences."""

import numpy as np
import pytest

from facies.engine import FaciesError, Geometry
from tests.helpers import tiny_geometry


def test_index_lookups_with_steps():
    g = tiny_geometry((6, 5, 12))
    assert g.inline_index(104) == 2
    assert g.crossline_index(11) == 4
    assert g.sample_index(16.0) == 2
    with pytest.raises(FaciesError, match="inline 103 is not in the survey.*step 2"):
        g.inline_index(103)
    with pytest.raises(FaciesError, match="time 10 is not"):
        g.sample_index(10.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"inlines": [3, 2, 1]}, "inline axis is not strictly increasing"),
    ({"crosslines": []}, "crossline axis is empty"),
    ({"sample_axis": "frequency"}, "sample axis"),
    ({"trace_mask": np.ones((2, 2), bool)}, "trace_mask has shape"),
])
def test_invalid_geometry(kwargs, message):
    base = dict(inlines=[1, 2, 3], crosslines=[5, 6], samples=[0.0, 4.0])
    base.update(kwargs)
    with pytest.raises(FaciesError, match=message):
        Geometry(**base)


def test_differences_name_the_axis():
    a = tiny_geometry((6, 5, 12))
    b = tiny_geometry((6, 5, 10))
    assert a.differences(a) == []
    (diff,) = a.differences(b)
    assert diff.startswith("samples: 12 values") and "10 values" in diff
    c = tiny_geometry((6, 5, 12), dead=((0, 0),))
    assert "trace_mask" in a.differences(c)[0]


def test_defaults_and_properties():
    g = Geometry(inlines=[10], crosslines=[1, 2], samples=[0.0])
    assert g.shape == (1, 2, 1) and g.trace_mask.all() and np.isnan(g.cdp_x).all()
    assert g.sample_interval == 0.0 and g.line_step(g.inlines) == 1


def test_vectorised_indices_match_the_scalar_lookups():
    g = tiny_geometry((6, 5, 12))
    np.testing.assert_array_equal(g.indices("inline", [104, 100, 110]), [2, 0, 5])
    np.testing.assert_array_equal(g.indices("sample", [8.0, 16.0001]), [0, 2])
    with pytest.raises(FaciesError, match="crossline 12 is not in the survey"):
        g.indices("crossline", [7, 12])
    with pytest.raises(FaciesError, match="inline 103 is not in the survey"):
        g.indices("inline", [100, 103])


def test_nan_is_not_on_the_grid():
    """A NaN position (a CSV cell "nan") is an error, not the last line or sample."""
    g = tiny_geometry((6, 5, 12))
    for axis in ("inline", "sample"):
        with pytest.raises(FaciesError, match="nan is not in the survey"):
            g.indices(axis, [100.0 if axis == "inline" else 8.0, float("nan")])
    with pytest.raises(FaciesError, match="time nan is not"):
        g.sample_index(float("nan"))
