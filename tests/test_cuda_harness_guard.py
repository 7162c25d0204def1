"""Every kernel of every ``.cu`` source runs on the CUDA CPU harness in some test, and the harness models what it
claims: shared memory starts poisoned in every block.

The guard reads the ``cuda_kernels`` markers of the harness test modules (``tests/test_cuda_harness*.py``),
including those on ``pytest.param`` values; :func:`tests.cuda_harness.plugin.check_marked_kernels_ran` makes sure
each marked test really launches what it names. So a new kernel (or a new ``.cu`` file) fails here until a
harness test compares it with its NumPy twin.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from tests.cuda_harness import LAUNCHES, cuda_on_cpu
from tests.cuda_harness.declared import KNOWN_SOURCES, kernels_on_disk
from tests.cuda_harness.plugin import MARKER, not_launched

TESTS = Path(__file__).resolve().parent


def _marks(obj) -> list:
    marks = list(getattr(obj, "pytestmark", []))
    for mark in list(marks):
        if mark.name == "parametrize":
            for value in mark.args[1]:
                marks.extend(getattr(value, "marks", ()))
    return marks


def covered_kernels() -> dict[tuple[str, str], list[str]]:
    """(source, kernel) -> the harness tests whose ``cuda_kernels`` markers name it."""
    covered: dict[tuple[str, str], list[str]] = {}
    for path in sorted(TESTS.glob("test_cuda_harness*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for name, obj in vars(module).items():
            if not (name.startswith("test_") and callable(obj)):
                continue
            for mark in _marks(obj):
                if mark.name == MARKER:
                    for kernel in mark.args[1:]:
                        covered.setdefault((mark.args[0], kernel), []).append(f"{path.stem}::{name}")
    return covered


def uncovered(on_disk: dict[str, list[str]], covered) -> list[str]:
    """``source:kernel`` of the kernels no harness test names."""
    return [f"{source}:{kernel}" for source, kernels in sorted(on_disk.items()) for kernel in kernels
            if (source, kernel) not in covered]


def test_every_kernel_of_every_source_has_a_harness_test():
    on_disk = kernels_on_disk()
    assert KNOWN_SOURCES <= set(on_disk) and all(on_disk.values()), on_disk  # discovery found the real ones
    covered = covered_kernels()
    missing = uncovered(on_disk, covered)
    assert not missing, (f"kernels with no test on the CUDA CPU harness: {missing}; add one that compares them with "
                         f"their NumPy twin, marked @pytest.mark.cuda_kernels(source, kernel)")
    stale = sorted(f"{s}:{k}" for s, k in covered if k not in on_disk.get(s, []))
    assert not stale, f"harness tests name kernels that no source has: {stale}"


def test_the_guard_sees_a_new_kernel():
    covered = covered_kernels()
    on_disk = kernels_on_disk()
    on_disk["kuwahara/kuwahara.cu"] = [*on_disk["kuwahara/kuwahara.cu"], "kuwahara_new_pass"]
    on_disk["zz_new/new.cu"] = ["new_kernel"]
    assert uncovered(on_disk, covered) == ["kuwahara/kuwahara.cu:kuwahara_new_pass", "zz_new/new.cu:new_kernel"]


def test_shared_memory_starts_poisoned_in_every_block(harness):
    """Block 0 fills its tile; block 1 writes one cell and reads all four: the others are NaN, not block 0's."""
    module = harness.compile('''
extern "C" __global__ void read_tile(float* out) {
    __shared__ float tile[4];
    if (blockIdx.x == 0 || threadIdx.x == 0) tile[threadIdx.x] = 1.0f + threadIdx.x;
    __syncthreads();
    out[blockIdx.x * 4 + threadIdx.x] = tile[threadIdx.x];
}''', ())
    out = np.zeros(8, np.float32)
    with cuda_on_cpu(harness):
        module.get_function("read_tile")((2,), (4,), (out,))
    np.testing.assert_array_equal(out[:5], [1, 2, 3, 4, 1])
    assert np.isnan(out[5:]).all()


def test_a_test_that_names_a_kernel_it_never_launches_is_caught(harness):
    """The marker check: naming a kernel is not enough, the test must launch it on the harness."""
    from facies.kernels.gmm._cuda import CudaOps

    named = {("gmm/gmm.cu", "gmm_posterior"), ("gmm/gmm.cu", "gmm_classify")}
    start = len(LAUNCHES)
    assert not_launched(named, start) == sorted(named)
    with cuda_on_cpu(harness):
        CudaOps.posterior(np.zeros((1, 1, 2, 3)))
    assert not_launched(named, start) == [("gmm/gmm.cu", "gmm_classify")]
