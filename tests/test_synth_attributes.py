"""The synthetic attributes have the roles docs/synthetic.md gives them: the known right answer."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.store import Survey
from facies.engine.synth import ATTRIBUTES
from facies.engine.synth.model import BACKGROUND, MTD, SALT

#: (attribute, facies a, facies b): pairs each informative attribute separates by more than one pooled std.
SEPARATIONS = [
    ("envelope", SALT, BACKGROUND),
    ("instantaneous_frequency", SALT, BACKGROUND),
    ("instantaneous_frequency", SALT, MTD),
    ("similarity", BACKGROUND, SALT),
    ("similarity", BACKGROUND, MTD),
    ("texture_contrast", MTD, BACKGROUND),
    ("texture_contrast", MTD, SALT),
    ("dip_deviation", BACKGROUND, SALT),
    ("dip_deviation", BACKGROUND, MTD),
]
PAIRS = [(BACKGROUND, SALT), (BACKGROUND, MTD), (SALT, MTD)]


@pytest.fixture(scope="module")
def volumes(tiny_synthetic):
    survey = Survey.open(tiny_synthetic, mode="r")
    truth = survey.read("truth")
    return truth, {name: survey.read(name) for name in survey.attributes()}


def _separation(values, truth, a, b):
    """|mean_a - mean_b| in units of the pooled standard deviation."""
    x, y = values[truth == a].astype(np.float64), values[truth == b].astype(np.float64)
    return abs(x.mean() - y.mean()) / np.sqrt(0.5 * (x.var() + y.var()))


def test_roles_are_declared():
    roles = {spec.name: spec.role for spec in ATTRIBUTES}
    assert [n for n, r in roles.items() if r == "noise"] == ["noise_a", "noise_b"]
    assert "reflection_strength" in [n for n, r in roles.items() if r == "redundant"]
    assert {a for a, _, _ in SEPARATIONS} <= {n for n, r in roles.items() if r == "informative"}


@pytest.mark.parametrize("name, a, b", SEPARATIONS)
def test_informative_attributes_separate_facies(volumes, name, a, b):
    truth, values = volumes
    assert _separation(values[name], truth, a, b) > 1.0


@pytest.mark.parametrize("name", ["noise_a", "noise_b"])
def test_noise_attributes_separate_nothing(volumes, name):
    truth, values = volumes
    for a, b in PAIRS:
        assert _separation(values[name], truth, a, b) < 0.25, (a, b)
    # ... yet look like attributes: skewed positive, or bounded in (0, 1).
    v = values[name][truth > 0]
    assert np.all(v > 0) and v.std() > 0.05


def test_redundant_attribute_is_a_rescaled_copy(volumes):
    truth, values = volumes
    live = truth > 0
    r = np.corrcoef(values["reflection_strength"][live], values["envelope"][live])[0, 1]
    assert r > 0.99
    assert np.corrcoef(values["rms_amplitude"][live], values["envelope"][live])[0, 1] > 0.6


def test_attribute_ranges_are_physical(volumes):
    truth, values = volumes
    live = truth > 0
    assert values["similarity"][live].min() >= 0 and values["similarity"][live].max() <= 1.0 + 1e-5
    assert values["instantaneous_frequency"][live].max() <= 125.0  # Nyquist at 4 ms
    assert 20 < np.median(values["instantaneous_frequency"][truth == BACKGROUND]) < 40  # 30 Hz wavelet
    assert values["envelope"][live].min() >= 0
