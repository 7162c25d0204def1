"""Spectral decomposition: Gabor magnitudes against a direct sum, peak frequency of a tone and of a Ricker
wavelet, bandwidth of a tone, NaN rules, bricks == whole volume."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from tests.trace_attribute_helpers import (DT_MS, assert_bricks_equal_whole, chain_of, fake_cupy,  # noqa: F401
                                           gpu_module, ricker, seismic_volume)

from facies.engine.attributes.spec import SurveySampling
from facies.engine.attributes.spectral import SPECS
from facies.engine.errors import FaciesError
from facies.kernels import spectral as sp

SAMPLING = SurveySampling(DT_MS, "ms")
SPEC = {spec.name: spec for spec in SPECS}
DT = DT_MS * 1e-3


def _direct(x, f, sigma):
    """|sum_k x[t+k] g(k) exp(-2 pi i f k)| / (sum g / 2) by brute force (window cut at 12 sigma)."""
    r = int(12 * sigma)
    k = np.arange(-r, r + 1)
    atom = np.exp(-k ** 2 / (2 * sigma ** 2)) * np.exp(-2j * np.pi * f * k)
    padded = np.pad(np.nan_to_num(x.astype(np.float64)), [(0, 0)] * (x.ndim - 1) + [(r, r)])
    n = x.shape[-1]
    s = sum(padded[..., r + kk:r + kk + n] * a for kk, a in zip(k, atom))
    return np.abs(s) / (0.5 * sigma * np.sqrt(2 * np.pi))


@pytest.mark.parametrize("sigma", [3.0, 7.5])
def test_magnitudes_equal_the_direct_gabor_sum(sigma):
    x = seismic_volume((2, 3, 70)).astype(np.float64)
    frequencies = [0.01, 0.12, 0.31, 0.5]
    got = sp.magnitudes(x, frequencies, sigma=sigma)
    scale = np.nanmax(np.abs(x))
    for f, values in zip(frequencies, got):
        want = _direct(x, f, sigma)
        want[np.isnan(x)] = np.nan
        np.testing.assert_allclose(values, want, rtol=0, atol=1e-9 * scale)


def test_a_cosine_has_its_amplitude_at_its_frequency():
    t = np.arange(400) * DT
    x = (2.5 * np.cos(2 * np.pi * 30.0 * t + 1.0)).astype(np.float32)[None, None]
    spec_30 = chain_of([SPEC["spec_30hz"]], x.shape, SAMPLING).run_whole({"a": x})["spec_30hz"]
    np.testing.assert_allclose(spec_30[0, 0, 80:320], 2.5, rtol=1e-4)
    spec_10 = chain_of([SPEC["spec_10hz"]], x.shape, SAMPLING).run_whole({"a": x})["spec_10hz"]
    # 20 Hz away, under the Gaussian's resolution (1 / (2 pi sigma dt) ~ 4 Hz): exp(-(20 / 4)^2 / 2).
    want = 2.5 * np.exp(-2 * (np.pi * 10.0 * 20.0 * DT) ** 2)
    np.testing.assert_allclose(spec_10[0, 0, 80:320], want, rtol=0.05)


@pytest.mark.parametrize("f_hz", [17.0, 31.3, 55.55])
def test_peak_frequency_and_bandwidth_of_a_tone(f_hz):
    t = np.arange(300) * DT
    x = np.cos(2 * np.pi * f_hz * t).astype(np.float32)[None, None]
    wanted = ("peak_frequency", "spectral_bandwidth")
    out = chain_of([SPEC[n] for n in wanted], x.shape, SAMPLING).run_whole({"a": x})
    inside = slice(70, 230)  # 6 sigma from the ends
    np.testing.assert_allclose(out["peak_frequency"][0, 0, inside], f_hz, atol=0.01)
    # A tone's Gabor power spectrum is a Gaussian of standard deviation 1 / (2 sqrt(2) pi sigma dt).
    np.testing.assert_allclose(out["spectral_bandwidth"][0, 0, inside], 1 / (2 * np.sqrt(2) * np.pi * 10 * DT),
                               rtol=0.01)


def test_peak_frequency_of_a_ricker_wavelet_at_its_centre():
    """The peak of the windowed wavelet's spectrum, found independently by a long zero-padded FFT."""
    n, centre, sigma = 256, 128, 10.0
    t = (np.arange(n) - centre) * DT
    x = ricker(35.0, t)[None]
    peak, _ = sp.peak_and_bandwidth(x, low=5 * DT, high=100 * DT, step=2 * DT, sigma=sigma)
    windowed = x[0] * np.exp(-((np.arange(n) - centre) ** 2) / (2 * sigma ** 2))
    spectrum = np.abs(np.fft.rfft(windowed, 1 << 16))
    want_hz = np.argmax(spectrum) / (1 << 16) / DT
    assert peak[0, centre] / DT == pytest.approx(want_hz, abs=0.5)
    assert 30 < want_hz < 40  # the Ricker's own peak, barely moved by the window


def test_nan_and_muted_samples():
    x = seismic_volume((4, 5, 64)).astype(np.float64)
    nan = np.isnan(x)
    assert nan[2, 2].all()
    peak, bandwidth = sp.peak_and_bandwidth(x, low=0.02, high=0.3, step=0.01, sigma=4)
    (magnitude,) = sp.magnitudes(x, [0.1], sigma=4)
    for values in (peak, bandwidth, magnitude):
        assert np.array_equal(np.isnan(values), nan)
    silent = np.zeros((1, 1, 64))
    peak, bandwidth = sp.peak_and_bandwidth(silent, low=0.02, high=0.3, step=0.01)
    assert np.all(peak == 0) and np.all(bandwidth == 0)


@pytest.mark.parametrize("bricks", [[(2, 2, 16), (4, 2, 32)], [(6, 6, 48), (7, 6, 96)]])
def test_bricks_equal_whole_volume_bit_for_bit(bricks):
    x = seismic_volume((7, 6, 96))
    chain = chain_of(SPECS, x.shape, SAMPLING)
    assert sum(type(op).__name__ == "SpectralPeak" for op in chain.operators) == 1  # shared by peak and bandwidth
    assert_bricks_equal_whole(chain, x, tuple(SPEC), chunks=(2, 2, 16), bricks=bricks)


def test_defaults_suit_2_to_8_ms_and_bad_values_are_one_line_errors():
    for dt_ms in (2.0, 4.0, 8.0):
        for spec in SPECS:
            spec.check(spec.defaults(), SurveySampling(dt_ms, "ms"))
    peak = SPEC["peak_frequency"]
    ops = peak.build("a", "p", peak.defaults(), SurveySampling(8.0, "ms"))
    assert ops[0].parameters()["max_frequency_hz"] == 62.5  # cut to Nyquist
    with pytest.raises(FaciesError, match=r"spec_40hz is above the survey's Nyquist frequency, 31.25 Hz"):
        SPEC["spec_40hz"].check(SPEC["spec_40hz"].defaults(), SurveySampling(16.0, "ms"))
    with pytest.raises(FaciesError, match=r"spec_20hz.sigma = 0.5 must be at least 1 sample"):
        SPEC["spec_20hz"].check({"sigma": 0.5}, SAMPLING)
    with pytest.raises(FaciesError, match=r"peak_frequency.min_frequency = 200.0 Hz must be above 0 and at most"):
        peak.check({**peak.defaults(), "min_frequency": 200.0}, SAMPLING)
    with pytest.raises(FaciesError, match=r"spectral_bandwidth: .* gives fewer than 3 frequencies"):
        SPEC["spectral_bandwidth"].check({**peak.defaults(), "frequency_step": 50.0}, SAMPLING)
    with pytest.raises(FaciesError, match=r"peak_frequency.max_frequency = 4.0 Hz must be above min_frequency"):
        peak.check({**peak.defaults(), "max_frequency": 4.0}, SAMPLING)
    with pytest.raises(FaciesError, match="needs a time axis; this survey is sampled in ft"):
        SPEC["spec_10hz"].check(SPEC["spec_10hz"].defaults(), SurveySampling(10.0, "ft"))
    with pytest.raises(ValueError, match="at least 3"):
        sp.peak_and_bandwidth(np.zeros((1, 8)), low=0.1, high=0.15, step=0.04)


def test_cuda_module_wiring_on_numpy(fake_cupy):  # noqa: F811 - the fixture
    from facies.kernels.spectral import _cuda, _numpy

    x = seismic_volume((3, 4, 50))
    for got, want in zip(_cuda.magnitudes(x, [0.05, 0.2], 5.0), _numpy.magnitudes(x, [0.05, 0.2], 5.0)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(_cuda.peak_and_bandwidth(x, 0.02, 0.01, 20, 5.0),
                         _numpy.peak_and_bandwidth(x, 0.02, 0.01, 20, 5.0)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.gpu
def test_cupy_equals_numpy():
    cp = gpu_module()
    x = seismic_volume((9, 7, 301))
    chain = chain_of(SPECS, x.shape, SAMPLING)
    cpu = chain.run_whole({"a": x}, wanted=tuple(SPEC))
    gpu = chain.run_whole({"a": cp.asarray(x)}, cp, wanted=tuple(SPEC))
    scale = np.nanmax(np.abs(x))
    for name in SPEC:
        got = cp.asnumpy(gpu[name])
        assert np.array_equal(np.isnan(got), np.isnan(cpu[name])), name
        if name.startswith("spec_"):
            np.testing.assert_allclose(got, cpu[name], rtol=0, atol=1e-5 * scale, err_msg=name)
    # The peak can jump between two near-equal maxima; nearly every voxel agrees to 0.1 Hz.
    close = np.isclose(cp.asnumpy(gpu["peak_frequency"]), cpu["peak_frequency"], atol=0.1, equal_nan=True)
    assert close.mean() > 0.99
    np.testing.assert_allclose(cp.asnumpy(gpu["spectral_bandwidth"]), cpu["spectral_bandwidth"], atol=0.05)
    half = chain.run(((0, 4), (0, 7), (0, 301)), {"a": (cp.asarray(x[:4]), ((0, 4), (0, 7), (0, 301)))}, cp,
                     tuple(SPEC))
    for name in SPEC:
        assert cp.array_equal(half[name], gpu[name][:4], equal_nan=True), name


def _with_infinities(x):
    """``x`` with its NaN samples replaced by +inf and -inf alternately (the same places, another non-finite)."""
    y = x.copy()
    where = np.flatnonzero(np.isnan(y))
    y.flat[where[0::2]] = np.inf
    y.flat[where[1::2]] = -np.inf
    return y


def test_infinite_samples_follow_the_nan_rule_without_warnings():
    x = seismic_volume((5, 4, 64))
    y = _with_infinities(x)
    assert np.isinf(y).sum() == np.isnan(x).sum() > 64
    chain = chain_of(SPECS, x.shape, SAMPLING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from products with inf
        want = chain.run_whole({"a": x}, wanted=tuple(SPEC))
        got = chain.run_whole({"a": y}, wanted=tuple(SPEC))
        everywhere = np.full((1, 2, 40), np.inf, np.float32)
        peak, bandwidth = sp.peak_and_bandwidth(everywhere, low=0.02, high=0.3, step=0.01, sigma=4)
        (magnitude,) = sp.magnitudes(everywhere, [0.1], sigma=4)
    for name in SPEC:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)  # NaN where NaN, same bits elsewhere
        assert np.array_equal(np.isnan(got[name]), np.isnan(x)), name
    assert np.all(np.isnan(peak)) and np.all(np.isnan(bandwidth)) and np.all(np.isnan(magnitude))


def test_unbounded_parameters_are_one_line_errors():
    short = SurveySampling(DT_MS, "ms", samples=64)
    for name in ("spec_10hz", "peak_frequency"):
        spec = SPEC[name]
        for sigma in (1e30, 1e6, 1001.0):
            message = re.escape(f"{name}.sigma = {sigma!r} must be at most 1000 samples")
            with pytest.raises(FaciesError, match=message) as info:
                spec.check({**spec.defaults(), "sigma": sigma}, SAMPLING)
            assert "\n" not in str(info.value)
        with pytest.raises(FaciesError, match=rf"{name}.sigma = 65.0 must be at most the trace length, 64 samples"):
            spec.check({**spec.defaults(), "sigma": 65.0}, short)
        spec.check({**spec.defaults(), "sigma": 64.0}, short)
        spec.check({**spec.defaults(), "sigma": 1000.0}, SAMPLING)
    peak = SPEC["spectral_bandwidth"]
    with pytest.raises(FaciesError, match=r"spectral_bandwidth: min_frequency 5 Hz to max_frequency 80 Hz by "
                                          r"frequency_step 1e-09 Hz gives 75000000001 frequencies, more than 1000"):
        peak.check({**peak.defaults(), "frequency_step": 1e-9}, SAMPLING)
    peak.check({**peak.defaults(), "frequency_step": 75.0 / 999}, SAMPLING)  # exactly 1000 frequencies
    with pytest.raises(ValueError, match="more than 1000"):
        sp.peak_and_bandwidth(np.zeros((1, 8)), low=0.01, high=0.3, step=1e-9)


def test_fast_length_is_the_next_7_smooth_number_and_does_not_loop():
    def smooth(m):
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        return m == 1

    expected = [m for m in range(1, 3000) if smooth(m)]
    for n in range(1, 2900):
        assert sp.fast_length(n) == next(m for m in expected if m >= n)
    huge = sp.fast_length(10 ** 30)  # the old m += 1 search would run for ages
    assert huge >= 10 ** 30 and smooth(huge) and huge < 10 ** 30 * 1.01
    assert sp.padded_length(64, 1e30) >= 6e30
