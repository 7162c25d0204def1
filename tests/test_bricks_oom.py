"""Out-of-memory backoff: a brick that does not fit is halved at chunk boundaries and retried."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.bricks.gpu import is_out_of_memory
from facies.engine.bricks.operator import Chain
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.operators import LocalMean
from tests.test_bricks_helpers import make_survey


class FitsBelow(LocalMean):
    """LocalMean that fails like an allocation failure on inputs larger than ``limit`` voxels."""

    def __init__(self, *args, limit: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.failures = 0

    def compute(self, inputs, xp):
        if inputs[self.inputs[0]].size > self.limit:
            self.failures += 1
            raise MemoryError(f"simulated out of memory for {inputs[self.inputs[0]].shape}")
        return super().compute(inputs, xp)


def test_oom_halves_bricks_and_result_is_unchanged(tmp_path):
    survey, volume = make_survey(tmp_path / "s.zarr")
    op = FitsBelow("amp", "m", radius=1, limit=10 * 10 * 40)  # one 8x8 chunk column plus its halo fits
    result = run_bricks(survey, [op], {"m": "out"}, RunOptions(device="cpu", brick=(24, 20, 40), progress=False))
    reference = Chain([LocalMean("amp", "m", radius=1)], volume.shape).run_whole({"amp": volume})["m"]
    assert np.array_equal(survey.read("out"), reference, equal_nan=True)
    assert result.stats.oom_splits > 0 and result.stats.pieces > result.stats.bricks == 1
    assert op.failures == result.stats.oom_splits


def test_later_bricks_start_at_the_size_that_fitted(tmp_path):
    # One brick alone (padded on every side) fails ``alone.failures`` times before it fits.
    single, _ = make_survey(tmp_path / "one.zarr", shape=(16, 16, 40))
    alone = FitsBelow("amp", "m", radius=1, limit=10 * 10 * 40)
    run_bricks(single, [alone], {"m": "out"}, RunOptions(device="cpu", brick=(16, 16, 40), progress=False), lanes=1)
    # Four such bricks computed one after another: the later ones are pre-split, so they fail less.
    survey, _ = make_survey(tmp_path / "four.zarr", shape=(32, 32, 40))
    four = FitsBelow("amp", "m", radius=1, limit=10 * 10 * 40)
    result = run_bricks(survey, [four], {"m": "out"}, RunOptions(device="cpu", brick=(16, 16, 40), progress=False),
                        lanes=1)
    assert result.stats.bricks == 4 and alone.failures > 1
    assert four.failures < 4 * alone.failures


def test_oom_on_a_single_chunk_is_a_clear_error(tmp_path):
    survey, _ = make_survey(tmp_path / "s.zarr")
    op = FitsBelow("amp", "m", radius=1, limit=10)
    with pytest.raises(FaciesError, match="out of memory computing a single chunk"):
        run_bricks(survey, [op], {"m": "out"}, RunOptions(device="cpu", brick=(8, 8, 16), progress=False))
    assert not survey.is_complete("out")


def test_other_errors_are_not_taken_for_oom():
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(ValueError("x"))
    assert not is_out_of_memory(KeyboardInterrupt())


@pytest.mark.gpu
def test_cupy_oom_is_recognised():
    import cupy

    try:
        cupy.empty(2**62, dtype=cupy.uint8)
    except Exception as exc:  # noqa: BLE001 - what CuPy raises is the point
        assert is_out_of_memory(exc)
    else:
        pytest.fail("allocating 4 EiB did not fail")
