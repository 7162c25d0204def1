"""The synthetic attributes are the operators' of ``facies attributes``: the same values from the same amplitude."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from facies.engine.bricks.operator import Chain
from facies.engine.store import Survey
from facies.engine.synth import make_synthetic
from facies.engine.synth.attributes import (CHAIN_OUTPUTS, DIP_CLIP, DIP_REGIONAL, DIP_SIGMAS, DIP_SMOOTHING,
                                            FROM_OPERATORS, HALO)
from facies.engine.synth.dip_deviation import DipDeviation
from facies.engine.synth.layout import MIN_SHAPE, SAMPLE_INTERVAL_MS
from tests.helpers import run_cli


def _text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


@pytest.fixture(scope="module")
def bricked(tmp_path_factory):
    """The tiny survey written in 16 x 12-trace bricks (so most bricks have neighbours on every side), and
    the same attributes by ``facies attributes`` over other bricks (24 x 24 traces), suffixed ``_op``."""
    path = tmp_path_factory.mktemp("synth_operators") / "tiny.zarr"
    make_synthetic(path, size="tiny", seed=5, chunks=(16, 12, 64), progress=False)
    args = ["attributes", path, "--from", "amplitude", "--suffix", "_op", "--brick", "24,24", "--device", "cpu"]
    for attribute, params in FROM_OPERATORS.values():
        args += ["-a", attribute] + [a for key, value in params.items()
                                     for a in ("-p", f"{attribute}.{key}={_text(value)}")]
    for attribute in ("inline_dip", "crossline_dip"):
        args += ["-a", attribute] + [a for key, value in DIP_SIGMAS.items()
                                     for a in ("-p", f"{attribute}.{key}={value}")]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return Survey.open(path, mode="r")


@pytest.mark.parametrize("name", list(FROM_OPERATORS))
def test_operator_attributes_equal_facies_attributes_bit_for_bit(bricked, name):
    live = bricked.geometry.trace_mask
    ours = bricked.read(name)
    theirs = bricked.read(f"{FROM_OPERATORS[name][0]}_op")
    assert np.isfinite(ours[live]).all()
    np.testing.assert_array_equal(ours[live], theirs[live])
    assert not ours[~live].any()  # dead traces hold zeros, as in every synthetic volume


def test_dip_deviation_is_the_deviation_of_the_structure_operators_dips(bricked):
    live = bricked.geometry.trace_mask
    op = DipDeviation("inline_dip_op", "crossline_dip_op", "deviation", clip=DIP_CLIP, regional=DIP_REGIONAL,
                      smoothing=DIP_SMOOTHING, sample_interval_ms=SAMPLE_INTERVAL_MS)
    dips = {name: bricked.read(name) for name in op.inputs}
    expected = Chain([op], bricked.shape).run_whole(dips)["deviation"]
    ours = bricked.read("dip_deviation")
    assert np.isfinite(ours[live]).all() and ours[live].std() > 0
    np.testing.assert_array_equal(ours[live], expected[live])


def test_dip_deviation_against_a_direct_reference():
    """Clipped dips minus their regional box mean, hypot, box-smoothed, in ms: SciPy's uniform filters on the
    volume mirrored at its edges (another summation order, so to float32 rounding)."""
    rng = np.random.default_rng(3)
    shape = (11, 9, 20)
    dips = [rng.normal(0, 1.2, shape).astype(np.float32) for _ in range(2)]
    op = DipDeviation("a", "b", "d", clip=1.5, regional=(3, 2, 3), smoothing=(1, 1, 2), sample_interval_ms=4.0)
    got = Chain([op], shape).run_whole({"a": dips[0], "b": dips[1]})["d"]

    def box(x, radius):
        return ndimage.uniform_filter(x.astype(np.float64), [2 * r + 1 for r in radius], mode="reflect")

    steps = [np.clip(d, -1.5, 1.5) for d in dips]
    steps = [s - box(s, (3, 2, 3)) for s in steps]
    expected = 4.0 * box(np.hypot(*steps), (1, 1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Parallel dipping reflectors, however steep (within the clip), do not deviate from their region.
    flat = Chain([op], shape).run_whole({"a": np.full(shape, 0.7, np.float32), "b": np.full(shape, -1.2, np.float32)})
    np.testing.assert_allclose(flat["d"], 0.0, atol=1e-6)


def test_halo_fits_the_smallest_survey_and_the_chains():
    from facies.engine.synth.attributes import attribute_chains

    assert HALO <= min(MIN_SHAPE[:2])
    big = (1000, 1000, 1000)
    reach = [max(chain.total_halo()[:2]) for chain in attribute_chains(big, SAMPLE_INTERVAL_MS)]
    assert len(reach) == len(CHAIN_OUTPUTS) and max(reach) == HALO
