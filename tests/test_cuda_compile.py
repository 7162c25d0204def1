"""Every CUDA source compiles with NVRTC for sm_80 and sm_90, without register spills (no GPU needed).

Convention: every ``kernels/*_cuda.py`` module exposes ``CUDA_SPECIALISATIONS``, a list of
``(source name, defines, name_expressions)``; this test compiles each for every architecture of
``CHECK_ARCHS`` with ``-Xptxas -v``. A ``.cu`` file that no module declares is compiled once
with an empty preamble, so a new source is never silently unchecked.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import facies.kernels as kernels_pkg
from facies.kernels.cuda_build import CHECK_ARCHS, full_source, nvrtc_compile, sources

pytest.importorskip("cuda.bindings.nvrtc", reason="NVRTC (cuda-bindings) not installed")


def declared_specialisations() -> list[tuple[str, dict, tuple]]:
    specs = []
    for info in pkgutil.iter_modules(kernels_pkg.__path__):
        if info.name.endswith("_cuda"):
            module = importlib.import_module(f"{kernels_pkg.__name__}.{info.name}")
            specs += [(name, dict(defines), tuple(exprs))
                      for name, defines, exprs in getattr(module, "CUDA_SPECIALISATIONS", [])]
    declared = {name.removesuffix(".cu") for name, _, _ in specs}
    specs += [(path.stem, {}, ()) for path in sources() if path.stem not in declared]
    return specs


SPECS = declared_specialisations()


def _id(spec) -> str:
    name, defines, _ = spec
    return name + "[" + ",".join(f"{k}={v}" for k, v in sorted(defines.items())) + "]"


def test_every_source_is_checked():
    assert {path.stem for path in sources()} <= {name.removesuffix(".cu") for name, _, _ in SPECS}
    assert any(name == "kuwahara" for name, _, _ in SPECS)


@pytest.mark.parametrize("arch", CHECK_ARCHS)
@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_compiles_without_spills(spec, arch):
    name, defines, name_expressions = spec
    report = nvrtc_compile(full_source(name, defines), arch, name=f"{name}.cu",
                           name_expressions=name_expressions)
    assert report.functions, f"ptxas reported no kernel for {name}:\n{report.log}"
    assert not report.spills, f"{name} spills registers on {arch}: {report.spills}\n{report.log}"


@pytest.mark.parametrize("mode", ["octant", "shifted"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kuwahara_gpu_radius_limit_is_the_compilers(dtype, mode):
    """The largest radius the GPU path accepts compiles, its shared tile is what ptxas reports, and
    one more is refused by ptxas too (so the Python formula is the .cu's, not merely cautious)."""
    from facies.kernels.kuwahara_cuda import (CUDA_SPECIALISATIONS, SHARED_MEMORY_LIMIT, kuwahara_defines,
                                              largest_gpu_radius, shared_memory_bytes)

    r = largest_gpu_radius(dtype, mode)
    defines = kuwahara_defines(dtype, (r, r, r), mode)
    assert ("kuwahara", defines, ()) in CUDA_SPECIALISATIONS  # compiled on every arch by the test above
    report = nvrtc_compile(full_source("kuwahara", defines), "sm_90", name="kuwahara.cu")
    stats_section = report.log.split("'kuwahara_box_stats' for")[1].split("Compiling entry function")[0]
    assert f"{shared_memory_bytes(dtype, (r, r, r), mode)} bytes smem" in stats_section
    bigger = shared_memory_bytes(dtype, (r + 1,) * 3, mode)
    assert bigger > SHARED_MEMORY_LIMIT
    with pytest.raises(RuntimeError, match=f"too much shared data \\({bigger:#x} bytes"):
        nvrtc_compile(full_source("kuwahara", kuwahara_defines(dtype, (r + 1,) * 3, mode)), "sm_90",
                      name="kuwahara.cu")
