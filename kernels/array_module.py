"""Which array library owns an array (NumPy, or CuPy on the GPU path), and which implementation computes on it.

It lives in ``kernels/`` because kernels must not import the engine (docs/design.md: cli -> engine ->
kernels); :mod:`facies.engine.backend` re-exports :func:`array_module`. CuPy is imported only
when the array already is a CuPy array, so the CPU path never imports it.

:func:`implementation` is the one NumPy-or-CUDA dispatch of every algorithm package of
``facies.kernels`` (:mod:`~facies.kernels.kuwahara`, :mod:`~facies.kernels.gmm`).
"""

from __future__ import annotations

import contextlib
import importlib
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


def implementation(package: str, array) -> ModuleType:
    """The implementation module of an algorithm package that computes on ``array``.

    Every algorithm package of ``facies.kernels`` keeps its NumPy implementation in ``_numpy.py``
    and its CUDA one in ``_cuda.py`` (beside its ``.cu`` source), both with the same entry points;
    the package's public functions call the one that matches the array module of their input.

    Parameters
    ----------
    package : str
        The algorithm package, ``"facies.kernels.kuwahara"`` or ``"facies.kernels.gmm"`` (its
        modules pass their own ``__package__``).
    array : array-like
        The input that decides: a CuPy array selects CUDA, anything else NumPy.

    Returns
    -------
    module
        ``<package>._cuda`` for a CuPy array, otherwise ``<package>._numpy``. The CUDA module is
        imported only then, so the CPU path never loads it.
    """
    return importlib.import_module(f"{package}._cuda" if is_cupy(array) else f"{package}._numpy")


def quiet(xp):
    """A context that silences NumPy's overflow/invalid/divide warnings; a no-op for CuPy (which never warns).

    The kernels meet such values only in fits or windows that are flagged invalid afterwards, so
    the warnings would be noise.
    """
    if xp is np:
        return np.errstate(invalid="ignore", over="ignore", divide="ignore")
    return contextlib.nullcontext()
