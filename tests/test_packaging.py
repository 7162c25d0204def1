"""The distribution installs one namespace, facies.*, and ships the CUDA sources."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "kernels", "cli")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources: an in-tree build would reuse ``build/`` and ship whatever an earlier
    build left there (modules since moved or deleted), and would write ``build/`` and ``*.egg-info`` into the clone."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in PACKAGES:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True)
    (path,) = out.glob("facies-*.whl")
    return path


def test_wheel_has_one_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("facies-")}
    assert tops == {"facies"}, f"top-level entries besides facies: {tops}"
    for package in PACKAGES:
        assert f"facies/{package}/__init__.py" in names
    assert "facies/kernels/cuda_build.py" in names


def test_wheel_has_every_subpackage(wheel):
    """A sub-package missing from pyproject's list would install from a clone but not from the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(REPO.glob("*/**/__init__.py")):
        top = init.relative_to(REPO).parts[0]
        if top not in PACKAGES:
            continue
        inside = "/".join(init.relative_to(REPO).parts)
        assert f"facies/{inside}" in names, f"{inside} is not in the wheel: add it to pyproject.toml's packages"


def test_wheel_ships_cuda_sources(wheel):
    """Every .cu file of kernels/ (each beside the _cuda.py that loads it) is in the wheel, at the same place."""
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = sorted(p.relative_to(REPO / "kernels").as_posix() for p in (REPO / "kernels").rglob("*.cu"))
    assert {"kuwahara/kuwahara.cu", "gmm/gmm.cu"} <= set(sources)
    missing = [name for name in sources if f"facies/kernels/{name}" not in names]
    assert not missing, f"{missing} are not in the wheel: add their package to [tool.setuptools.package-data]"


def test_wheel_holds_only_files_of_the_source_tree(wheel):
    """Every file the wheel installs under facies/ is one of the clone's: no module that has moved away lingers."""
    names = [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("facies/")]
    stale = [n for n in names if not (REPO / n.removeprefix("facies/")).is_file()]
    assert not stale, f"the wheel ships files the source tree does not have: {stale}"


def test_console_script_declared(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (entry,) = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
        text = zf.read(entry).decode()
    assert "facies = facies.cli.app:main" in text
