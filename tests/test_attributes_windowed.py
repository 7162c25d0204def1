"""Windowed amplitude (RMS, energy): against a direct NaN-aware computation, NaN rules, bricks == whole volume."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from tests.trace_attribute_helpers import DT_MS, assert_bricks_equal_whole, chain_of, gpu_module, seismic_volume

from facies.engine.attributes.spec import SurveySampling
from facies.engine.attributes.windowed import SPECS, WindowedAmplitude
from facies.engine.bricks.operator import Chain
from facies.engine.errors import FaciesError

SAMPLING = SurveySampling(DT_MS, "ms")
SPEC = {spec.name: spec for spec in SPECS}


def _direct_mean_square(x, window):
    """Mean of x^2 over the valid voxels of each window, the survey padded with NaN (clipped windows)."""
    half = [w // 2 for w in window]
    padded = np.pad(x.astype(np.float64), [(h, h) for h in half], constant_values=np.nan)
    views = sliding_window_view(padded, tuple(window))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        mean_square = np.nanmean(views ** 2, axis=(-3, -2, -1))
    mean_square[np.isnan(x)] = np.nan
    return mean_square


@pytest.mark.parametrize("window", [(1, 1, 9), (3, 3, 5), (1, 5, 1)])
def test_rms_and_energy_equal_a_direct_computation(window):
    x = seismic_volume((6, 7, 40))
    chain = Chain([WindowedAmplitude("a", "rms", window=window, statistic="rms"),
                   WindowedAmplitude("a", "energy", window=window, statistic="energy")], x.shape)
    got = chain.run_whole({"a": x})
    want = _direct_mean_square(x, window)
    np.testing.assert_allclose(got["energy"], want, rtol=1e-6, atol=0)
    np.testing.assert_allclose(got["rms"], np.sqrt(want), rtol=1e-6, atol=0)
    assert got["rms"].dtype == np.float32 and np.array_equal(np.isnan(got["rms"]), np.isnan(x))


def test_rms_of_a_cosine_is_amplitude_over_root_two():
    t = np.arange(200)
    x = (3.0 * np.cos(2 * np.pi * t / 8)).astype(np.float32)[None, None]  # 8 samples per period
    rms = Chain([WindowedAmplitude("a", "rms", window=(1, 1, 9), statistic="rms")], x.shape).run_whole({"a": x})["rms"]
    # 9 samples hold one period plus one sample, so the mean square wobbles around A^2/2 by <= A^2/18.
    np.testing.assert_allclose(rms[0, 0, 4:-4], 3.0 / np.sqrt(2), rtol=0.06)
    x8 = x[..., :196]
    rms = Chain([WindowedAmplitude("a", "rms", window=(1, 1, 1), statistic="rms")], x8.shape).run_whole({"a": x8})
    np.testing.assert_allclose(rms["rms"], np.abs(x8), rtol=1e-7)  # a one-voxel window is |x|


@pytest.mark.parametrize("bricks", [[(2, 2, 8), (4, 2, 16)], [(6, 4, 24), (8, 8, 40)]])
def test_bricks_equal_whole_volume_bit_for_bit(bricks):
    x = seismic_volume((8, 7, 40))
    chain = chain_of(SPECS, x.shape, SAMPLING, params={"rms_amplitude": {"window": (3, 5, 9)}})
    assert chain.total_halo() == (1, 2, 4)
    assert_bricks_equal_whole(chain, x, tuple(SPEC), chunks=(2, 2, 8), bricks=bricks)


def test_bad_windows_are_one_line_errors_naming_them():
    with pytest.raises(FaciesError, match=r"rms_amplitude.window = 4 must be an odd number of samples"):
        SPEC["rms_amplitude"].check({"window": (1, 1, 4)}, SAMPLING)
    with pytest.raises(FaciesError, match=r"energy.window = 0 must be an odd number of traces"):
        SPEC["energy"].check({"window": (0, 1, 9)}, SAMPLING)
    with pytest.raises(FaciesError, match=r"energy.window = \(1, 9\) must be 3 odd lengths"):
        SPEC["energy"].check({"window": (1, 9)}, SAMPLING)
    SPEC["rms_amplitude"].check({"window": (1, 1, 9)}, SurveySampling(5.0, "m"))  # depth data are fine


@pytest.mark.gpu
def test_cupy_equals_numpy():
    cp = gpu_module()
    x = seismic_volume((9, 8, 64))
    chain = chain_of(SPECS, x.shape, SAMPLING, params={"energy": {"window": (3, 3, 9)}})
    cpu = chain.run_whole({"a": x})
    gpu = chain.run_whole({"a": cp.asarray(x)}, cp)
    for name in SPEC:
        np.testing.assert_allclose(cp.asnumpy(gpu[name]), cpu[name], rtol=1e-6)
