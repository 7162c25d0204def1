"""The fused GTM projection (:func:`facies.kernels.gtm.project`): the NumPy backend against the textbook formula,
its properties and its argument checks; the CUDA kernel against the NumPy backend on a GPU (marked ``gpu``).

The reference (:func:`textbook`) forms the full (n, K) responsibilities in float64 with ``scipy.special.logsumexp``
from the squared distances themselves. The NumPy backend takes the log-density differences in float64 and the
exponentials and K-term sums in float32 (kernels/gtm/_numpy.py), so it agrees to :data:`ATOL` (1e-5, absolute, on
probabilities in [0, 1] and on ``u`` in [-1, 1]); a facies code may differ only where the two most probable
facies are within that tolerance. The CUDA kernel is all float32 (kernels/gtm/gtm.cu): :data:`GPU_ATOL`.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from facies.kernels.gtm import _numpy as gtm_numpy
from facies.kernels.gtm import project

#: NumPy backend against the float64 textbook formula (float32 exponentials and sums).
ATOL = 1e-5
#: CUDA kernel (float32 throughout) against the NumPy backend, for beta <= 100 (gtm.cu's header says why).
GPU_ATOL = 1e-4


def random_case(n, d, c, k, *, sqrt_weights, beta=8.0, seed=0, specials=True):
    """A model and voxels near its nodes, with dead voxels, NaN and infinite attributes when ``specials``.

    Returns the positional arguments of :func:`project` before the outputs, as a dict.
    """
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 3, d)
    scale = rng.uniform(0.5, 2.0, d)
    side = int(np.ceil(np.sqrt(k)))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side)), -1).reshape(-1, 2)[:k]
    # a smooth sheet with neighbouring nodes one noise deviation apart: responsibilities spread over several nodes
    sheet = rng.normal(size=(2, d))
    sheet /= np.linalg.norm(sheet, axis=1, keepdims=True)
    nodes = (grid @ sheet * (side - 1) / 2 + rng.normal(0, 0.3, (k, d))) / np.sqrt(beta)
    pick = rng.integers(0, k, n)
    t = nodes[pick] + rng.normal(0, 1.5 / np.sqrt(beta), (n, d))
    x = (mean + scale * t).astype(np.float32)
    live = rng.random(n) > 0.05
    if specials and n > 20:
        x[3, 0] = np.nan
        x[7, d - 1] = np.inf
        x[11, :] = -np.inf
        live[13] = False
        x[13, 0] = np.nan  # dead and non-finite
    pdfs = rng.gamma(0.3, size=(c, k))
    pdfs /= pdfs.sum(axis=1, keepdims=True)
    if sqrt_weights:
        weights = np.sqrt(pdfs)
    else:
        weights = pdfs / np.maximum(pdfs.sum(axis=0), 1e-300)
    codes = rng.permutation(np.arange(1, 256))[:c].astype(np.uint8)
    return {"x": x, "live": live, "mean": mean, "scale": scale, "nodes": nodes, "beta": beta, "latent": grid,
            "weights": weights, "sqrt_weights": sqrt_weights, "codes": codes}


def outputs(n, c, xp=np):
    return {"out_prob": xp.full((c, n), 7, xp.float32), "out_code": xp.full(n, 7, xp.uint8),
            "out_conf": xp.full(n, 7, xp.float32), "out_u": xp.full((2, n), 7, xp.float32)}


def run(case, fn=project):
    n, c = len(case["x"]), len(case["codes"])
    out = outputs(n, c)
    fn(**case, **out)
    return out


def textbook(case):
    """Probabilities (n, C) and ``u`` (n, 2) of the live, finite voxels (others NaN), in float64, from (n, K) R."""
    x = case["x"].astype(np.float64)
    ok = case["live"] & np.isfinite(x).all(axis=1)
    t = (x - case["mean"]) / case["scale"]
    t[~ok] = 0
    d2 = ((t[:, None, :] - case["nodes"][None]) ** 2).sum(axis=-1)
    log_r = -case["beta"] / 2 * d2
    log_r -= logsumexp(log_r, axis=1, keepdims=True)
    r = np.exp(log_r)
    scores = (np.sqrt(r) if case["sqrt_weights"] else r) @ case["weights"].T
    prob = scores / scores.sum(axis=1, keepdims=True)
    u = r @ case["latent"]
    prob[~ok], u[~ok] = np.nan, np.nan
    return prob, u


def assert_codes_agree(out, prob_ref, codes, atol):
    """Codes equal ``codes[argmax]`` of the reference, except where its top two are within ``atol``."""
    ok = np.isfinite(prob_ref).all(axis=1)
    want = np.where(ok, codes[np.nanargmax(np.where(ok[:, None], prob_ref, 0), axis=1)], 0)
    top2 = np.sort(np.where(ok[:, None], prob_ref, 0), axis=1)[:, -2:] if prob_ref.shape[1] > 1 else None
    near_tie = (top2[:, 1] - top2[:, 0] <= atol) if top2 is not None else np.zeros(len(ok), bool)
    differ = out["out_code"] != want
    assert not (differ & ~near_tie).any(), f"codes differ at {np.flatnonzero(differ & ~near_tie)[:10]}"


def assert_dead(out, dead):
    assert (out["out_code"][dead] == 0).all() and (out["out_conf"][dead] == 0).all()
    assert (out["out_prob"][:, dead] == 0).all() and np.isnan(out["out_u"][:, dead]).all()


@pytest.mark.parametrize("sqrt_weights", [False, True], ids=["gtc", "bhattacharyya"])
@pytest.mark.parametrize(("d", "c", "k"), [(1, 1, 7), (1, 3, 50), (2, 2, 64), (3, 8, 400), (5, 4, 121),
                                           (9, 8, 400), (9, 5, 900), (7, 6, 1)])
def test_equals_the_textbook_formula(d, c, k, sqrt_weights):
    n = 1333  # several tiles at K = 400, not a multiple of the tile
    case = random_case(n, d, c, k, sqrt_weights=sqrt_weights, seed=d * 100 + c * 10 + k)
    out = run(case)
    prob_ref, u_ref = textbook(case)
    ok = np.isfinite(u_ref[:, 0])
    assert 0 < ok.sum() < n
    np.testing.assert_allclose(out["out_prob"].T[ok], prob_ref[ok], rtol=0, atol=ATOL)
    np.testing.assert_allclose(out["out_u"].T[ok], u_ref[ok], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(out["out_conf"][ok], out["out_prob"][:, ok].max(axis=0))
    assert_codes_agree(out, prob_ref, case["codes"], ATOL)
    assert_dead(out, ~ok)


@pytest.mark.parametrize("sqrt_weights", [False, True], ids=["gtc", "bhattacharyya"])
def test_properties(sqrt_weights):
    case = random_case(5000, 4, 6, 225, sqrt_weights=sqrt_weights, beta=30.0, seed=5)
    out = run(case)
    ok = case["live"] & np.isfinite(case["x"]).all(axis=1)
    prob = out["out_prob"][:, ok]
    np.testing.assert_allclose(prob.sum(axis=0), 1, rtol=0, atol=1e-6)
    assert (prob >= 0).all()
    best = prob.argmax(axis=0)
    np.testing.assert_array_equal(out["out_conf"][ok], prob[best, np.arange(ok.sum())])
    np.testing.assert_array_equal(out["out_code"][ok], case["codes"][best])
    u = out["out_u"][:, ok]
    lo, hi = case["latent"].min(axis=0), case["latent"].max(axis=0)  # u is a convex combination of the nodes'
    assert ((u >= lo[:, None] - 1e-6) & (u <= hi[:, None] + 1e-6)).all()
    assert (np.abs(u) <= 1 + 1e-6).all()
    assert_dead(out, ~ok)


@pytest.mark.parametrize("sqrt_weights", [False, True], ids=["gtc", "bhattacharyya"])
def test_ties_take_the_first_facies(sqrt_weights):
    """Facies 1 and 3 have the same weights: where they lead, the code is facies 1's (first on ties)."""
    case = random_case(2000, 3, 4, 100, sqrt_weights=sqrt_weights, seed=8)
    case["weights"][3] = case["weights"][1]
    case["weights"][2] *= 0.01
    out = run(case)
    ok = case["live"] & np.isfinite(case["x"]).all(axis=1)
    np.testing.assert_array_equal(out["out_prob"][1, ok], out["out_prob"][3, ok])
    lead = ok & (out["out_prob"][1] >= out["out_prob"].max(axis=0))
    assert lead.sum() > 100
    assert (out["out_code"][lead] == case["codes"][1]).all()
    # a voxel whose every score ties: all weights equal
    flat = dict(case, weights=np.ones_like(case["weights"]))
    out = run(flat)
    assert (out["out_code"][ok] == case["codes"][0]).all()
    np.testing.assert_allclose(out["out_prob"][:, ok], 0.25, rtol=1e-6)


@pytest.mark.parametrize(("d", "c", "k", "sqrt_weights"), [(9, 8, 400, True), (4, 3, 400, False), (2, 5, 30, True)])
def test_chunks_equal_the_whole(d, c, k, sqrt_weights):
    """Any split of the voxels (written through views of the outputs) gives the whole call's values bit for bit."""
    case = random_case(3001, d, c, k, sqrt_weights=sqrt_weights, seed=3)
    whole = run(case)
    rng = np.random.default_rng(4)
    splits = [np.sort(rng.choice(np.arange(1, 3001), 6, replace=False)) for _ in range(3)]
    splits.append(np.array([1, 2, 512, 513, 1024, 2999]))  # single voxels and tile boundaries (512 rows at K = 400)
    for cuts in splits:
        out = outputs(3001, c)
        for a, b in zip([0, *cuts], [*cuts, 3001]):
            part = dict(case, x=case["x"][a:b], live=case["live"][a:b])
            project(**part, out_prob=out["out_prob"][:, a:b], out_code=out["out_code"][a:b],
                    out_conf=out["out_conf"][a:b], out_u=out["out_u"][:, a:b])
        for name in out:
            np.testing.assert_array_equal(out[name], whole[name], err_msg=name)


def test_unclassifiable_and_empty():
    """Live voxels whose nodes carry no weight in any facies: probabilities 0, code 0, u kept. n = 0 is a no-op."""
    case = random_case(300, 2, 3, 16, sqrt_weights=False, seed=2)
    case["weights"][:, :] = 0.0
    case["weights"][:, 0] = 1.0  # only node 0 belongs to a facies...
    case["beta"] = 1e4  # ...and at this beta no voxel near another node reaches it (R underflows to 0)
    out = run(case)
    ok = case["live"] & np.isfinite(case["x"]).all(axis=1)
    nowhere = ok & (out["out_prob"].sum(axis=0) == 0)
    assert nowhere.sum() > 100
    assert (out["out_code"][nowhere] == 0).all() and (out["out_conf"][nowhere] == 0).all()
    assert np.isfinite(out["out_u"][:, nowhere]).all()
    empty = dict(case, x=case["x"][:0], live=case["live"][:0])
    project(**empty, **outputs(0, 3))


def test_tiles_bound_the_memory():
    assert gtm_numpy.tile_rows(400) * 400 <= gtm_numpy.TILE_ENTRIES
    assert gtm_numpy.tile_rows(1) == gtm_numpy.MAX_TILE_ROWS and gtm_numpy.tile_rows(10**6) == 256


BAD = [
    ("x", lambda c: c["x"].astype(np.float64), TypeError, "x must be float32"),
    ("x", lambda c: c["x"][:, 0], ValueError, "2-D"),
    ("live", lambda c: c["live"][1:], ValueError, "live must have shape"),
    ("live", lambda c: c["live"].astype(np.uint8), TypeError, "live must be bool"),
    ("mean", lambda c: c["mean"][1:], ValueError, "mean must have shape"),
    ("scale", lambda c: -c["scale"], ValueError, "scale must be positive"),
    ("scale", lambda c: np.full_like(c["scale"], np.nan), ValueError, "scale holds non-finite"),
    ("nodes", lambda c: c["nodes"][:, 1:], ValueError, "nodes must have shape"),
    ("nodes", lambda c: np.where(c["nodes"] > 0, np.inf, c["nodes"]), ValueError, "nodes holds non-finite"),
    ("beta", lambda c: 0.0, ValueError, "beta must be finite and positive"),
    ("beta", lambda c: np.nan, ValueError, "beta must be finite and positive"),
    ("latent", lambda c: c["latent"][:, :1], ValueError, "latent must have shape"),
    ("weights", lambda c: c["weights"][:, 1:], ValueError, "weights must have shape"),
    ("weights", lambda c: -c["weights"], ValueError, "non-negative"),
    ("codes", lambda c: c["codes"].astype(np.int64), TypeError, "codes must be uint8"),
    ("codes", lambda c: np.zeros_like(c["codes"]), ValueError, "non-zero"),
]


@pytest.mark.parametrize(("name", "change", "error", "message"), BAD, ids=[f"{b[0]}-{b[3]}" for b in BAD])
def test_bad_arguments_are_refused(name, change, error, message):
    case = random_case(50, 3, 2, 9, sqrt_weights=False, seed=1)
    case[name] = change(case)
    with pytest.raises(error, match=message):
        run(case)


@pytest.mark.parametrize(("name", "shape", "dtype", "error"), [
    ("out_prob", (3, 50), np.float32, ValueError), ("out_code", (50,), np.int32, TypeError),
    ("out_conf", (50,), np.float64, TypeError), ("out_u", (50, 2), np.float32, ValueError)])
def test_bad_outputs_are_refused(name, shape, dtype, error):
    case = random_case(50, 3, 2, 9, sqrt_weights=False, seed=1)
    out = outputs(50, 2)
    out[name] = np.zeros(shape, dtype)
    with pytest.raises(error, match=name):
        project(**case, **out)


# ------------------------------------------------------------------------------------------------ GPU
@pytest.fixture
def cp():
    return pytest.importorskip("cupy")


def run_gpu(cp, case):
    """The kernel on CuPy arrays (the model's small arrays left on the host), outputs copied back."""
    n, c = len(case["x"]), len(case["codes"])
    out = outputs(n, c, cp)
    project(**dict(case, x=cp.asarray(case["x"]), live=cp.asarray(case["live"])), **out)
    return {name: cp.asnumpy(a) for name, a in out.items()}


def assert_close_to_numpy(got, want, codes, atol):
    ok = np.isfinite(want["out_u"][0])
    np.testing.assert_allclose(got["out_prob"], want["out_prob"], rtol=0, atol=atol)
    np.testing.assert_allclose(got["out_u"], want["out_u"], rtol=0, atol=atol, equal_nan=True)
    np.testing.assert_array_equal(got["out_conf"][ok], got["out_prob"][:, ok].max(axis=0))
    assert_codes_agree(got, np.where(ok[:, None], want["out_prob"].T, np.nan), codes, atol)
    assert_dead(got, ~ok)


@pytest.mark.gpu
@pytest.mark.parametrize("sqrt_weights", [False, True], ids=["gtc", "bhattacharyya"])
@pytest.mark.parametrize(("d", "c", "k", "beta"), [(1, 1, 7, 8.0), (3, 4, 400, 8.0), (4, 8, 400, 30.0),
                                                   (9, 8, 400, 100.0), (9, 3, 613, 8.0), (16, 8, 437, 8.0),
                                                   (12, 12, 100, 8.0)])
def test_cuda_equals_numpy(cp, d, c, k, beta, sqrt_weights):
    case = random_case(100_003, d, c, k, sqrt_weights=sqrt_weights, beta=beta, seed=d + c + k)
    assert_close_to_numpy(run_gpu(cp, case), run(case), case["codes"], GPU_ATOL)


@pytest.mark.gpu
def test_cuda_writes_through_views_and_refuses_too_many_nodes(cp):
    case = random_case(10_001, 9, 8, 400, sqrt_weights=False, seed=1)
    whole = run(case)
    out = {name: cp.zeros((2 * a.shape[0], a.shape[-1]) if a.ndim == 2 else a.shape, a.dtype)
           for name, a in outputs(10_001, 8, cp).items()}
    views = {name: a[::2] if a.ndim == 2 else a for name, a in out.items()}
    project(**dict(case, x=cp.asarray(case["x"]), live=cp.asarray(case["live"])), **views)
    np.testing.assert_allclose(cp.asnumpy(views["out_prob"]), whole["out_prob"], atol=GPU_ATOL)
    big = random_case(100, 9, 8, 614, sqrt_weights=False, seed=1)
    with pytest.raises(ValueError, match="at most 613 GTM nodes"):
        run_gpu(cp, big)
