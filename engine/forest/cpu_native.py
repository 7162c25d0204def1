"""The compiled CPU kernel of forest prediction: a small C walker, compiled once per machine and cached.

The kernel (:data:`SOURCE`) walks a :class:`~facies.engine.forest.cpu_layout.TraversalLayout` one tree at a
time over blocks of :data:`BLOCK_ROWS` rows, as scikit-learn applies one tree to all rows, so a tree's nodes
(16 bytes each) stay in cache while the block's rows pass through it. Within a block, :data:`GROUP` rows walk
side by side with no branch (``node = child + (x > threshold)``, exactly the tree's depth in steps): their
loads are independent, so the processor overlaps them instead of waiting on one chain of loads and
mispredicted branches. Probabilities are summed over the trees in order in float64 and divided by the tree
count, as ``predict_proba`` does.

The source is the same for every model: the model reaches it only as arrays (checked by
:func:`~facies.engine.forest.cpu_layout.check_layout`), so nothing is compiled per model and a library is
never made from a store's contents. It is compiled with the C compiler of ``$FACIES_CC``, else ``$CC``, else
``cc``, ``gcc`` or ``clang`` on the ``PATH``, at its first use on a machine, and cached in the user's cache
(:mod:`.cpu_cache`) under the hash of the source, flags and compiler. Without a compiler, or when it fails,
:func:`load_kernel` returns None (one log line says why) and :mod:`.cpu_predict` walks the trees in NumPy.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from facies.engine.forest import cpu_cache
from facies.engine.forest.cpu_layout import NODE_DTYPE

log = logging.getLogger("facies")

#: Rows of a block: every tree walks the whole block before the next tree starts, so the block's rows (4 bytes
#: per attribute) and sums (8 bytes per class) stay in a core's second-level cache with the tree (16 bytes a
#: node), and the forest passes through the cache once per block. Measured on the 2-core VM (100 trees of depth
#: 16, 9 attributes, 2 MiB of L2 a core): 256 rows 2 to 4 times slower than 8192 (the forest, 10 MB, came from
#: the third-level cache once per 256 rows); 16 384 the same as 8192.
BLOCK_ROWS = 8192
#: Rows walking a tree side by side (16 measured faster than 8 and 32).
GROUP = 16
#: Bumped when the C function's arguments change (a library of another version is never called).
ABI_VERSION = 1

SOURCE = r"""
#include <stdint.h>
#include <string.h>

typedef struct { float threshold; int32_t feature; int32_t child; int32_t value_row; } facies_node;

enum { BLOCK_ROWS = %(block)d, GROUP = %(group)d };

int64_t facies_forest_abi(void) { return %(abi)d * 1000 + (int64_t)sizeof(facies_node); }

/* Probabilities (n x n_classes, float64) of the rows x (n x d, float32): the leaf vectors of every tree summed
   in tree order, divided by n_trees. Every index was checked by the caller (check_layout). */
void facies_forest_predict(const float *x, int64_t n, int64_t d, const facies_node *nodes,
                           const int32_t *roots, const int32_t *depths, int64_t n_trees,
                           const double *values, int64_t n_classes, double *out)
{
    for (int64_t start = 0; start < n; start += BLOCK_ROWS) {
        const int64_t m = n - start < BLOCK_ROWS ? n - start : BLOCK_ROWS;
        const float *xb = x + start * d;
        double *ob = out + start * n_classes;
        memset(ob, 0, sizeof(double) * (size_t)(m * n_classes));
        for (int64_t t = 0; t < n_trees; ++t) {
            const int32_t root = roots[t], depth = depths[t];
            for (int64_t r = 0; r < m; r += GROUP) {
                const int64_t g = m - r < GROUP ? m - r : GROUP;
                const float *row = xb + r * d;
                int32_t at[GROUP];
                for (int64_t j = 0; j < GROUP; ++j) at[j] = root;
                if (g == GROUP) {
                    for (int32_t level = 0; level < depth; ++level)
                        for (int64_t j = 0; j < GROUP; ++j) {
                            const facies_node *node = nodes + at[j];
                            at[j] = node->child + (row[j * d + node->feature] > node->threshold);
                        }
                } else {
                    for (int32_t level = 0; level < depth; ++level)
                        for (int64_t j = 0; j < g; ++j) {
                            const facies_node *node = nodes + at[j];
                            at[j] = node->child + (row[j * d + node->feature] > node->threshold);
                        }
                }
                for (int64_t j = 0; j < g; ++j) {
                    const double *leaf = values + (int64_t)nodes[at[j]].value_row * n_classes;
                    double *sum = ob + (r + j) * n_classes;
                    for (int64_t c = 0; c < n_classes; ++c) sum[c] += leaf[c];
                }
            }
        }
        for (int64_t i = 0; i < m * n_classes; ++i) ob[i] /= (double)n_trees;
    }
}
""" % {"block": BLOCK_ROWS, "group": GROUP, "abi": ABI_VERSION}

#: No fast-math (the sums must be scikit-learn's, in order) and no contraction; generic x86-64/aarch64 code, so
#: a cache in a home folder shared by machines of one architecture stays valid.
FLAGS = ("-O3", "-std=c99", "-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off")
#: Seconds a compile may take (it takes well under one).
COMPILE_TIMEOUT = 120

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}


def forget_loaded() -> None:
    """Forget the libraries loaded by this process, so the next :func:`load_kernel` looks in the cache again
    (benchmarks and tests of the cache; a library once loaded stays mapped)."""
    with _lock:
        _loaded.clear()


def compiler() -> list[str] | None:
    """The C compiler command: ``$FACIES_CC``, else ``$CC``, else the first of cc, gcc, clang on the PATH."""
    for variable in ("FACIES_CC", "CC"):
        if os.environ.get(variable):
            command = shlex.split(os.environ[variable])
            found = shutil.which(command[0]) if command else None
            return [found, *command[1:]] if found else None
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def _identity(command: list[str]) -> str | None:
    """What names the compiler in the cache key: its path, arguments and ``--version`` answer."""
    try:
        answer = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return json.dumps([command, answer.stdout.strip(), platform.machine()])


def cache_key(identity: str) -> str:
    """The library's key: the hash of the source, the flags and the compiler's identity."""
    return hashlib.sha256(json.dumps([SOURCE, FLAGS, identity]).encode()).hexdigest()


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel (cached in the process, then in the user's cache), or None when none can be made."""
    with _lock:
        command = compiler()
        slot = json.dumps(command)
        if slot not in _loaded:
            _loaded[slot] = _load(command)
        return _loaded[slot]


def _load(command: list[str] | None) -> ctypes.CDLL | None:
    if command is None:
        log.warning("no C compiler found (cc, gcc or clang; or set CC): forest prediction on the CPU walks the "
                    "trees in NumPy, several times slower")
        return None
    identity = _identity(command)
    if identity is None:
        log.warning("the C compiler %s does not answer --version: forest prediction on the CPU walks the trees in "
                    "NumPy", command[0])
        return None
    key = cache_key(identity)
    folder = cpu_cache.private_folder(cpu_cache.cache_root() / "compiled")
    data = cpu_cache.verified_bytes(folder, key) if folder is not None else None
    if data is None:
        if folder is not None:
            cpu_cache.remove_stale(folder)
        data = _compile(command, folder, key, identity)
        if data is None:
            return None
    try:
        with cpu_cache.private_copy(data, folder) as path:
            library = ctypes.CDLL(str(path))
        library.facies_forest_abi.restype = ctypes.c_int64
        interface = library.facies_forest_abi()
        predict = library.facies_forest_predict
    except (OSError, AttributeError) as exc:  # not a library, or not ours
        log.warning("the compiled forest kernel does not load (%s): forest prediction on the CPU walks the trees "
                    "in NumPy", exc)
        return None
    if interface != ABI_VERSION * 1000 + NODE_DTYPE.itemsize:
        log.warning("the compiled forest kernel has another interface: forest prediction on the CPU walks the "
                    "trees in NumPy")
        return None
    predict.restype = None
    predict.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
    return library


def _compile(command: list[str], folder: Path | None, key: str, identity: str) -> bytes | None:
    """Compile :data:`SOURCE`; publish it in ``folder`` (the cache) when there is one. Its bytes, or None."""
    with tempfile.TemporaryDirectory(prefix="facies-cc-") as scratch:
        source = Path(scratch) / "forest_walk.c"
        source.write_text(SOURCE)
        handle, name = tempfile.mkstemp(dir=folder or scratch, prefix=".build-", suffix=".so")
        os.close(handle)
        target = Path(name)
        published = False
        try:
            subprocess.run([*command, *FLAGS, "-o", str(target), str(source)], capture_output=True, text=True,
                           timeout=COMPILE_TIMEOUT, check=True)
            if folder is None:
                return target.read_bytes()
            data = cpu_cache.publish(folder, key, target, {"compiler": identity, "flags": list(FLAGS)})
            published = True  # the build's name is free now: another process's mkstemp may take it
            return data
        except subprocess.CalledProcessError as exc:
            first = (exc.stderr or exc.stdout or "").strip().splitlines()
            log.warning("the C compiler %s fails on the forest kernel (%s): forest prediction on the CPU walks "
                        "the trees in NumPy", command[0], first[0] if first else f"exit {exc.returncode}")
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("the forest kernel cannot be compiled (%s): forest prediction on the CPU walks the trees "
                        "in NumPy", exc)
        finally:
            if not published:
                target.unlink(missing_ok=True)
    return None


def predict_rows(library: ctypes.CDLL, arrays: dict, x: np.ndarray, out: np.ndarray) -> None:
    """Call the kernel on rows ``x`` (m, d) float32 C-contiguous into ``out`` (m, classes) float64 C-contiguous.

    ``arrays`` holds the layout's arrays as the kernel reads them (:func:`kernel_arrays`). ctypes releases
    the GIL during the call, so calls on disjoint rows run on threads.
    """
    library.facies_forest_predict(x.ctypes.data, x.shape[0], x.shape[1], arrays["nodes"].ctypes.data,
                                  arrays["roots"].ctypes.data, arrays["depths"].ctypes.data, arrays["roots"].size,
                                  arrays["values"].ctypes.data, arrays["values"].shape[1], out.ctypes.data)


def kernel_arrays(layout) -> dict:
    """The layout's arrays in the kernel's types (:data:`NODE_DTYPE` records, int32 roots and depths)."""
    return {"nodes": np.ascontiguousarray(layout.nodes()), "roots": np.ascontiguousarray(layout.roots, np.int32),
            "depths": np.ascontiguousarray(layout.depths, np.int32),
            "values": np.ascontiguousarray(layout.values, np.float64)}
