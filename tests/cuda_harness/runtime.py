"""Launch host-compiled kernels like CuPy does, and swap them in for the GPU (tests only).

:class:`HarnessBackend` is a :class:`facies.kernels.cuda_build.Backend`: ``compile`` builds the source
(:func:`tests.cuda_harness.build.build`) and returns a :class:`CpuModule` whose ``get_function(name)`` is
called like ``cupy.RawKernel``: ``kernel(grid, block, args, shared_mem=0)``. Arguments are checked against the
kernel's parameter types as C++ sees them (pointer element dtype, scalar kind and width, C-contiguity), so a
marshalling mistake in the wrapper fails here instead of reading garbage on the GPU. Every launch is recorded in
:data:`LAUNCHES`.

:func:`cuda_on_cpu` installs it with :func:`~facies.kernels.cuda_build.use_backend` and puts
:func:`fake_cupy` (NumPy under CuPy's names) in ``sys.modules["cupy"]`` for the duration, so the
``_cuda.py`` wrappers run unchanged on NumPy arrays. Device figures are an H100's.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import types
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from facies.kernels.cuda_build import DeviceAttributes, use_backend
from tests.cuda_harness.build import build, compiler_flags

#: An H100 SXM: 132 SMs, 48 KiB of shared memory per block by default, 227 KiB (232,448 bytes) opting in.
H100 = DeviceAttributes(multiprocessor_count=132, shared_memory_per_block=48 * 1024,
                        shared_memory_per_block_optin=232448)
MAX_THREADS_PER_BLOCK = 1024
_NUMPY_KIND = {"f": "f", "i": "i", "u": "u", "b": "b"}
#: Every launch in this process, through any harness backend: (source text compiled, kernel name).
LAUNCHES: list[tuple[str, str]] = []


def _scalar_type(code: str):
    kind, size = code[0], int(code[1:])
    table = {("f", 4): ctypes.c_float, ("f", 8): ctypes.c_double, ("b", 1): ctypes.c_bool,
             ("i", 1): ctypes.c_int8, ("i", 2): ctypes.c_int16, ("i", 4): ctypes.c_int32, ("i", 8): ctypes.c_int64,
             ("u", 1): ctypes.c_uint8, ("u", 2): ctypes.c_uint16, ("u", 4): ctypes.c_uint32,
             ("u", 8): ctypes.c_uint64}
    if (kind, size) not in table:
        raise TypeError(f"parameter type code {code!r} is not marshalled by the harness")
    return table[kind, size]


def _dims(value, what: str) -> tuple[int, int, int]:
    dims = (int(value),) if np.isscalar(value) else tuple(int(v) for v in value)
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise ValueError(f"{what} must be 1 to 3 positive ints, got {value!r}")
    return (*dims, *(1,) * (3 - len(dims)))  # type: ignore[return-value]


class CpuKernel:
    """One kernel of a :class:`CpuModule`, called like ``cupy.RawKernel``."""

    def __init__(self, lib: ctypes.CDLL, name: str, attributes: DeviceAttributes, code: str = ""):
        self.name = name
        self.code = code
        self.attributes = attributes
        try:
            signature = getattr(lib, f"cuda_host_signature_{name}")
        except AttributeError:
            raise AttributeError(f'no extern "C" __global__ kernel named {name!r} in the module') from None
        signature.restype = ctypes.c_char_p
        self.params = signature().decode().split(",") if signature() else []
        self._launch = getattr(lib, f"cuda_host_launch_{name}")
        self._launch.restype = ctypes.c_int
        self._error = lib.cuda_host_error
        self._error.restype = ctypes.c_char_p
        #: Launches so far: (grid, block) of each, for tests of the launch geometry.
        self.launches: list[tuple[tuple[int, int, int], tuple[int, int, int]]] = []

    def _marshal(self, i: int, code: str, value):
        where = f"{self.name} argument {i} ({code})"
        if code.startswith("p"):
            if not isinstance(value, np.ndarray):
                raise TypeError(f"{where}: a device array was expected, got {type(value).__name__}")
            if not value.flags.c_contiguous:
                raise ValueError(f"{where}: the array is not C-contiguous (the kernel would read it as if it were)")
            elem = code[1:]
            if elem != "v0" and (value.dtype.kind != _NUMPY_KIND.get(elem[0], "?")
                                 or value.dtype.itemsize != int(elem[1:])):
                raise TypeError(f"{where}: array of dtype {value.dtype} passed for a pointer to {elem}")
            return ctypes.c_void_p(value.ctypes.data)
        # CuPy passes a NumPy scalar by its dtype, a Python int as int64, a float as double, a bool as bool.
        if isinstance(value, np.generic):
            dtype = value.dtype
        elif isinstance(value, bool):
            dtype = np.dtype(np.bool_)
        elif isinstance(value, int):
            dtype = np.dtype(np.int64)
        elif isinstance(value, float):
            dtype = np.dtype(np.float64)
        else:
            raise TypeError(f"{where}: cannot pass {type(value).__name__}")
        if dtype.kind != code[0] or dtype.itemsize != int(code[1:]):
            raise TypeError(f"{where}: passed as {dtype} ({dtype.itemsize} bytes); the kernel reads {code}")
        return _scalar_type(code)(value.item() if isinstance(value, np.generic) else value)

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None, enable_cooperative_groups=False):
        grid3, block3 = _dims(grid, "grid"), _dims(block, "block")
        threads = block3[0] * block3[1] * block3[2]
        if threads > MAX_THREADS_PER_BLOCK or block3[2] > 64:
            raise ValueError(f"{self.name}: block {block3} exceeds CUDA's limits (1024 threads, z <= 64)")
        if grid3[0] >= 2**31 or grid3[1] > 65535 or grid3[2] > 65535:
            raise ValueError(f"{self.name}: grid {grid3} exceeds CUDA's limits")
        if shared_mem:
            raise NotImplementedError("dynamic shared memory (extern __shared__) is not modelled by the harness")
        args = tuple(args)
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, {len(args)} given")
        values = [self._marshal(i, code, a) for i, (code, a) in enumerate(zip(self.params, args))]
        pointers = (ctypes.c_void_p * max(1, len(values)))(*(ctypes.cast(ctypes.byref(v), ctypes.c_void_p)
                                                             for v in values))
        self.launches.append((grid3, block3))
        LAUNCHES.append((self.code, self.name))
        if self._launch((ctypes.c_uint * 3)(*grid3), (ctypes.c_uint * 3)(*block3), pointers):
            raise RuntimeError(f"{self.name}: {self._error().decode()}")


class CpuModule:
    """A compiled source, like ``cupy.RawModule``."""

    def __init__(self, lib_path: Path, attributes: DeviceAttributes, code: str = ""):
        self.path = lib_path
        self.code = code
        self._lib = ctypes.CDLL(str(lib_path))
        self._attributes = attributes
        self._kernels: dict[str, CpuKernel] = {}

    def get_function(self, name: str) -> CpuKernel:
        if name not in self._kernels:
            self._kernels[name] = CpuKernel(self._lib, name, self._attributes, self.code)
        return self._kernels[name]


class HarnessBackend:
    """A :class:`facies.kernels.cuda_build.Backend` that compiles with g++ and runs on the CPU.

    Parameters
    ----------
    cache_dir : Path
        Where the shared libraries are built and kept.
    attributes : DeviceAttributes
        The device figures the wrappers read (an H100's by default).
    flags : tuple of str, optional
        g++ flags; by default the plain mode's, or the sanitizer mode's in a process started for it.
    """

    def __init__(self, cache_dir: Path, attributes: DeviceAttributes = H100, flags: tuple[str, ...] | None = None):
        self.cache_dir = Path(cache_dir)
        self.flags = compiler_flags() if flags is None else tuple(flags)
        self._attributes = attributes
        self._modules: dict[str, CpuModule] = {}
        self._lock = threading.Lock()
        #: Every module compiled (or found built) through this backend, by source text.
        self.compiled: list[str] = []

    def device_id(self) -> int:
        return 0

    def attributes(self, device_id: int) -> DeviceAttributes:
        return self._attributes

    def compile(self, code: str, options: tuple[str, ...]) -> CpuModule:
        with self._lock:
            if code not in self._modules:
                self._modules[code] = CpuModule(build(code, self.cache_dir, self.flags), self._attributes, code)
                self.compiled.append(code)
            return self._modules[code]

    def prebuild(self, codes: Iterable[str], workers: int | None = None) -> None:
        """Build several sources in parallel (g++ processes), before the tests launch them one by one."""
        todo = list(dict.fromkeys(codes))
        with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda c: build(c, self.cache_dir, self.flags), todo))


def fake_cupy() -> types.ModuleType:
    """NumPy under the CuPy names the ``_cuda.py`` wrappers use (arrays stay NumPy arrays)."""
    cp = types.ModuleType("cupy")
    cp.__dict__.update({name: getattr(np, name) for name in (
        "ascontiguousarray", "asarray", "empty", "empty_like", "zeros", "zeros_like", "ones", "full", "ndarray",
        "uint8", "uint32", "uint64", "int32", "int64", "float32", "float64", "bool_")})
    cp.asnumpy = np.asarray  # type: ignore[attr-defined]

    class Device:  # only the id: device figures come from cuda_build.device_attributes()
        id = 0

        def __init__(self, device=0):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    cp.cuda = types.SimpleNamespace(Device=Device)  # type: ignore[attr-defined]
    return cp


@contextmanager
def cuda_on_cpu(backend: HarnessBackend) -> Iterator[HarnessBackend]:
    """Inside: ``cuda_build`` compiles with ``backend`` and ``import cupy`` gives :func:`fake_cupy`."""
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = fake_cupy()
    try:
        with use_backend(backend):
            yield backend
    finally:
        if saved is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved
