"""Compile a CUDA source for the host: the exact text NVRTC compiles, against ``cuda_host.h``, with g++ (tests only).

:func:`build` writes the source (``#define`` preamble + ``.cu``), generates one ``extern "C"`` launcher per
``extern "C" __global__`` kernel it declares, and compiles that with g++ (C++20, ``-ffp-contract=off``) into a
shared library cached by the hash of source, header and flags. Two modes: the plain one, and the sanitizer mode
(:data:`SANITIZE_FLAGS`), which runs only in a child process started with :func:`sanitizer_environment`.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE / "cuda_host.h"
CXXFLAGS = ("-std=c++20", "-O1", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden", "-shared", "-fPIC",
            "-w")
#: Added in the sanitizer mode: AddressSanitizer (reads and writes outside an array, NumPy's included, as the
#: process runs with libasan preloaded) and UndefinedBehaviorSanitizer (an index outside a fixed-size array such
#: as a shared tile, signed overflow, bad shifts...), every report fatal. -O0 (after -O1, so it wins): the
#: sanitized builds compile three times faster than at -O1 and the cases they run are small.
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g",
                  "-O0", "-DCUDA_HOST_SANITIZE=1")
#: Set to 1 in the environment of a process that runs with :func:`sanitizer_environment` (tests only).
SANITIZE_ENV = "FACIES_CUDA_HARNESS_SANITIZE"

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+([A-Za-z_]\w*)\s*\(')


def kernel_names(code: str) -> list[str]:
    """The ``extern "C" __global__`` kernels of a source, in order (comments ignored)."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", code, flags=re.DOTALL)
    return list(dict.fromkeys(_KERNEL.findall(code)))


class CompileError(RuntimeError):
    """g++ refused a source (its message says why: often a CUDA feature cuda_host.h does not model)."""


def sanitizing() -> bool:
    """Whether this process builds and runs the sanitizer mode (it must have been started with
    :func:`sanitizer_environment`: a sanitized library cannot be loaded into a Python without libasan)."""
    return os.environ.get(SANITIZE_ENV) == "1"


def compiler_flags(sanitize: bool | None = None) -> tuple[str, ...]:
    """g++ flags of the plain mode, or of the sanitizer mode (default: :func:`sanitizing`)."""
    return CXXFLAGS + (SANITIZE_FLAGS if (sanitizing() if sanitize is None else sanitize) else ())


def libasan() -> str | None:
    """Path of g++'s AddressSanitizer runtime, or None where it is not installed."""
    try:
        found = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    path = found.stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def sanitizer_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a child process that runs the sanitizer mode: libasan preloaded (it must come before every
    other library), Python's own allocations not reported as leaks, the first report fatal."""
    asan = libasan()
    if asan is None:
        raise RuntimeError("g++ has no libasan.so: the sanitizer mode cannot run here")
    env = dict(os.environ if base is None else base)
    env.update({"LD_PRELOAD": asan, SANITIZE_ENV: "1",
                "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86",
                "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87"})
    return env


def build(code: str, cache_dir: Path, flags: tuple[str, ...] | None = None) -> Path:
    """The shared library of ``code`` (built once; cached in ``cache_dir`` by the hash of code, header and flags)."""
    header = HEADER.read_text()
    flags = compiler_flags() if flags is None else flags
    key = hashlib.sha256("\0".join((code, header, *flags)).encode()).hexdigest()[:20]
    lib = cache_dir / f"k_{key}.so"
    if lib.exists():
        return lib
    names = kernel_names(code)
    if not names:
        raise CompileError('no extern "C" __global__ kernel in the source')
    cache_dir.mkdir(parents=True, exist_ok=True)
    cu = cache_dir / f"k_{key}.cu"
    cu.write_text(code)
    wrapper = cache_dir / f"k_{key}.cpp"
    wrapper.write_text(f'#include "{HEADER}"\n#include "{cu}"\n' + "".join(f"CUDA_HOST_KERNEL({n})\n" for n in names))
    tmp = lib.with_name(f"{lib.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    done = subprocess.run(["g++", *flags, "-o", str(tmp), str(wrapper)], capture_output=True, text=True)
    if done.returncode:
        raise CompileError(f"g++ could not compile {cu}:\n{done.stderr[-4000:]}")
    tmp.replace(lib)  # atomic: a concurrent build of the same key is harmless
    return lib
