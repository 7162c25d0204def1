"""What the kernel packages declare: their ``_cuda`` modules, CUDA sources and specialisations (tests only).

Convention: every algorithm package of ``facies.kernels`` keeps its ``.cu`` sources beside its ``_cuda.py``
module, which exposes ``CUDA_SPECIALISATIONS``, a list of ``(source name, defines, name_expressions)``; a
source's name is its path under ``kernels/`` (``"gmm/gmm.cu"``). The NVRTC compile test and the CPU harness's
coverage guard both start from here.
"""

from __future__ import annotations

import importlib
import pkgutil

import facies.kernels as kernels_pkg
from facies.kernels.cuda_build import read_source, source_name, sources
from tests.cuda_harness.build import kernel_names

#: Sources that exist today: discovery must find at least these (so a guard cannot pass on nothing).
KNOWN_SOURCES = {"kuwahara/kuwahara.cu", "gmm/gmm.cu", "gtm/gtm.cu", "coherence/coherence.cu", "structure/structure.cu",
                 "glcm/glcm.cu"}


def cuda_modules() -> list:
    """The ``_cuda`` module of every (sub)package of ``facies.kernels``."""
    return [importlib.import_module(info.name)
            for info in pkgutil.walk_packages(kernels_pkg.__path__, f"{kernels_pkg.__name__}.")
            if info.name.rsplit(".", 1)[-1] == "_cuda"]


def declared_specialisations() -> list[tuple[str, dict, tuple]]:
    """Every specialisation the ``_cuda`` modules declare, and only those."""
    return [(name, dict(defines), tuple(exprs))
            for module in cuda_modules()
            for name, defines, exprs in getattr(module, "CUDA_SPECIALISATIONS", [])]


def kernels_on_disk() -> dict[str, list[str]]:
    """Every ``extern "C" __global__`` kernel of every ``.cu`` file under ``kernels/``, by source name."""
    return {source_name(path): kernel_names(read_source(source_name(path))) for path in sources()}
