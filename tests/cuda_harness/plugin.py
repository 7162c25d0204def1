"""pytest side of the CUDA CPU harness: the fixtures and the ``cuda_kernels`` marker (tests only).

A test that runs kernels on the harness says which with ``@pytest.mark.cuda_kernels(source, kernel, ...)``.
Two checks hold the marker to its word: after such a test passes, :func:`check_marked_kernels_ran` fails it if
a kernel it names was not launched during it; and tests/test_cuda_harness_guard.py fails when a kernel of any
``.cu`` under ``kernels/`` is named by no marker, so a new kernel cannot land without a harness test.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from facies.kernels.cuda_build import full_source, read_source
from tests.cuda_harness.build import sanitizing
from tests.cuda_harness.declared import declared_specialisations
from tests.cuda_harness.runtime import LAUNCHES, HarnessBackend, cuda_on_cpu

MARKER = "cuda_kernels"
#: Keep the built libraries across sessions in this folder (they are rebuilt when source, header or flags change).
CACHE_ENV = "FACIES_CUDA_HARNESS_CACHE"


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> HarnessBackend:
    """The harness backend of this session, every declared specialisation of every source built (in parallel)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the CUDA CPU harness needs it")
    cache = os.environ.get(CACHE_ENV)
    folder = Path(cache) if cache else tmp_path_factory.mktemp("cuda_harness")
    backend = HarnessBackend(folder / ("sanitized" if sanitizing() else "plain"))
    specs = declared_specialisations()
    t0 = time.perf_counter()
    backend.prebuild(full_source(name, defines) for name, defines, _ in specs)
    print(f"cuda harness: {len(specs)} specialisations built in {time.perf_counter() - t0:.1f}s"
          f"{' (sanitizers)' if sanitizing() else ''}")
    return backend


@pytest.fixture
def cuda_cpu(harness):
    """Inside the test, the ``_cuda`` wrappers compile and launch on the harness (``cupy`` is a NumPy stand-in)."""
    with cuda_on_cpu(harness):
        yield harness


def marked_kernels(item) -> set[tuple[str, str]]:
    """(source, kernel) pairs a test's ``cuda_kernels`` markers name."""
    return {(mark.args[0], kernel) for mark in item.iter_markers(MARKER) for kernel in mark.args[1:]}


def launched_since(start: int) -> set[tuple[str, str]]:
    """(source, kernel) pairs launched on any harness backend since ``LAUNCHES[start]``, for the declared sources."""
    names = {name for name, _, _ in declared_specialisations()}
    return {(name, kernel) for code, kernel in LAUNCHES[start:] for name in names if code.endswith(read_source(name))}


def not_launched(named: set[tuple[str, str]], start: int) -> list[tuple[str, str]]:
    """The pairs of ``named`` that no launch since ``LAUNCHES[start]`` ran."""
    return sorted(named - launched_since(start)) if named else []


@pytest.fixture(autouse=True)
def check_marked_kernels_ran(request):
    """Fail a passing ``cuda_kernels`` test that did not launch every kernel it names."""
    named = marked_kernels(request.node)
    start = len(LAUNCHES)
    yield
    missing = not_launched(named, start)
    if missing:
        pytest.fail(f"marked cuda_kernels but never launched on the harness: {missing}")
