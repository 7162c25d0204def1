"""The harness's sanitizer mode: every harness test again under AddressSanitizer and UndefinedBehaviorSanitizer,
and deliberately broken kernels that only the sanitizers see (a write past the end of an output, a read past the
end of the volume, a write past the end of a shared tile).

A sanitized library cannot be loaded into a Python that was not started with libasan, so the mode runs in child
processes started with :func:`tests.cuda_harness.sanitizer_environment` (libasan preloaded, every report fatal).
Under it, NumPy's buffers get AddressSanitizer's red zones too, so a kernel that steps outside an array it was
given is stopped at the first byte; shared tiles are fixed-size arrays, which UndefinedBehaviorSanitizer's bounds
check covers index by index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cuda_harness.broken import BREAKAGES, GMM, KUWAHARA
from tests.cuda_harness.build import libasan, sanitizer_environment, sanitizing

REPO = Path(__file__).resolve().parents[1]
HARNESS_TESTS = ["tests/test_cuda_harness.py", "tests/test_cuda_harness_gmm.py", "tests/test_cuda_harness_gtm.py",
                 "tests/test_cuda_harness_coherence.py", "tests/test_cuda_harness_structure.py",
                 "tests/test_cuda_harness_glcm.py", "tests/test_cuda_harness_guard.py"]

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or libasan() is None or sanitizing(),
                                reason="needs g++ with libasan (and not already inside the sanitizer mode)")


@pytest.fixture(scope="module")
def sanitized_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cuda_harness_sanitized")


def run_child(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=sanitizer_environment(), capture_output=True,
                          text=True, timeout=timeout)


#: Left out of the sanitized pass: the tests of the plain harness's own detection (broken copies, divergent
#: barriers, a source g++ refuses), which compile a library each and prove nothing more with sanitizers.
PLAIN_ONLY = "not broken_kernel_is_caught and not divergence and not cannot_model"


def test_every_harness_test_passes_under_the_sanitizers(tmp_path):
    done = run_child(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning",
                      f"--basetemp={tmp_path / 'child'}", "-k", PLAIN_ONLY, *HARNESS_TESTS])
    report = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"the harness tests failed under the sanitizers:\n{report}"
    assert " passed" in done.stdout and " failed" not in done.stdout, report


@pytest.mark.parametrize("source", [KUWAHARA, GMM])
def test_the_real_kernels_run_clean(sanitized_cache, source):
    """The control of the test below: the same small case, unbroken, draws no report."""
    done = run_child(["-m", "tests.cuda_harness.broken", f"none:{source}", str(sanitized_cache)])
    assert done.returncode == 0 and "finished without a report" in done.stdout, done.stderr[-4000:]


@pytest.mark.parametrize(("broken", "report"), [
    ("kuwahara-read-past-volume", "AddressSanitizer: heap-buffer-overflow"),
    ("gmm-posterior-write-past-end", "AddressSanitizer: heap-buffer-overflow"),
    ("kuwahara-tile-overflow", "runtime error: index"),
])
def test_the_sanitizers_stop_a_kernel_that_steps_outside_its_memory(sanitized_cache, broken, report):
    assert broken in BREAKAGES
    done = run_child(["-m", "tests.cuda_harness.broken", broken, str(sanitized_cache)])
    assert done.returncode != 0 and "finished without a report" not in done.stdout
    assert report in done.stderr, done.stderr[-4000:]
