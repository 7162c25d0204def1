"""Complex-trace attributes: against scipy.signal.hilbert and analytic cases, NaN rules, bricks == whole volume.

References are independent of the kernels: ``scipy.signal.hilbert`` in float64 on whole traces, closed
forms for a cosine and a Ricker wavelet, and a per-trace Python loop for the apparent polarity.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from tests.trace_attribute_helpers import (DT_MS, assert_bricks_equal_whole, chain_of, fake_cupy,  # noqa: F401
                                           gpu_module, ricker, seismic_volume)

from facies.engine.attributes.complex_trace import SPECS
from facies.engine.attributes.spec import SurveySampling
from facies.engine.errors import FaciesError
from facies.kernels import complex_trace as ct

SAMPLING = SurveySampling(DT_MS, "ms")
SPEC = {spec.name: spec for spec in SPECS}


def _reference(x):
    """Analytic signal of every trace by scipy.signal.hilbert in float64, NaN as 0."""
    return scipy.signal.hilbert(np.nan_to_num(x.astype(np.float64)), axis=-1)


@pytest.mark.parametrize("n", [64, 65, 250])
def test_quadrature_equals_scipy_hilbert_on_whole_traces(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, 4, n))
    want = _reference(x).imag
    np.testing.assert_allclose(ct.quadrature(x), want, rtol=0, atol=1e-12)
    got32 = ct.quadrature(x.astype(np.float32))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want, rtol=0, atol=2e-5 * np.abs(x).max())


def test_cosine_has_constant_envelope_frequency_and_a_steady_phase():
    n, cycles = 400, 23  # a whole number of cycles: the trace is periodic, so no end effects at all
    f0 = cycles / n
    t = np.arange(n)
    x = (1.5 * np.cos(2 * np.pi * f0 * t + 0.4))[None]
    h = ct.quadrature(x)
    np.testing.assert_allclose(ct.envelope(x, h), 1.5, atol=1e-12)
    np.testing.assert_allclose(ct.instantaneous_frequency(x, smoothing=1), f0, atol=1e-12)
    np.testing.assert_allclose(ct.instantaneous_frequency(x, smoothing=7), f0, atol=1e-12)
    phase = ct.instantaneous_phase(x, h)
    assert phase.min() > -180 and phase.max() <= 180
    want = np.degrees(np.angle(np.exp(1j * (2 * np.pi * f0 * t + 0.4))))
    np.testing.assert_allclose(phase[0], want, atol=1e-9)
    np.testing.assert_allclose(ct.cosine_of_phase(x, h)[0], np.cos(2 * np.pi * f0 * t + 0.4), atol=1e-12)


def test_non_periodic_cosine_frequency_is_right_in_the_interior():
    """A frequency off the FFT grid: the ends ring (as any FFT Hilbert transform does), the interior does not."""
    n, f_hz = 500, 37.3
    t = np.arange(n) * DT_MS * 1e-3
    x = np.cos(2 * np.pi * f_hz * t).astype(np.float32)[None, None]
    hz = ct.instantaneous_frequency(x, smoothing=5)[0, 0] / (DT_MS * 1e-3)
    np.testing.assert_allclose(hz[100:400], f_hz, rtol=2e-3)
    env = ct.envelope(x, ct.quadrature(x))[0, 0]
    np.testing.assert_allclose(env, np.abs(_reference(x)[0, 0]), atol=1e-5)  # the same ringing as SciPy's
    np.testing.assert_allclose(env[100:400], 1.0, atol=5e-3)  # it decays as 1 / distance from the ends


def test_ricker_envelope_peaks_at_its_centre_and_polarity_follows_its_sign():
    n, centre = 201, 100
    t = (np.arange(n) - centre) * DT_MS * 1e-3
    for sign in (1.0, -1.0):
        x = (2.0 * sign * ricker(25.0, t))[None]
        h = ct.quadrature(x)
        env = ct.envelope(x, h)[0]
        assert int(np.argmax(env)) == centre
        np.testing.assert_allclose(env[centre], np.abs(_reference(x)[0, centre]), rtol=1e-12)
        polarity = ct.apparent_polarity(x, h)[0]
        assert polarity[centre] == pytest.approx(sign * env[centre], rel=1e-12)
        # The whole main lobe, trough to trough of the envelope, carries the peak's value.
        lobe = slice(centre - 3, centre + 4)
        assert np.all(polarity[lobe] == polarity[centre])


def _polarity_loop(x):
    """Per-trace Python reference of the apparent polarity (the kernel's definition, written plainly)."""
    z = _reference(x)
    out = np.empty(x.shape)
    for idx in np.ndindex(x.shape[:-1]):
        env, trace = np.abs(z[idx]), np.nan_to_num(x[idx])
        starts = [0] + [t for t in range(1, len(env) - 1) if env[t] < env[t - 1] and env[t] <= env[t + 1]]
        for a, b in zip(starts, starts[1:] + [len(env)]):
            peak = env[a:b].max()
            at_peak = trace[a:b][env[a:b] == peak]
            out[idx][a:b] = peak if np.any(at_peak >= 0) else -peak
    out[np.isnan(x)] = np.nan
    return out


def test_apparent_polarity_equals_a_per_trace_loop():
    x = seismic_volume((3, 4, 96)).astype(np.float64)
    got = ct.apparent_polarity(x, ct.quadrature(x))
    want = _polarity_loop(x)
    # Lobe boundaries are decided by comparing envelope samples; in float64 the kernel's envelope and
    # SciPy's agree far closer than any two neighbours, so every boundary is the same.
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_nan_samples_count_as_zero_and_give_nan():
    x = seismic_volume((4, 5, 80)).astype(np.float64)  # trace (2, 2) dead, some NaN samples elsewhere
    h = ct.quadrature(x)
    nan = np.isnan(x)
    assert nan[2, 2].all() and nan.sum() > 80
    np.testing.assert_allclose(h, _reference(x).imag, atol=1e-12)  # every sample: NaN taken as 0
    for values in (ct.envelope(x, h), ct.instantaneous_phase(x, h), ct.cosine_of_phase(x, h),
                   ct.instantaneous_frequency(x), ct.apparent_polarity(x, h)):
        assert np.array_equal(np.isnan(values), nan)
    dead = np.full((1, 1, 32), np.nan)
    assert np.all(np.isnan(ct.instantaneous_frequency(dead))) and np.all(ct.quadrature(dead) == 0)


def test_muted_zone_has_zero_frequency_and_unit_cosine():
    x = np.zeros((1, 1, 64))
    h = ct.quadrature(x)
    assert np.all(ct.instantaneous_frequency(x) == 0) and np.all(ct.cosine_of_phase(x, h) == 1)
    assert np.all(ct.instantaneous_phase(-0.0 * np.ones_like(x), h) == 0)
    assert np.all(ct.apparent_polarity(x, h) == 0)


def test_sweetness_is_envelope_over_root_of_floored_frequency():
    x = seismic_volume((3, 3, 64)).astype(np.float64)
    h = ct.quadrature(x)
    f_hz = ct.instantaneous_frequency(x) / (DT_MS * 1e-3)
    got = ct.sweetness(x, h, f_hz, floor=5.0)
    want = np.abs(_reference(x)) / np.sqrt(np.maximum(f_hz, 5.0))
    live = ~np.isnan(x)
    np.testing.assert_allclose(got[live], want[live], rtol=1e-10)
    with pytest.raises(ValueError, match="floor must be > 0"):
        ct.sweetness(x, h, f_hz, floor=0.0)


def test_operators_give_hertz_and_the_kernel_values():
    x = seismic_volume((4, 5, 64))
    chain = chain_of(SPECS, x.shape, SAMPLING)
    whole = chain.run_whole({"a": x}, wanted=tuple(SPEC))
    h = ct.quadrature(x)
    np.testing.assert_array_equal(whole["envelope"], ct.envelope(x, h))
    np.testing.assert_array_equal(whole["instantaneous_frequency"],
                                  ct.instantaneous_frequency(x) * np.float32(1 / (DT_MS * 1e-3)))
    assert all(whole[name].dtype == np.float32 for name in SPEC)
    live = np.nanmedian(whole["instantaneous_frequency"])
    assert 15 < live < 60  # a 30 Hz Ricker's reflectivity


@pytest.mark.parametrize("bricks", [[(2, 2, 16), (2, 4, 32)], [(4, 2, 48), (7, 6, 96)]])
def test_bricks_equal_whole_volume_bit_for_bit(bricks):
    x = seismic_volume((7, 6, 96))
    chain = chain_of(SPECS, x.shape, SAMPLING)
    assert sum(type(op).__name__ == "Quadrature" for op in chain.operators) == 1  # shared, computed once
    assert_bricks_equal_whole(chain, x, tuple(SPEC), chunks=(2, 2, 16), bricks=bricks)


def test_envelope_alone_on_short_bricks_equals_whole_volume():
    """Without a whole-trace consumer downstream, the quadrature's own whole_traces is what keeps it exact."""
    x = seismic_volume((4, 4, 96))
    names = ("envelope", "instantaneous_phase")
    chain = chain_of([SPEC[n] for n in names], x.shape, SAMPLING)
    assert_bricks_equal_whole(chain, x, names, chunks=(2, 2, 16), bricks=[(2, 2, 16)])


def test_bad_parameters_are_one_line_errors_naming_them():
    with pytest.raises(FaciesError, match=r"instantaneous_frequency.smoothing = 4 must be an odd number"):
        SPEC["instantaneous_frequency"].check({"smoothing": 4}, SAMPLING)
    with pytest.raises(FaciesError, match=r"sweetness.frequency_floor = 0.0 Hz must be above 0"):
        SPEC["sweetness"].check({"smoothing": 5, "frequency_floor": 0.0}, SAMPLING)
    with pytest.raises(FaciesError, match="needs a time axis; this survey is sampled in m"):
        SPEC["instantaneous_frequency"].check({"smoothing": 5}, SurveySampling(5.0, "m"))
    with pytest.raises(ValueError, match="smoothing must be an odd number"):
        ct.instantaneous_frequency(np.zeros((1, 8)), smoothing=0)


def test_cuda_module_wiring_on_numpy(fake_cupy):  # noqa: F811 - the fixture
    from facies.kernels.complex_trace import _cuda, _numpy

    x = seismic_volume((3, 4, 50))
    h = _numpy.quadrature(x)
    np.testing.assert_array_equal(_cuda.quadrature(x), h)
    np.testing.assert_array_equal(_cuda.instantaneous_frequency(x, 5), _numpy.instantaneous_frequency(x, 5))
    np.testing.assert_array_equal(_cuda.apparent_polarity(x, h), _numpy.apparent_polarity(x, h))


@pytest.mark.gpu
def test_cupy_equals_numpy():
    cp = gpu_module()
    x = seismic_volume((9, 7, 301))
    xg = cp.asarray(x)
    h, hg = ct.quadrature(x), ct.quadrature(xg)
    scale = np.nanmax(np.abs(x))
    np.testing.assert_allclose(cp.asnumpy(hg), h, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(cp.asnumpy(ct.envelope(xg, hg)), ct.envelope(x, h), rtol=0, atol=1e-5 * scale)
    f, fg = ct.instantaneous_frequency(x), cp.asnumpy(ct.instantaneous_frequency(xg))
    assert np.array_equal(np.isnan(fg), np.isnan(f))
    np.testing.assert_allclose(fg, f, rtol=0, atol=1e-3)  # cycles per sample: 0.25 Hz at 4 ms
    # Polarity: lobes are decided by comparisons of envelope samples, which last-ulp differences can
    # move; nearly every sample agrees, and every one has the same magnitude as some NumPy lobe peak.
    p, pg = ct.apparent_polarity(x, h), cp.asnumpy(ct.apparent_polarity(xg, hg))
    same = np.isclose(pg, p, rtol=1e-4, atol=1e-6 * scale) | (np.isnan(p) & np.isnan(pg))
    assert same.mean() > 0.99
    # Bricks of whole traces on the GPU give the whole-volume bits (cuFFT per trace, batch-independent).
    chain = chain_of(SPECS, x.shape, SAMPLING)
    whole = chain.run_whole({"a": xg}, cp, wanted=tuple(SPEC))
    half = chain.run(((0, 4), (0, 7), (0, 301)), {"a": (xg[:4], ((0, 4), (0, 7), (0, 301)))}, cp, tuple(SPEC))
    for name in SPEC:
        assert cp.array_equal(half[name], whole[name][:4], equal_nan=True), name


def test_infinite_samples_follow_the_nan_rule_without_warnings():
    import warnings

    x = seismic_volume((5, 4, 64))
    y = x.copy()
    where = np.flatnonzero(np.isnan(y))
    y.flat[where[0::2]], y.flat[where[1::2]] = np.inf, -np.inf
    assert np.isinf(y).sum() == np.isnan(x).sum() > 64
    chain = chain_of(SPECS, x.shape, SAMPLING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from products with inf
        want = chain.run_whole({"a": x}, wanted=tuple(SPEC))
        got = chain.run_whole({"a": y}, wanted=tuple(SPEC))
        np.testing.assert_array_equal(ct.quadrature(y), ct.quadrature(x))
        everywhere = np.full((1, 2, 40), -np.inf, np.float32)
        h = ct.quadrature(everywhere)
        dead = [ct.instantaneous_frequency(everywhere), ct.envelope(everywhere, h), ct.apparent_polarity(everywhere, h),
                ct.instantaneous_phase(everywhere, h), ct.cosine_of_phase(everywhere, h)]
    for name in SPEC:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)  # NaN where NaN, same bits elsewhere
        assert np.array_equal(np.isnan(got[name]), np.isnan(x)), name
    assert np.all(h == 0) and all(np.all(np.isnan(values)) for values in dead)


def test_smoothing_is_bounded_by_the_trace_length():
    spec = SPEC["instantaneous_frequency"]
    short = SurveySampling(DT_MS, "ms", samples=64)
    with pytest.raises(FaciesError, match=r"instantaneous_frequency.smoothing = 9999 must be at most the trace "
                                          r"length, 64 samples") as info:
        spec.check({"smoothing": 9999}, short)
    assert "\n" not in str(info.value)
    spec.check({"smoothing": 63}, short)
    with pytest.raises(FaciesError, match=r"sweetness.smoothing = 65 must be at most the trace length, 64 samples"):
        SPEC["sweetness"].check({"smoothing": 65, "frequency_floor": 5.0}, short)
    with pytest.raises(FaciesError, match=r"instantaneous_frequency.smoothing = 1003 must be at most 1001 samples"):
        spec.check({"smoothing": 1003}, SAMPLING)  # trace length unknown: a fixed bound
    spec.check({"smoothing": 1001}, SAMPLING)
