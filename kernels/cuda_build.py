"""Loading the CUDA sources of the algorithm packages: CuPy modules at run time, NVRTC checks in CI.

Each algorithm package keeps its ``.cu`` file beside the ``_cuda.py`` module that loads it
(``kernels/kuwahara/kuwahara.cu``, ``kernels/gmm/gmm.cu``), as cuCIM and ``cupyx.scipy.ndimage``
do. A source is named by its path under ``kernels/`` (``"kuwahara/kuwahara.cu"``): the name its
``_cuda.py`` passes here and lists in ``CUDA_SPECIALISATIONS``.

Each ``.cu`` file is specialised by a small preamble of ``#define`` lines (dtype, window
radii...) placed before the source, like cuCIM and ``cupyx.scipy.ndimage`` do. At run time
:func:`get_module` compiles it once per device and preamble with ``cupy.RawModule``. Without a
GPU, :func:`nvrtc_compile` compiles the same text with NVRTC (from the ``cuda-bindings`` and
``nvidia-cuda-nvrtc`` wheels) for a given architecture with ``-Xptxas -v`` and returns the
ptxas report, so CI can check that every kernel compiles for sm_80 and sm_90 and does not spill.

The launch code asks this module for two things only: :func:`get_module` (the compiled module) and
:func:`device_attributes` (SM count, shared memory per block, read once per device). Both go
through one :class:`Backend`, CuPy by default; :func:`use_backend` swaps it, which is how the tests
run the real ``.cu`` text on the CPU (``tests/cuda_harness``, docs/design.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

#: The ``kernels/`` folder (``facies.kernels``): source names are paths relative to it.
KERNELS_DIR = Path(__file__).resolve().parent
#: Architectures every source must compile for (A100 and H100/H200).
CHECK_ARCHS = ("sm_80", "sm_90")
#: Options :func:`get_module` passes to ``cupy.RawModule``.
MODULE_OPTIONS = ("--std=c++17",)
#: Options CuPy appends to every NVRTC compilation itself (``_compile_with_cache_cuda`` adds ``-ftz=true``
#: unconditionally): float32 subnormals are flushed to zero on the GPU (docs/kuwahara.md). The NVRTC check
#: compiles with them too, so it checks the code that runs.
CUPY_ADDED_OPTIONS = ("-ftz=true",)


def sources() -> list[Path]:
    """Every ``.cu`` file under ``kernels/`` (in any algorithm package), as shipped with the package."""
    return sorted(KERNELS_DIR.rglob("*.cu"))


def source_name(path: Path) -> str:
    """The name of the source at ``path``: its path under ``kernels/`` with ``/`` separators, ``"gmm/gmm.cu"``."""
    return Path(path).resolve().relative_to(KERNELS_DIR).as_posix()


@lru_cache(maxsize=None)
def read_source(name: str) -> str:
    """Text of the source ``name``, the file ``kernels/<name>`` (``"kuwahara/kuwahara.cu"``)."""
    return (KERNELS_DIR / name).read_text()


def preamble(defines: Mapping[str, object]) -> str:
    """``#define`` lines for a specialisation, in a stable order (it is part of the cache key)."""
    return "".join(f"#define {k} {v}\n" for k, v in sorted(defines.items()))


def full_source(name: str, defines: Mapping[str, object] | None = None) -> str:
    """Preamble + source: exactly what is compiled, on a GPU or by NVRTC."""
    return preamble(defines or {}) + read_source(name)


@dataclass(frozen=True)
class DeviceAttributes:
    """The device figures the launch code needs, read once per device (:func:`device_attributes`)."""

    #: Streaming multiprocessors (grid-stride kernels launch a multiple of this many blocks).
    multiprocessor_count: int
    #: Shared memory a block may use without opting in (48 KiB on every architecture so far).
    shared_memory_per_block: int
    #: Shared memory a block may use after opting in (``cudaFuncAttributeMaxDynamicSharedMemorySize``).
    shared_memory_per_block_optin: int


class Backend(Protocol):
    """Where modules are compiled and device figures come from: CuPy on a GPU (:class:`CupyBackend`);
    the tests' CPU execution harness (``tests/cuda_harness``) installs another with :func:`use_backend`."""

    def device_id(self) -> int: ...

    def compile(self, code: str, options: tuple[str, ...]) -> Any: ...

    def attributes(self, device_id: int) -> DeviceAttributes: ...


class CupyBackend:
    """``cupy.RawModule`` on the current CuPy device."""

    def device_id(self) -> int:
        import cupy  # noqa: PLC0415 - GPU path only

        return int(cupy.cuda.Device().id)

    def compile(self, code: str, options: tuple[str, ...]) -> Any:
        import cupy  # noqa: PLC0415

        return cupy.RawModule(code=code, options=options)

    def attributes(self, device_id: int) -> DeviceAttributes:
        import cupy  # noqa: PLC0415

        # CuPy's Device.attributes queries every attribute (~108 driver calls): done once per device here.
        a = cupy.cuda.Device(device_id).attributes
        return DeviceAttributes(multiprocessor_count=int(a["MultiProcessorCount"]),
                                shared_memory_per_block=int(a["MaxSharedMemoryPerBlock"]),
                                shared_memory_per_block_optin=int(a["MaxSharedMemoryPerBlockOptin"]))


_backend: Backend = CupyBackend()
#: (device, source name, defines, options) -> module; (device) -> attributes. Emptied when the backend changes.
_modules: dict[tuple, Any] = {}
_attributes: dict[int, DeviceAttributes] = {}
_lock = threading.Lock()


@contextmanager
def use_backend(backend: Backend) -> Iterator[Backend]:
    """Compile modules and read device figures with ``backend`` inside the ``with`` block (the caches
    are emptied on the way in and out, so nothing compiled by one backend is launched by another)."""
    global _backend  # noqa: PLW0603 - the one switch of this module
    with _lock:
        previous, _backend = _backend, backend
        _modules.clear()
        _attributes.clear()
    try:
        yield backend
    finally:
        with _lock:
            _backend = previous
            _modules.clear()
            _attributes.clear()


def device_attributes() -> DeviceAttributes:
    """Figures of the current device (SM count, shared memory per block), read once per device."""
    backend = _backend
    device = backend.device_id()
    found = _attributes.get(device)
    if found is None:
        found = _attributes[device] = backend.attributes(device)
    return found


def get_module(name: str, defines: Mapping[str, object] | None = None, *,
               options: tuple[str, ...] = MODULE_OPTIONS):
    """A compiled module (a ``cupy.RawModule`` on a GPU) for ``name`` specialised by ``defines``, cached per device.

    CuPy itself caches compiled binaries on disk by source text; this in-process cache keeps one
    module object per (device, source, options) so kernels are looked up, not recompiled.
    """
    backend = _backend
    key = (backend.device_id(), name, tuple(sorted((defines or {}).items())), options)
    module = _modules.get(key)
    if module is None:
        module = backend.compile(full_source(name, defines), options)
        with _lock:
            if backend is _backend:
                module = _modules.setdefault(key, module)
    return module


@dataclass(frozen=True)
class PtxasReport:
    """What ptxas said about each kernel of one compilation."""

    arch: str
    log: str
    #: kernel name -> (registers, spill store bytes, spill load bytes, stack frame bytes)
    functions: dict

    @property
    def spills(self) -> dict:
        """Kernels that spill registers to local memory: name -> (stores, loads)."""
        return {k: (v[1], v[2]) for k, v in self.functions.items() if v[1] or v[2]}


_FUNC = re.compile(r"Compiling entry function '([^']+)' for")
_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")


def parse_ptxas(log: str, arch: str) -> PtxasReport:
    """Parse ``-Xptxas -v`` output into registers and spills per kernel."""
    functions, current, stack, stores, loads = {}, None, 0, 0, 0
    for line in log.splitlines():
        if m := _FUNC.search(line):
            current = m.group(1)
        elif (m := _SPILL.search(line)) and current:
            stack, stores, loads = (int(g) for g in m.groups())
        elif (m := _REGS.search(line)) and current:
            functions[current] = (int(m.group(1)), stores, loads, stack)
            current = None
    return PtxasReport(arch=arch, log=log, functions=functions)


def nvrtc_compile(code: str, arch: str, *, name: str = "kernel.cu",
                  options: tuple[str, ...] = MODULE_OPTIONS + CUPY_ADDED_OPTIONS,
                  name_expressions: tuple[str, ...] = ()) -> PtxasReport:
    """Compile CUDA C++ with NVRTC to a cubin for ``arch`` (no GPU needed) and parse ptxas's report.

    Parameters
    ----------
    code : str
        Full source (preamble included).
    arch : str
        ``"sm_80"``, ``"sm_90"``...
    options : tuple of str
        NVRTC options; by default exactly those the code gets at run time (:data:`MODULE_OPTIONS`, and
        :data:`CUPY_ADDED_OPTIONS` that CuPy appends).
    name_expressions : tuple of str
        Template instantiations to compile (``"kernel<float>"``), as CuPy's ``name_expressions``.

    Raises
    ------
    RuntimeError
        With NVRTC's log when the source does not compile.
    """
    from cuda.bindings import nvrtc  # noqa: PLC0415 - test/CI path only

    def check(result, what):
        err = result[0]
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC {what} failed: {err}")
        return result[1:] if len(result) > 2 else (result[1] if len(result) == 2 else None)

    prog = check(nvrtc.nvrtcCreateProgram(code.encode(), name.encode(), 0, [], []), "create")
    for expr in name_expressions:
        check(nvrtc.nvrtcAddNameExpression(prog, expr.encode()), "add name expression")
    opts = [f"--gpu-architecture={arch}".encode(), b"-Xptxas", b"-v", *(o.encode() for o in options)]
    result = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    size = check(nvrtc.nvrtcGetProgramLogSize(prog), "log size")
    buf = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, buf)
    log = buf.decode(errors="replace").rstrip("\x00 ")
    if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"{name} does not compile for {arch}:\n{log}")
    nvrtc.nvrtcDestroyProgram(prog)
    return parse_ptxas(log, arch)
