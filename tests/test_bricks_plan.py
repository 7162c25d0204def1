"""Brick planning: grids, alignment, budgets, splits, and boundary padding equal to whole-volume padding."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.bricks.operator import Chain, Operator, Output, pad_boundary
from facies.engine.bricks.plan import (BrickPlan, align_brick, brick_for_budget, clip, grow, outside, region_size,
                                       region_slices, split_region)
from facies.engine.errors import FaciesError
from facies.engine.operators import Copy, LocalMean


def test_plan_covers_survey_once_with_chunk_aligned_bricks():
    shape, chunks = (24, 20, 40), (8, 8, 16)
    plan = BrickPlan(shape, chunks, (16, 8, 32))
    assert plan.grid == (2, 3, 2)
    hits = np.zeros(shape, int)
    for brick in plan:
        hits[region_slices(brick.region)] += 1
        for (start, stop), c, n in zip(brick.region, chunks, shape):
            assert start % c == 0 and (stop % c == 0 or stop == n)
    assert (hits == 1).all()


def test_plan_refuses_bricks_that_cut_chunks():
    with pytest.raises(FaciesError, match="multiple of the chunk size"):
        BrickPlan((24, 20, 40), (8, 8, 16), (12, 8, 16))


def test_align_brick_rounds_up_to_chunks_and_fills_height():
    assert align_brick((10, 3), (24, 20, 40), (8, 8, 16)) == (16, 8, 40)
    assert align_brick((100, 100, 17), (24, 20, 40), (8, 8, 16)) == (24, 20, 32)
    with pytest.raises(FaciesError, match="positive"):
        align_brick((0, 8), (24, 20, 40), (8, 8, 16))


def test_brick_for_budget_prefers_full_height_then_lowers_it():
    shape, chunks = (256, 256, 200), (32, 32, 50)
    big = brick_for_budget(shape, chunks, budget_bytes=64 * 64 * 200 * 4, bytes_per_voxel=4)
    assert big == (64, 64, 200)
    small = brick_for_budget(shape, chunks, budget_bytes=32 * 32 * 100 * 4, bytes_per_voxel=4)
    assert small == (32, 32, 100)
    # The halo counts against the budget.
    assert brick_for_budget(shape, chunks, 64 * 64 * 200 * 4, 4, halo=(8, 8, 0)) == (64, 32, 200)


def test_split_region_halves_at_chunk_boundary_until_one_chunk():
    region = ((0, 24), (8, 20), (0, 40))
    first, second = split_region(region, (8, 8, 16))
    assert first == ((0, 8), (8, 20), (0, 40)) and second == ((8, 24), (8, 20), (0, 40))  # most chunks: axis 0
    assert region_size(first) + region_size(second) == region_size(region)
    assert split_region(((8, 16), (16, 20), (32, 40)), (8, 8, 16)) is None


@pytest.mark.parametrize("boundary", ["nan", "reflect", "nearest"])
@pytest.mark.parametrize("halo", [1, 3, 7])
def test_padded_read_region_equals_cut_of_padded_whole(boundary, halo):
    rng = np.random.default_rng(1)
    whole = rng.standard_normal((9, 6, 11))
    shape = whole.shape
    full_pad = pad_boundary(whole, [(halo, halo)] * 3, boundary, np)
    for region in [((0, 2), (0, 6), (4, 6)), ((7, 9), (2, 3), (10, 11)), ((0, 9), (0, 6), (0, 11))]:
        target = grow(region, (halo,) * 3)
        inside = clip(target, shape)
        padded = pad_boundary(whole[region_slices(inside)], outside(target, shape), boundary, np)
        expected = full_pad[region_slices(target, (-halo,) * 3)]
        np.testing.assert_array_equal(padded, expected)


def test_chain_total_halo_adds_along_dependencies():
    chain = Chain([LocalMean("a", "m", radius=(2, 1, 0)), LocalMean("m", "mm", radius=1), Copy("a", "c")],
                  (10, 10, 10))
    assert chain.sources == ("a",)
    assert chain.total_halo() == (3, 2, 1)


def test_chain_rejects_bad_operators():
    class NoOutputs(Operator):
        inputs = ("a",)

    with pytest.raises(FaciesError, match="no outputs"):
        Chain([NoOutputs()], (4, 4, 4))

    class BadBoundary(Operator):
        inputs, outputs, boundary = ("a",), (Output("b"),), "wrap"

    with pytest.raises(FaciesError, match="boundary"):
        Chain([BadBoundary()], (4, 4, 4))
    with pytest.raises(FaciesError, match="produced twice"):
        Chain([Copy("a", "b"), Copy("a", "b")], (4, 4, 4))


def test_a_halo_wider_than_the_survey_is_refused():
    Chain([LocalMean("a", "b", radius=4)], (4, 9, 9))  # as wide as the survey: allowed
    with pytest.raises(FaciesError, match="reach 5 voxels around each voxel along inline, more than the survey's 4"):
        Chain([LocalMean("a", "b", radius=5)], (4, 9, 9))
    with pytest.raises(FaciesError, match="along sample"):  # chained halos add up
        Chain([LocalMean("a", "b", radius=(0, 0, 3)), LocalMean("b", "c", radius=(0, 0, 3))], (4, 9, 5))
