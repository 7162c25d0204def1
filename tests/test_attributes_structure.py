"""Structure attributes: dips and chaos from the gradient structure tensor (kernels/structure, engine/attributes).

Checked against: the dips of synthetic dipping planes (both axes, both signs); ``numpy.linalg.eigh`` for the
closed-form eigen-analysis; non-separable 3D ``scipy.ndimage.correlate`` kernels for the tensor; the halo box
for the NaN rule; the whole volume for bricks (bit for bit, through ``Chain.run``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from facies.engine.attributes.spec import SurveySampling
from facies.engine.attributes.structure import SPECS, StructurePointOperator, StructureTensorOperator
from facies.engine.bricks.operator import Chain
from facies.engine.bricks.plan import BrickPlan, region_slices
from facies.engine.errors import FaciesError
from facies.kernels.structure import (COMPONENTS, derivative_weights, gaussian_weights, structure_attributes,
                                      structure_halo, structure_tensor, tensor_attributes)

SAMPLING = SurveySampling(4.0)
BY_NAME = {spec.name: spec for spec in SPECS}


def dipping_planes(shape, p_il, p_xl, period=14.0, seed=None):
    """Reflectors along ``t = t0 + p_il * il + p_xl * xl`` (a band-limited wavelet train), optional noise."""
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    tau = k - p_il * i - p_xl * j
    x = np.sin(2 * np.pi * tau / period) + 0.5 * np.sin(2 * np.pi * tau / (period * 0.6) + 1.0)
    if seed is not None:
        x += 0.05 * np.random.default_rng(seed).normal(size=shape)
    return x.astype(np.float32)


def bricked(chain: Chain, volumes: dict, chunks, brick, wanted) -> dict:
    """The chain computed brick by brick from slices of ``volumes`` (the scheduler, minus I/O)."""
    shape = chain.shape
    out = {name: np.full(shape, -7.0, np.float32) for name in wanted}
    for b in BrickPlan(shape, chunks, brick):
        plan = chain.plan_regions(b.region, wanted)
        sources = {name: (volumes[name][region_slices(r)[:volumes[name].ndim]], r[:volumes[name].ndim])
                   for name, r in plan.reads.items()}
        result = chain.run(b.region, sources, np, wanted, plan)
        for name in wanted:
            out[name][region_slices(b.region)] = result[name]
    return out


def operators_of(names, source="amp", params=None):
    """The operators of several attributes with the shared intermediate kept once (as the workflow does)."""
    ops, seen = [], set()
    for name in names:
        spec = BY_NAME[name]
        for op in spec.build(source, name, {**spec.defaults(), **(params or {})}, SAMPLING):
            key = (type(op).__name__, tuple(o.name for o in op.outputs), repr(sorted(op.parameters().items())))
            if key not in seen:
                seen.add(key)
                ops.append(op)
    return ops


@pytest.mark.parametrize("p_il, p_xl", [(0.6, 0.0), (-0.6, 0.0), (0.0, 0.45), (0.0, -0.45), (0.35, -0.25),
                                        (-1.2, 0.8)])
def test_dips_of_dipping_planes(p_il, p_xl):
    x = dipping_planes((24, 26, 64), p_il, p_xl, seed=1)
    s = structure_attributes(x)
    inner = (slice(9, -9), slice(9, -9), slice(9, -9))
    for got, want in ((s.inline_dip[inner], p_il), (s.crossline_dip[inner], p_xl)):
        assert abs(np.median(got) - want) < 0.02 * max(1.0, abs(want)), (np.median(got), want)
        assert np.percentile(np.abs(got - want), 90) < 0.05
    assert np.median(s.chaos[inner]) < -0.9  # planar


def test_dip_magnitude_azimuth_and_chaos_through_the_operators():
    x = dipping_planes((20, 20, 48), 0.3, -0.4)
    names = ("inline_dip", "crossline_dip", "dip_magnitude", "dip_azimuth", "chaos")
    chain = Chain(operators_of(names), x.shape)
    assert sum(isinstance(op, StructureTensorOperator) for op in chain.operators) == 1  # shared
    got = chain.run_whole({"amp": x}, wanted=names)
    inner = (slice(9, -9), slice(9, -9), slice(9, -9))
    np.testing.assert_allclose(np.median(got["dip_magnitude"][inner]), 0.5, rtol=0.02)
    np.testing.assert_allclose(np.median(got["dip_azimuth"][inner]), np.degrees(np.arctan2(-0.4, 0.3)), atol=1.0)
    np.testing.assert_array_equal(got["dip_magnitude"], np.hypot(got["inline_dip"], got["crossline_dip"]))
    assert np.median(got["chaos"][inner]) < -0.9
    assert all(v.dtype == np.float32 and v.shape == x.shape for v in got.values())


def test_chaos_is_high_in_noise_and_low_on_planes():
    noise = np.random.default_rng(2).normal(size=(20, 20, 40)).astype(np.float32)
    planes = dipping_planes((20, 20, 40), 0.2, 0.1)
    inner = (slice(9, -9), slice(9, -9), slice(9, -9))
    assert np.median(structure_attributes(noise).chaos[inner]) > -0.3
    assert np.median(structure_attributes(planes).chaos[inner]) < -0.95


def test_closed_form_eigen_equals_numpy_eigh():
    rng = np.random.default_rng(4)
    n = 4000
    g = rng.normal(size=(n, 6, 3)) * rng.uniform(0.01, 1.0, (n, 6, 1)) ** 2
    g[:, :, 2] += rng.uniform(-3.0, 3.0, (n, 1))
    a = np.einsum("nki,nkj->nij", g, g)
    t = np.stack([a[:, i, j] for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))]).astype(np.float32)
    got = tensor_attributes(t)
    w, v = np.linalg.eigh(np.stack([[t[0], t[1], t[2]], [t[1], t[3], t[4]], [t[2], t[4], t[5]]]).transpose(2, 0, 1)
                         .astype(np.float64))
    normal = v[:, :, 2]
    np.testing.assert_allclose(got.inline_dip, -normal[:, 0] / normal[:, 2], rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(got.crossline_dip, -normal[:, 1] / normal[:, 2], rtol=2e-5, atol=1e-5)
    w = np.maximum(w, 0.0)
    np.testing.assert_allclose(got.chaos, 2 * w[:, 1] / (w[:, 2] + w[:, 0]) - 1, atol=1e-6)


def test_degenerate_tensors():
    t = np.array([[0, 2, 0, 1e30], [0, 0, 0, 0], [0, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 2, 4, 0]],
                 np.float32)
    t[0, 3] = np.inf
    got = tensor_attributes(t)
    assert np.isnan(got.inline_dip[[0, 1, 3]]).all() and np.isnan(got.chaos[[0, 3]]).all()  # zero, isotropic, inf
    assert got.chaos[1] == 0 and got.inline_dip[2] == 0 and got.crossline_dip[2] == 0 and got.chaos[2] == -1


def test_tensor_equals_non_separable_3d_correlation():
    """The separable valid passes == 3D kernels (outer products of the 1D weights) applied directly."""
    x = np.random.default_rng(5).normal(size=(18, 19, 20)).astype(np.float32)
    ds, s = 0.8, 1.1
    h = structure_halo(ds, s)
    g, d, w = gaussian_weights(ds), derivative_weights(ds), gaussian_weights(s)
    kernels = [np.einsum("i,j,k->ijk", d, g, g), np.einsum("i,j,k->ijk", g, d, g), np.einsum("i,j,k->ijk", g, g, d)]
    grads = [ndi.correlate(x.astype(np.float64), k, mode="constant") for k in kernels]
    smooth = np.einsum("i,j,k->ijk", w, w, w)
    inner = tuple(slice(h, n - h) for n in x.shape)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    want = np.stack([ndi.correlate(grads[i] * grads[j], smooth, mode="constant")[inner] for i, j in pairs])
    got = structure_tensor(x, derivative_sigma=ds, sigma=s, out_region=inner)
    assert got.shape == (len(COMPONENTS), *want.shape[1:]) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6 * np.abs(want).max())


def test_edges_reflect_and_a_region_equals_the_whole_volume():
    x = dipping_planes((12, 13, 30), 0.3, 0.2, seed=3)
    h = structure_halo(1.0, 2.0)
    whole = structure_tensor(x)
    padded = structure_tensor(np.pad(x, h, mode="symmetric"), out_region=tuple((h, h + n) for n in x.shape))
    np.testing.assert_array_equal(whole, padded)
    box = ((2, 9), (0, 13), (20, 30))
    cut = (slice(None), *(slice(a, b) for a, b in box))
    np.testing.assert_array_equal(structure_tensor(x, out_region=box), whole[cut])


def test_a_nan_spreads_over_the_halo_box_exactly():
    x = dipping_planes((30, 30, 30), 0.2, 0.1)
    x[12, 15, 17] = np.nan
    x[0, 0, 0] = np.inf
    h = structure_halo(1.0, 2.0)
    t = structure_tensor(x)
    want = np.zeros(x.shape, bool)
    want[12 - h:12 + h + 1, 15 - h:15 + h + 1, 17 - h:17 + h + 1] = True
    want[:h + 1, :h + 1, :h + 1] = True
    np.testing.assert_array_equal(np.isnan(t).all(axis=0), want)
    np.testing.assert_array_equal(np.isnan(t).any(axis=0), want)


@pytest.mark.parametrize("chunks, brick", [((5, 6, 8), (5, 6, 8)), ((4, 4, 16), (8, 12, 32)), ((3, 3, 5), (3, 3, 5))])
def test_bricks_equal_the_whole_volume_bit_for_bit(chunks, brick):
    x = dipping_planes((16, 17, 33), 0.4, -0.3, seed=6)
    x[5, 6, 7] = np.nan
    names = ("inline_dip", "crossline_dip", "dip_magnitude", "dip_azimuth", "chaos")
    chain = Chain(operators_of(names, params={"sigma": 1.5}), x.shape)
    whole = chain.run_whole({"amp": x}, wanted=names)
    got = bricked(chain, {"amp": x}, chunks, brick, names)
    for name in names:
        np.testing.assert_array_equal(got[name], whole[name], err_msg=name)
    assert np.isnan(whole["chaos"]).any() and np.isfinite(whole["chaos"]).mean() > 0.3


def test_specs_and_checks():
    assert set(BY_NAME) == {"inline_dip", "crossline_dip", "dip_magnitude", "dip_azimuth", "chaos"}
    for spec in SPECS:
        assert spec.family == "structure" and spec.reference and spec.units
        ops = spec.build("amp", spec.name, spec.defaults(), SAMPLING)
        assert isinstance(ops[0], StructureTensorOperator) and isinstance(ops[-1], StructurePointOperator)
        assert ops[-1].outputs[0].name == spec.name and ops[0].halo == (9, 9, 9) and ops[0].boundary == "reflect"
        spec.check(spec.defaults(), SAMPLING)
        for bad in ({"sigma": 0.0}, {"derivative_sigma": "1"}, {"sigma": 100.0}):
            name = next(iter(bad))
            with pytest.raises(FaciesError, match=name):
                spec.check({**spec.defaults(), **bad}, SAMPLING)
    a = BY_NAME["inline_dip"].build("amp", "a", BY_NAME["inline_dip"].defaults(), SAMPLING)[0]
    b = BY_NAME["chaos"].build("amp", "b", BY_NAME["chaos"].defaults(), SAMPLING)[0]
    assert a.outputs == b.outputs and a.parameters() == b.parameters()  # the workflow keeps one


@pytest.mark.gpu
def test_cupy_equals_numpy():
    import cupy as cp

    x = dipping_planes((20, 21, 50), 0.5, -0.2, seed=7)
    x[4, 5, 6] = np.nan
    cpu = structure_attributes(x)
    gpu = structure_attributes(cp.asarray(x))
    for c, g in zip(cpu, gpu):
        g = cp.asnumpy(g)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(c))
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-4, equal_nan=True)
