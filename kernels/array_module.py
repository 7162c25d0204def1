"""Which array library owns an array: NumPy, or CuPy on the GPU path.

It lives in ``kernels/`` because kernels must not import the engine (DESIGN.md: cli -> engine ->
kernels); :mod:`facies.engine.backend` re-exports :func:`array_module`. CuPy is imported only
when the array already is a CuPy array, so the CPU path never imports it.
"""

from __future__ import annotations

import contextlib
from types import ModuleType

import numpy as np


def is_cupy(array) -> bool:
    """Whether ``array`` is a CuPy array (checked by the type's module name, without importing CuPy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def array_module(array) -> ModuleType:
    """``cupy`` for a CuPy array, ``numpy`` for anything else (arrays, scalars, lists)."""
    if is_cupy(array):
        import cupy  # noqa: PLC0415 - only reached with a CuPy array in hand

        return cupy
    return np


def quiet(xp):
    """A context that silences NumPy's overflow/invalid/divide warnings; a no-op for CuPy (which never warns).

    The kernels meet such values only in fits or windows that are flagged invalid afterwards, so
    the warnings would be noise.
    """
    if xp is np:
        return np.errstate(invalid="ignore", over="ignore", divide="ignore")
    return contextlib.nullcontext()
