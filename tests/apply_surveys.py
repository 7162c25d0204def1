"""The staged and the fused workflow on one tiny synthetic survey, built once per test session.

Both start from the same tiny synthetic survey (seed 0) in chunks of 16 x 16 x 32, so a run has
several bricks. **Staged**: ``filter kuwahara`` writes ``<x>_kuw``, the training table, GTM and forest
are fitted on them, ``gtm project`` and ``rf predict`` write the outputs. **Fused**: ``filter kuwahara
--virtual`` records the same ``<x>_kuw`` as recipes, the same fits read them through
``facies.engine.virtual.values_at``, and no output is written yet: tests copy the store
(:func:`fused_copy`) and run ``facies apply`` on the copy.

Import the fixture into a test module with ``from tests.apply_surveys import surveys  # noqa: F401``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from facies.engine import Survey
from facies.engine.synth import make_synthetic, polygons_path
from tests.helpers import run_cli

#: Filtered, then used by both models: three attributes, radius 2 (a halo of 2 on every axis).
SOURCES = ("amplitude", "envelope", "similarity")
FILTERED = tuple(f"{name}_kuw" for name in SOURCES)
GTM_FIT = ("--grid", "6", "--basis", "3", "--iterations", "15", "--sample", "4000")
RF_TRAIN = ("--trees", "4", "--max-depth", "6")
#: Chunks of the test survey: 3 x 3 x 2 chunks, so a brick of 16 x 16 traces leaves 9 bricks.
CHUNKS = (16, 16, 32)
BRICK = "16,16"
#: The arrays gtm project and rf predict write (the GTM is "gtm", the forest "rf").
FACIES = ("background", "salt", "mtd")
GTM_OUTPUTS = ("facies_gtm", *(f"prob_gtm_{f}" for f in FACIES), "confidence_gtm", "gtm_u1", "gtm_u2")
RF_OUTPUTS = ("facies_rf", *(f"prob_rf_{f}" for f in FACIES), "confidence_rf")
OUTPUTS = GTM_OUTPUTS + RF_OUTPUTS


@dataclass
class Surveys:
    """Paths of the staged store (every output written) and of the fused store (recipes and models only)."""

    staged: Path
    fused: Path
    polygons: Path


def cli_ok(*args) -> str:
    """Run ``facies ARGS`` in this process; fail the test with its output unless it exits 0."""
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _fit(store: Path, polygons: Path) -> None:
    """Training table, GTM ``gtm`` and forest ``rf`` on the filtered attributes (stored or virtual)."""
    attributes = ",".join(FILTERED)
    cli_ok("training", "extract", store, polygons, "--attributes", attributes)
    cli_ok("gtm", "fit", store, "--attributes", attributes, *GTM_FIT, "--device", "cpu")
    cli_ok("rf", "train", store, "--name", "rf", "--attributes", attributes, *RF_TRAIN, "--out",
           store.parent / "rf_report")


def _build(folder: Path) -> Surveys:
    base = folder / "base" / "tiny.zarr"
    base.parent.mkdir()
    make_synthetic(base, size="tiny", seed=0, chunks=CHUNKS, progress=False)
    polygons = polygons_path(base)
    staged, fused = folder / "staged" / "tiny.zarr", folder / "fused" / "tiny.zarr"
    for path in (staged, fused):
        shutil.copytree(base, path)
    inputs = [arg for name in SOURCES for arg in ("--input", name)]
    cli_ok("filter", "kuwahara", staged, *inputs, "--radius", "2", "--device", "cpu", "--brick", BRICK)
    _fit(staged, polygons)
    cli_ok("gtm", "project", staged, "--device", "cpu", "--brick", BRICK)
    cli_ok("rf", "predict", staged, "--model", "rf", "--device", "cpu", "--brick", BRICK)
    cli_ok("filter", "kuwahara", fused, *inputs, "--radius", "2", "--virtual")
    _fit(fused, polygons)
    return Surveys(staged, fused, polygons)


_BUILT: list[Surveys] = []


@pytest.fixture(scope="session")
def surveys(tmp_path_factory) -> Surveys:
    """The staged and fused stores, built once per session (every module importing this fixture shares them)."""
    if not _BUILT:
        with pytest.MonkeyPatch.context() as patch:  # the fits compute virtual values where they run: the CPU
            patch.setenv("FACIES_DEVICE", "cpu")
            _BUILT.append(_build(tmp_path_factory.mktemp("apply")))
    return _BUILT[0]


def fused_copy(surveys: Surveys, folder: Path) -> Path:
    """A writable copy of the fused store (recipes and models, no outputs) in ``folder``."""
    target = folder / "fused.zarr"
    shutil.copytree(surveys.fused, target)
    return target


def assert_same_arrays(store: Path, reference: Path, names) -> None:
    """Every array of ``names`` is complete in ``store`` and equal to ``reference``'s, bit for bit (NaN == NaN)."""
    got, want = Survey.open(store, mode="r"), Survey.open(reference, mode="r")
    for name in names:
        assert got.is_complete(name), name
        a, b = got.read(name), want.read(name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
