"""``facies doctor`` finds packages published under a CUDA-specific distribution name (nvforest-cu13, cupy-cuda12x)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest

from facies.engine import doctor


@pytest.mark.parametrize(("package", "installed"), [("nvforest", "nvforest-cu12"), ("nvforest", "nvforest-cu13"),
                                                     ("cupy", "cupy-cuda12x"), ("numpy", "numpy")])
def test_a_package_is_found_under_any_of_its_distribution_names(monkeypatch, package, installed):
    def fake_version(name):
        if name == installed:
            return "1.2.3"
        raise PackageNotFoundError(name)

    monkeypatch.setattr(doctor, "version", fake_version)
    assert doctor._version(package) == "1.2.3"
    monkeypatch.setattr(doctor, "version", lambda name: (_ for _ in ()).throw(PackageNotFoundError(name)))
    assert doctor._version(package) is None


def test_the_installed_nvforest_is_reported():
    try:
        expected = version("nvforest-cu13")
    except PackageNotFoundError:
        pytest.skip("nvforest-cu13 is not installed here")
    assert doctor._version("nvforest") == expected
