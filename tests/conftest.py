"""Shared fixtures: the real SEG-Y files in ../shared/data, the GPU marker and the CUDA CPU harness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The CUDA CPU harness's fixtures (harness, cuda_cpu) and its cuda_kernels marker check, for every test module.
from tests.cuda_harness.plugin import check_marked_kernels_ran, cuda_cpu, harness  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

# The forest's compiled CPU kernel is cached per user (engine/forest/cpu_cache.py); tests keep theirs in one
# folder of the session instead of the user's ~/.cache (a test that sets FACIES_CACHE_DIR itself still wins).
if "FACIES_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["FACIES_CACHE_DIR"] = tempfile.mkdtemp(prefix="facies-test-cache-")
    atexit.register(shutil.rmtree, os.environ["FACIES_CACHE_DIR"], ignore_errors=True)
SHARED_DATA = Path(os.environ.get("FACIES_TEST_DATA", REPO.parent / "shared" / "data"))


def _gpu_answers() -> bool:
    from facies.engine.backend import forced_cpu, probe_cupy

    return not forced_cpu() and probe_cupy()[0] is not None


def pytest_collection_modifyitems(config, items):
    if _gpu_answers():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU answers (or FACIES_DEVICE=cpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real SEG-Y test files; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real SEG-Y test files not found in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def cpu_only(monkeypatch):
    """Force the CPU backend for one test."""
    monkeypatch.setenv("FACIES_DEVICE", "cpu")


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """Path of the built-in synthetic survey at size tiny (seed 0), made once per test session.

    Treat it as read-only; a test that writes into a survey copies it first (``tests.helpers.writable_copy``).
    """
    from facies.engine.synth import make_synthetic

    path = tmp_path_factory.mktemp("synthetic") / "tiny.zarr"
    make_synthetic(path, size="tiny", seed=0, progress=False)
    return path

