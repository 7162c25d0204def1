"""Coherence attributes: semblance and eigenstructure, plain and dip-steered (kernels/coherence, engine/attributes).

Checked against: a brute-force per-voxel reference (Python loops over each window, the definitions written
out, ``numpy.linalg.eigvalsh``); synthetic cubes (a flat reflector, a vertical fault, dipping reflectors
steered by the structure tensor's dips); the whole volume for bricks (bit for bit, through ``Chain.run``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from facies.engine.attributes.coherence import SPECS, TRACE_MASK, CoherenceOperator
from facies.engine.attributes.structure import StructureTensorOperator
from facies.engine.bricks.operator import Chain
from facies.engine.errors import FaciesError
from facies.kernels.coherence import coherence_halo, eigenstructure, semblance
from tests.test_attributes_structure import BY_NAME as STRUCTURE_SPECS
from tests.test_attributes_structure import SAMPLING, bricked, dipping_planes

BY_NAME = {spec.name: spec for spec in SPECS}
METHODS = {"semblance": semblance, "eigenstructure": eigenstructure}


def brute_force(x, window, method, dips=None, max_dip=2.0):
    """Coherence voxel by voxel from the definitions (float64), NaN where undefined."""
    r_il, r_xl, r_t = (n // 2 for n in window)
    n_il, n_xl, n_t = x.shape
    out = np.full(x.shape, np.nan)

    def at(i, j, k):
        inside = 0 <= i < n_il and 0 <= j < n_xl and 0 <= k < n_t
        return float(x[i, j, k]) if inside else math.nan

    def sample(i, j, k, shift):
        whole = math.floor(shift)
        f = shift - whole
        return at(i, j, k + whole) if f == 0 else (1 - f) * at(i, j, k + whole) + f * at(i, j, k + whole + 1)

    for i, j, k in np.ndindex(x.shape):
        if not np.isfinite(x[i, j, k]):
            continue
        p_il = p_xl = 0.0
        if dips is not None:
            p_il, p_xl = float(dips[0][i, j, k]), float(dips[1][i, j, k])
            if math.isnan(p_il) or math.isnan(p_xl):
                continue
            p_il, p_xl = min(max(p_il, -max_dip), max_dip), min(max(p_xl, -max_dip), max_dip)
        u = np.array([[sample(i + a, j + b, k + c, p_il * a + p_xl * b) for c in range(-r_t, r_t + 1)]
                      for a in range(-r_il, r_il + 1) for b in range(-r_xl, r_xl + 1)])
        valid = np.isfinite(u)
        u = np.where(valid, u, 0.0)
        if method == "semblance":
            num = np.sum(u.sum(axis=0) ** 2)
            den = np.sum(valid.sum(axis=0) * (u * u).sum(axis=0))
            value = num / den if den > 0 else math.nan
        else:
            cov = u @ u.T
            value = np.linalg.eigvalsh(cov)[-1] / np.trace(cov) if np.trace(cov) > 0 else math.nan
        out[i, j, k] = value
    return out


def random_case(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.02] = -np.inf
    dips = [rng.uniform(-2.5, 2.5, shape).astype(np.float32) for _ in range(2)]
    dips[0][rng.random(shape) < 0.05] = np.nan
    whole = rng.random(shape) < 0.2
    for d in dips:
        d[whole] = np.round(d[whole])
    return x, dips


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("window", [(3, 3, 5), (1, 3, 3), (5, 3, 1)])
@pytest.mark.parametrize("steered", [False, True])
def test_against_brute_force(method, window, steered):
    x, dips = random_case((5, 6, 14), seed=sum(window))
    dips = dips if steered else None
    got = METHODS[method](x, window, dips=dips, max_dip=1.5)
    want = brute_force(x, window, method, dips, max_dip=1.5)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-6, equal_nan=True)  # float32 output of float64 sums


def test_float64_volumes_stay_float64():
    x, dips = random_case((4, 4, 10), seed=9)
    got = semblance(x.astype(np.float64), (3, 3, 3), dips=dips, max_dip=1.5)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, brute_force(x, (3, 3, 3), "semblance", dips, 1.5), rtol=1e-13, equal_nan=True)


def reflectivity(n_t, seed):
    """A band-limited random trace (a reflectivity series convolved with a Ricker wavelet)."""
    rng = np.random.default_rng(seed)
    t = np.arange(-8, 9) / 3.0
    ricker = (1 - 2 * t**2) * np.exp(-t**2)
    return np.convolve(rng.normal(size=n_t + 16), ricker, mode="same")[8:8 + n_t]


@pytest.mark.parametrize("method", list(METHODS))
def test_flat_reflectors_give_one_and_a_fault_gives_low_coherence(method):
    trace = reflectivity(80, seed=1)
    flat = np.broadcast_to(trace, (8, 9, 80)).astype(np.float32)
    np.testing.assert_allclose(METHODS[method](flat), 1.0, rtol=1e-6)  # edges included: the windows are clipped
    faulted = flat.copy()
    faulted[4:] = np.roll(trace, 5)  # a vertical fault between inlines 3 and 4, 5 samples of throw
    got = METHODS[method](faulted)[:, :, 10:-10]
    assert got[3:5].mean() < 0.8 and got[3:5].min() < 0.6, (got[3:5].mean(), got[3:5].min())
    np.testing.assert_allclose(got[[0, 1, 2, 5, 6, 7]], 1.0, rtol=1e-6)


@pytest.mark.parametrize("method", list(METHODS))
def test_steering_by_the_structure_tensor_keeps_dipping_reflectors_coherent(method):
    x = dipping_planes((22, 22, 60), 1.1, -0.6, period=9.0)
    names = (method, f"steered_{method}")
    chain = Chain(operators_of(names), x.shape)
    got = chain.run_whole({"amp": x, TRACE_MASK: np.ones(x.shape[:2], bool)}, wanted=names)
    inner = (slice(10, -10), slice(10, -10), slice(15, -15))
    plain, steered = np.median(got[method][inner]), np.median(got[f"steered_{method}"][inner])
    assert plain < 0.6 and steered > 0.98, (plain, steered)


def test_dead_traces_are_left_out():
    trace = reflectivity(40, seed=2)
    x = np.broadcast_to(trace, (6, 6, 40)).astype(np.float32).copy()
    x[2, 3] = 0.0  # a dead trace, zero-filled as in SEG-Y
    mask = np.ones((6, 6), bool)
    mask[2, 3] = False
    for use_mask in (True, False):
        op = CoherenceOperator("amp", "coh", use_mask=use_mask)
        got = Chain([op], x.shape).run_whole({"amp": x, TRACE_MASK: mask})["coh"]
        if use_mask:
            assert np.isnan(got[2, 3]).all()
            np.testing.assert_allclose(got[mask], 1.0, rtol=1e-6)
        else:
            assert got[2, 2].mean() < 0.95


def operators_of(names, source="amp", params=None):
    """The operators of several attributes with shared intermediates kept once (as the workflow does)."""
    ops, seen = [], set()
    for name in names:
        spec = BY_NAME.get(name) or STRUCTURE_SPECS[name]
        for op in spec.build(source, name, {**spec.defaults(), **(params or {})}, SAMPLING):
            key = (type(op).__name__, tuple(o.name for o in op.outputs), repr(sorted(op.parameters().items())))
            if key not in seen:
                seen.add(key)
                ops.append(op)
    return ops


@pytest.mark.parametrize("chunks, brick", [((4, 5, 8), (4, 5, 8)), ((3, 3, 16), (6, 9, 32)), ((2, 3, 5), (2, 3, 5))])
def test_bricks_equal_the_whole_volume_bit_for_bit(chunks, brick):
    rng = np.random.default_rng(8)
    x = dipping_planes((12, 13, 34), 0.7, -0.4, seed=8)
    x[3, 2, 30] = np.nan  # NaN dips over the structure tensor's halo box around it, a gap in the windows
    mask = rng.random(x.shape[:2]) > 0.1  # dead traces: left out of the coherence windows
    names = ("semblance", "eigenstructure", "steered_semblance", "steered_eigenstructure", "inline_dip")
    chain = Chain(operators_of(names, params={"window": (3, 3, 7), "max_dip": 1.0, "sigma": 1.0}), x.shape)
    assert sum(isinstance(op, StructureTensorOperator) for op in chain.operators) == 1  # shared by three attributes
    volumes = {"amp": x, TRACE_MASK: mask}
    whole = chain.run_whole(volumes, wanted=names)
    got = bricked(chain, volumes, chunks, brick, names)
    for name in names:
        np.testing.assert_array_equal(got[name], whole[name], err_msg=name)
        assert np.isfinite(whole[name]).mean() > 0.5


@pytest.mark.parametrize("method", list(METHODS))
def test_pieces_with_the_declared_halo_equal_the_whole_volume(method):
    """Each piece read with exactly ``coherence_halo`` (NaN outside the volume) and only its interior computed
    equals the whole volume: the steered halo covers the largest clipped shift, whole shifts included."""
    x, dips = random_case((9, 8, 40), seed=12)
    for d in dips:
        d[::3, ::2, ::5] = 1.5  # shifts of exactly max_dip * (r_il + r_xl) = 3 samples: the halo's edge
    window, max_dip = (3, 3, 5), 1.5
    for steer in (None, dips):
        halo = coherence_halo(window, steered=steer is not None, max_dip=max_dip)
        whole = METHODS[method](x, window, dips=steer, max_dip=max_dip)
        got = np.full(x.shape, -7.0, np.float32)
        for start in np.ndindex(3, 2, 4):
            lo = [s * p for s, p in zip(start, (3, 4, 10))]
            hi = [min(a + p, n) for a, p, n in zip(lo, (3, 4, 10), x.shape)]
            read = [(a - h, b + h) for a, b, h in zip(lo, hi, halo)]
            src = tuple(slice(max(a, 0), min(b, n)) for (a, b), n in zip(read, x.shape))
            dst = tuple(slice(s.start - a, s.stop - a) for s, (a, _) in zip(src, read))
            pieces = []
            for array in (x, *(steer or ())):
                piece = np.full([b - a for a, b in read], np.nan, np.float32)
                piece[dst] = array[src]
                pieces.append(piece)
            interior = tuple((h, h + b - a) for h, a, b in zip(halo, lo, hi))
            got[tuple(slice(a, b) for a, b in zip(lo, hi))] = METHODS[method](
                pieces[0], window, dips=None if steer is None else tuple(pieces[1:]), max_dip=max_dip,
                out_region=interior)
        np.testing.assert_array_equal(got, whole)


def test_specs_halo_and_checks():
    assert set(BY_NAME) == {"semblance", "eigenstructure", "steered_semblance", "steered_eigenstructure"}
    for spec in SPECS:
        assert spec.family == "coherence" and spec.reference and spec.units == "1"
        spec.check(spec.defaults(), SAMPLING)
        ops = spec.build("amp", spec.name, spec.defaults(), SAMPLING)
        assert ops[-1].outputs[0].name == spec.name and ops[-1].boundary == "nan"
        steered = spec.name.startswith("steered")
        assert ops[-1].halo == ((1, 1, 4 + 4 + 1) if steered else (1, 1, 4))
        with pytest.raises(FaciesError, match="window"):
            spec.check({**spec.defaults(), "window": (3, 4, 9)}, SAMPLING)
        if steered:
            with pytest.raises(FaciesError, match="max_dip"):
                spec.check({**spec.defaults(), "max_dip": 0}, SAMPLING)
            with pytest.raises(FaciesError, match="sigma"):
                spec.check({**spec.defaults(), "sigma": -1.0}, SAMPLING)
    with pytest.raises(FaciesError, match="at most 49"):
        BY_NAME["eigenstructure"].check({"window": (7, 9, 5)}, SAMPLING)
    BY_NAME["semblance"].check({"window": (7, 9, 5)}, SAMPLING)
    with pytest.raises(FaciesError, match="one trace"):
        BY_NAME["semblance"].check({"window": (1, 1, 5)}, SAMPLING)
    assert coherence_halo((5, 3, 9), steered=True, max_dip=0.7) == (2, 1, 4 + math.ceil(0.7 * 3) + 1)


@pytest.mark.gpu
@pytest.mark.parametrize("method", list(METHODS))
def test_cupy_equals_numpy(method):
    import cupy as cp

    x, dips = random_case((9, 10, 60), seed=11)
    for steer in (None, dips):
        cpu = METHODS[method](x, (3, 3, 9), dips=steer, max_dip=1.5)
        gpu = METHODS[method](cp.asarray(x), (3, 3, 9), max_dip=1.5,
                              dips=None if steer is None else tuple(cp.asarray(d) for d in steer))
        gpu = cp.asnumpy(gpu)
        np.testing.assert_array_equal(np.isnan(gpu), np.isnan(cpu))
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6, equal_nan=True)  # FMA on the GPU
