"""Shared helpers of the brick engine tests (tiny stores); also checks the helpers themselves."""

from __future__ import annotations

import numpy as np

from facies.engine.geometry import Geometry
from facies.engine.store import Survey

SHAPE = (24, 20, 40)
CHUNKS = (8, 8, 16)


def make_survey(path, shape=SHAPE, chunks=CHUNKS, seed=0, nan_share=0.05, name="amp") -> tuple[Survey, np.ndarray]:
    """A tiny store with one float32 attribute: a smooth trend plus noise, some NaN voxels, one dead trace."""
    rng = np.random.default_rng(seed)
    geometry = Geometry(inlines=np.arange(100, 100 + shape[0], dtype=np.int32),
                        crosslines=np.arange(200, 200 + shape[1], dtype=np.int32),
                        samples=np.arange(shape[2], dtype=np.float32) * 4)
    survey = Survey.create(path, geometry, chunks=chunks)
    data = (0.95 + 0.01 * rng.standard_normal(shape)).astype(np.float32)  # coherence-like: big mean, small spread
    data[rng.random(shape) < nan_share] = np.nan
    data[3, 5, :] = np.nan
    survey.add_volume(name, data, provenance={"command": "test"})
    return survey, data


def test_make_survey_round_trips(tmp_path):
    survey, data = make_survey(tmp_path / "s.zarr")
    assert np.array_equal(survey.read("amp"), data, equal_nan=True)
    assert survey.chunks == CHUNKS
