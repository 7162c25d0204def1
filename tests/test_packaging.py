"""The distribution installs one namespace, facies.*, and ships the CUDA sources."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("facies-*.whl")
    return path


def test_wheel_has_one_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("facies-")}
    assert tops == {"facies"}, f"top-level entries besides facies: {tops}"
    for package in ("engine", "kernels", "cli"):
        assert f"facies/{package}/__init__.py" in names
    assert "facies/kernels/cuda_build.py" in names


def test_wheel_has_every_subpackage(wheel):
    """A sub-package missing from pyproject's list would install from a clone but not from the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(REPO.glob("*/**/__init__.py")):
        top = init.relative_to(REPO).parts[0]
        if top not in ("engine", "kernels", "cli"):
            continue
        inside = "/".join(init.relative_to(REPO).parts)
        assert f"facies/{inside}" in names, f"{inside} is not in the wheel: add it to pyproject.toml's packages"


def test_wheel_ships_cuda_sources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = sorted(p.name for p in (REPO / "kernels" / "cuda").glob("*.cu"))
    for name in sources:
        assert f"facies/kernels/cuda/{name}" in names


def test_console_script_declared(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (entry,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
        text = zf.read(entry).decode()
    assert "facies = facies.cli.app:main" in text
