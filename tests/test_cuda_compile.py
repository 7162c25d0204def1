"""Every CUDA source compiles with NVRTC for sm_80 and sm_90, without register spills (no GPU needed).

Convention: every algorithm package of ``facies.kernels`` keeps its ``.cu`` sources beside its
``_cuda.py`` module, which exposes ``CUDA_SPECIALISATIONS``, a list of ``(source name, defines,
name_expressions)``; a source's name is its path under ``kernels/`` (``"gmm/gmm.cu"``). This test
compiles each for every architecture of ``CHECK_ARCHS`` with ``-Xptxas -v``.

The ``.cu`` files found on disk must be exactly the sources the ``_cuda`` modules declare: a new
source that no module declares fails :func:`test_every_source_on_disk_is_declared` (it would
never be compiled here, nor loaded at run time); nothing is filled in for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facies.kernels.cuda_build import CHECK_ARCHS, KERNELS_DIR, full_source, nvrtc_compile, source_name, sources
from tests.cuda_harness.declared import KNOWN_SOURCES, cuda_modules, declared_specialisations

SPECS = declared_specialisations()


@pytest.fixture
def nvrtc():
    return pytest.importorskip("cuda.bindings.nvrtc", reason="NVRTC (cuda-bindings) not installed")


def _id(spec) -> str:
    name, defines, _ = spec
    return name + "[" + ",".join(f"{k}={v}" for k, v in sorted(defines.items())) + "]"


def test_every_source_on_disk_is_declared():
    """The .cu files under kernels/ are exactly the declared sources, each beside the module that declares it."""
    on_disk = {source_name(path) for path in sources()}
    assert KNOWN_SOURCES <= on_disk, f"sources() did not find {sorted(KNOWN_SOURCES - on_disk)} under {KERNELS_DIR}"
    modules = cuda_modules()
    assert {m.__name__ for m in modules} >= {"facies.kernels.kuwahara._cuda", "facies.kernels.gmm._cuda"}
    for module in modules:
        specs = getattr(module, "CUDA_SPECIALISATIONS", None)
        # A CuPy-only backend (FFTs, cupyx.scipy) has no .cu beside it and declares an empty tuple.
        assert specs is not None, f"{module.__name__} declares no CUDA_SPECIALISATIONS"
        beside = sorted(Path(module.__file__).parent.glob("*.cu"))
        assert specs or not beside, f"{module.__name__} has {[p.name for p in beside]} beside it but declares none"
        for name, _, _ in specs:
            assert KERNELS_DIR / name == Path(module.__file__).parent / Path(name).name, \
                f"{module.__name__} declares {name}, which is not beside it"
    declared = {name for name, _, _ in SPECS}
    undeclared = sorted(on_disk - declared)
    assert not undeclared, (f"{undeclared} not declared in any _cuda.py's CUDA_SPECIALISATIONS: they would never "
                            f"be compiled by this test")
    missing = sorted(declared - on_disk)
    assert not missing, f"{missing} declared but not found under {KERNELS_DIR}"


@pytest.mark.parametrize("arch", CHECK_ARCHS)
@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_compiles_without_spills(nvrtc, spec, arch):
    name, defines, name_expressions = spec
    report = nvrtc_compile(full_source(name, defines), arch, name=Path(name).name,
                           name_expressions=name_expressions)
    assert report.functions, f"ptxas reported no kernel for {name}:\n{report.log}"
    assert not report.spills, f"{name} spills registers on {arch}: {report.spills}\n{report.log}"


@pytest.mark.parametrize("mode", ["octant", "shifted"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kuwahara_gpu_radius_limit_is_the_compilers(nvrtc, dtype, mode):
    """The largest radius the GPU path accepts compiles, its shared tile is what ptxas reports, and
    one more is refused by ptxas too (so the Python formula is the .cu's, not merely cautious)."""
    from facies.kernels.kuwahara._cuda import (CUDA_SPECIALISATIONS, SHARED_MEMORY_LIMIT, SOURCE, kuwahara_defines,
                                               largest_gpu_radius, shared_memory_bytes)

    r = largest_gpu_radius(dtype, mode)
    defines = kuwahara_defines(dtype, (r, r, r), mode)
    assert (SOURCE, defines, ()) in CUDA_SPECIALISATIONS  # compiled on every arch by the test above
    report = nvrtc_compile(full_source(SOURCE, defines), "sm_90", name="kuwahara.cu")
    stats_section = report.log.split("'kuwahara_box_stats' for")[1].split("Compiling entry function")[0]
    assert f"{shared_memory_bytes(dtype, (r, r, r), mode)} bytes smem" in stats_section
    bigger = shared_memory_bytes(dtype, (r + 1,) * 3, mode)
    assert bigger > SHARED_MEMORY_LIMIT
    with pytest.raises(RuntimeError, match=f"too much shared data \\({bigger:#x} bytes"):
        nvrtc_compile(full_source(SOURCE, kuwahara_defines(dtype, (r + 1,) * 3, mode)), "sm_90",
                      name="kuwahara.cu")


def test_the_check_compiles_with_the_options_of_the_run():
    """What NVRTC checks is what runs: get_module's options plus those CuPy appends itself (-ftz=true)."""
    import inspect

    from facies.kernels import cuda_build

    run_time = inspect.signature(cuda_build.get_module).parameters["options"].default
    check = inspect.signature(cuda_build.nvrtc_compile).parameters["options"].default
    assert "-ftz=true" in cuda_build.CUPY_ADDED_OPTIONS
    assert check == run_time + cuda_build.CUPY_ADDED_OPTIONS
