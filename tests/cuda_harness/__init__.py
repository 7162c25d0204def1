"""Run the real CUDA sources on the CPU, through the same Python launch code as on a GPU (tests only).

- :mod:`~tests.cuda_harness.build`: the exact text NVRTC compiles, built with g++ against ``cuda_host.h``
  (blocks in sequence, threads as fibers, ``__syncthreads`` a real barrier, shared memory poisoned per block),
  in the plain mode or with AddressSanitizer and UndefinedBehaviorSanitizer;
- :mod:`~tests.cuda_harness.runtime`: kernels launched like ``cupy.RawKernel`` on NumPy arrays, swapped in for
  the GPU through :func:`facies.kernels.cuda_build.use_backend` (:func:`cuda_on_cpu`);
- :mod:`~tests.cuda_harness.declared`: the sources, kernels and specialisations the kernel packages declare;
- :mod:`~tests.cuda_harness.plugin`: the pytest fixtures and the ``cuda_kernels`` marker;
- :mod:`~tests.cuda_harness.broken`: deliberately broken copies of the kernels, which the harness must catch.

docs/design.md, "CUDA kernels on the CPU", says what it proves and what it cannot.
"""

from tests.cuda_harness.build import CompileError, build, kernel_names, sanitizer_environment, sanitizing
from tests.cuda_harness.runtime import H100, LAUNCHES, CpuKernel, CpuModule, HarnessBackend, cuda_on_cpu, fake_cupy

__all__ = ["H100", "LAUNCHES", "CompileError", "CpuKernel", "CpuModule", "HarnessBackend", "build", "cuda_on_cpu",
           "fake_cupy", "kernel_names", "sanitizer_environment", "sanitizing"]
