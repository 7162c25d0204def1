"""The real gtm.cu, run on the CPU through the real ``_cuda.project`` wrapper, against the NumPy backend.

No GPU: ``tests/cuda_harness`` compiles each declared specialisation (``GTM_D``, ``GTM_C``) with g++ and swaps it
in (docs/design.md, "CUDA kernels on the CPU"). Cases: every specialisation at its own size and with fewer
attributes and facies (padded columns), both methods, NaN and infinite attributes, dead voxels, voxel counts that
are not multiples of the block, a one-SM device whose grid-stride loop must wrap, outputs that are views.

Tolerance :data:`ATOL` (2e-5, absolute, on probabilities and ``u``, both within [-1, 1]): the kernel is float32
throughout and the NumPy backend takes the log-density differences in float64; a node's log-density is off by
about ``beta |t - y| (|t| + |y|) 6e-8`` in float32 (gtm.cu's header), a few 1e-6 for the nodes that carry weight
at beta <= 100 on standardised data, plus ~1e-6 from the K-term float32 sums; measured here: at most 7e-7. A code
may differ only where the two most probable facies are within the tolerance. On a GPU (FMA contraction, CUDA's
``expf`` at 2 ulp instead of glibc's) tests/test_gtm_project.py allows 1e-4.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facies.kernels.gtm import _cuda as gtm_cuda
from tests.cuda_harness import H100, HarnessBackend, cuda_on_cpu
from tests.cuda_harness.broken import BREAKAGES, broken_source
from tests.test_gtm_project import assert_close_to_numpy, outputs, random_case, run

ATOL = 2e-5
SIZES = [(defines["GTM_D"], defines["GTM_C"], defines["GTM_MAX_K"]) for _, defines, _ in gtm_cuda.CUDA_SPECIALISATIONS]
KERNEL = "gtm_project_voxels"
marked = pytest.mark.cuda_kernels(gtm_cuda.SOURCE, KERNEL)


def one_sm(harness):
    """The harness with a one-SM device: 32 blocks of 256 threads, so grid-stride loops over more voxels wrap."""
    return HarnessBackend(harness.cache_dir, dataclasses.replace(H100, multiprocessor_count=1), harness.flags)


def run_harness(case, out=None):
    """The CUDA wrapper on NumPy arrays, which the harness takes as device arrays.

    (:func:`facies.kernels.gtm.project` would pick the NumPy backend for them: its dispatch on CuPy arrays is
    tested on a GPU, in tests/test_gtm_project.py.)
    """
    out = out or outputs(len(case["x"]), len(case["codes"]))
    gtm_cuda.project(**case, **out)
    return out


@pytest.mark.parametrize("sqrt_weights", [False, True], ids=["gtc", "bhattacharyya"])
@pytest.mark.parametrize(("d", "c", "max_k"), [pytest.param(*s, marks=marked, id=f"D{s[0]}-C{s[1]}") for s in SIZES])
def test_every_specialisation_equals_numpy(cuda_cpu, d, c, max_k, sqrt_weights):
    """At its full size and K = GTM_MAX_K (the shared array full), and with one attribute and facies fewer (padded)."""
    for dd, cc, k, seed in [(d, c, max_k, 1), (max(1, d - 1), max(1, c - 1), 37, 2)]:
        assert gtm_cuda.specialisation(dd, cc, k) == (d, c) or (dd, cc) != (d, c)
        case = random_case(1001, dd, cc, k, sqrt_weights=sqrt_weights, beta=30.0, seed=seed + d + c)
        assert_close_to_numpy(run_harness(case), run(case), case["codes"], ATOL)


@marked
@pytest.mark.parametrize("beta", [1.0, 100.0])
def test_tolerance_holds_at_the_documented_beta(cuda_cpu, beta):
    case = random_case(2000, 9, 8, 400, sqrt_weights=True, beta=beta, seed=7)
    got, want = run_harness(case), run(case)
    assert_close_to_numpy(got, want, case["codes"], ATOL)
    print(f"beta {beta}: max |dp| {np.nanmax(np.abs(got['out_prob'] - want['out_prob'])):.2e}, "
          f"max |du| {np.nanmax(np.abs(got['out_u'] - want['out_u'])):.2e}")


@marked
def test_the_grid_wraps(harness):
    """On a one-SM device: 9,001 voxels > 32 blocks x 256 threads, so the grid-stride loop wraps."""
    case = random_case(9001, 4, 3, 100, sqrt_weights=False, seed=4)
    out = outputs(9001, 3)
    with cuda_on_cpu(one_sm(harness)):
        run_harness(case, out)
        (grid, block), = gtm_cuda.get_module(gtm_cuda.SOURCE, gtm_cuda.gtm_defines(4, 8)).get_function(
            KERNEL).launches
    assert grid == (32, 1, 1) and block == (256, 1, 1)
    assert_close_to_numpy(out, run(case), case["codes"], ATOL)


@marked
def test_ties_views_and_dead_voxels(cuda_cpu):
    """Equal weights give the first facies, as NumPy; outputs that are views are written through."""
    case = random_case(777, 3, 4, 64, sqrt_weights=True, seed=9)
    case["weights"][2] = case["weights"][0]
    case["live"][:50] = False
    out = {name: np.full((a.shape[0], 2 * a.shape[1]), 5, a.dtype)[:, ::2] if a.ndim == 2 else a
           for name, a in outputs(777, 4).items()}
    run_harness(case, out)
    want = run(case)
    assert_close_to_numpy(out, want, case["codes"], ATOL)
    np.testing.assert_array_equal(out["out_prob"][0], out["out_prob"][2])
    lead = out["out_prob"][0] >= out["out_prob"].max(axis=0)
    lead &= out["out_code"] != 0
    assert lead.any() and (out["out_code"][lead] == case["codes"][0]).all()
    assert (out["out_code"][:50] == 0).all() and np.isnan(out["out_u"][:, :50]).all()


def test_models_no_specialisation_holds_are_refused():
    assert gtm_cuda.specialisation(9, 8, 400) == (9, 8)
    assert gtm_cuda.specialisation(2, 3, 400) == (3, 4)
    assert gtm_cuda.specialisation(3, 4, 800) == (3, 4)
    with pytest.raises(ValueError, match="at most 767 GTM nodes"):
        gtm_cuda.specialisation(4, 4, 800)
    with pytest.raises(ValueError, match="at most 613 GTM nodes"):
        gtm_cuda.specialisation(9, 8, 614)
    with pytest.raises(ValueError, match="up to 16 attributes"):
        gtm_cuda.specialisation(17, 2, 10)
    with pytest.raises(ValueError, match="up to 16 attributes"):
        gtm_cuda.specialisation(13, 9, 10)
    for d, c in gtm_cuda.SIZES:  # the .cu's shared arrays fit the static limit
        assert 4 * (gtm_cuda.max_nodes(d, c) * gtm_cuda.record_floats(d, c) + 2 * d) + c <= 48 * 1024


@pytest.mark.parametrize("broken", ["gtm-no-barrier", "gtm-no-rescale"])
def test_a_broken_kernel_is_caught(harness, broken):
    case = random_case(600, 9, 8, 400, sqrt_weights=False, seed=3)
    with broken_source(BREAKAGES[broken]), cuda_on_cpu(harness):
        got = run_harness(case)
    want = run(case)
    with pytest.raises(AssertionError):
        assert_close_to_numpy(got, want, case["codes"], ATOL)
