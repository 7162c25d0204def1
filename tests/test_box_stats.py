"""Box sums, means and variances (kernels/box_stats.py) and the stencil operators that wrap them."""

import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from facies.engine.bricks.operator import Chain
from facies.engine.errors import FaciesError
from facies.engine.operators import LocalMean, LocalVariance
from facies.kernels.box_stats import box_mean, box_variance, sliding_sums
from facies.kernels.kuwahara import _numpy as kuwahara_numpy


def test_sliding_sums_are_the_box_sums_and_shared_with_kuwahara():
    a = np.random.default_rng(0).standard_normal((7, 6, 9))
    got = sliding_sums(a, (3, 1, 4))
    np.testing.assert_allclose(got, sliding_window_view(a, (3, 1, 4)).sum(axis=(-3, -2, -1)), rtol=1e-13)
    assert sliding_sums(a, (1, 1, 1)) is a
    assert kuwahara_numpy.sliding_sums is sliding_sums  # one implementation for both


def test_box_mean_and_variance_ignore_nans():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 7, 8))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:3, :3, :3] = np.nan  # an all-NaN box
    windows = sliding_window_view(x, (3, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ref = np.nanmean(windows, axis=(-3, -2, -1))
        var_ref = np.nanvar(windows, axis=(-3, -2, -1))
    assert np.isnan(mean_ref[0, 0, 0])
    np.testing.assert_allclose(box_mean(x, (1, 1, 1)), mean_ref, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(box_variance(x, (1, 1, 1)), var_ref, rtol=1e-10, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize("radius", [1.5, (1, 2), (1, -1, 0), True])
def test_a_radius_that_is_not_integers_is_refused(radius):
    with pytest.raises(FaciesError, match="radius"):
        LocalMean("a", "m", radius=radius)


def test_an_unknown_boundary_is_refused_by_the_chain():
    with pytest.raises(FaciesError, match="boundary 'wrap'"):
        Chain([LocalVariance("a", "v", boundary="wrap")], (4, 4, 4))
