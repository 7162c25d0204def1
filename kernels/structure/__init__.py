"""The gradient structure tensor of a seismic volume: reflector dips and chaos.

Public entry points: :func:`structure_tensor` (the six smoothed gradient products),
:func:`tensor_attributes` (inline and crossline dips and chaos from a tensor), and
:func:`structure_attributes` (both). They dispatch on the array type
(:func:`facies.kernels.array_module.implementation`): a CuPy array runs ``_cuda.py`` (CuPy's
``correlate1d`` and the ``structure_eigen`` kernel of ``structure.cu``), anything else ``_numpy.py``.
Filter weights and the halo: :mod:`.filters`; the eigen-analysis: :mod:`.eigen`. See
docs/attributes.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from facies.kernels.array_module import implementation, is_cupy
from facies.kernels.kuwahara.windows import normalise_region
from facies.kernels.structure.filters import (COMPONENTS, DERIVATIVE_SIGMA_RANGE, SIGMA_RANGE, TRUNCATE, check_sigma,
                                              derivative_weights, gaussian_weights, structure_halo)

__all__ = ["COMPONENTS", "DERIVATIVE_SIGMA_RANGE", "MODES", "SIGMA_RANGE", "TRUNCATE", "Structure",
           "derivative_weights", "gaussian_weights", "structure_attributes", "structure_halo", "structure_tensor",
           "tensor_attributes"]

#: What lies outside the volume, for the filters: "reflect" (d c b a | a b c d) or "nearest" (a a a a | a b c d).
MODES = ("reflect", "nearest")
_PAD = {"reflect": "symmetric", "nearest": "edge"}


class Structure(NamedTuple):
    """What :func:`structure_attributes` returns: three float32 arrays of the region's shape."""

    inline_dip: object
    crossline_dip: object
    chaos: object


def structure_tensor(volume, *, derivative_sigma: float = 1.0, sigma: float = 2.0, mode: str = "reflect",
                     out_region=None):
    """Gradient structure tensor: Gaussian-smoothed outer products of derivative-of-Gaussian gradients.

    ``T = G_sigma * (g g^T)`` with ``g = (d/d_il, d/d_xl, d/d_t)`` of the volume, each derivative a
    derivative-of-Gaussian filter (``derivative_sigma``) along its axis and a Gaussian of the same sigma
    along the other two. Every filter is a fixed truncated kernel (``ceil(3 sigma)`` voxels each side,
    :mod:`.filters`), so a voxel reaches :func:`structure_halo` voxels per side and a region of a volume
    equals that region of the whole result bit for bit on the same backend.

    Parameters
    ----------
    volume : ndarray or cupy.ndarray, shape (n_il, n_xl, n_samples)
        Real numbers; computed in float32 storage (SciPy accumulates each filter in float64).
    derivative_sigma, sigma : float
        In samples and traces: the Gaussian of the derivative filters, and of the smoothing of the
        gradient products (the analysis scale).
    mode : {"reflect", "nearest"}
        What lies outside the volume (voxels outside ``out_region`` but inside the volume are read).
    out_region : sequence of 3 slices or (start, stop) pairs, optional
        The voxels to compute (default: all).

    Returns
    -------
    ndarray or cupy.ndarray, shape (6, *region), float32
        Components in :data:`COMPONENTS` order; all NaN where the box of ``2 * halo + 1`` voxels around
        the voxel holds a NaN or infinite input.

    Raises
    ------
    ValueError
        A volume that is not 3D, a sigma outside its range, an unknown mode, a bad ``out_region``.
    """
    derivative_sigma = check_sigma("derivative_sigma", derivative_sigma, DERIVATIVE_SIGMA_RANGE)
    sigma = check_sigma("sigma", sigma, SIGMA_RANGE)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    xp, volume = _module(volume)
    region = normalise_region(out_region, volume.shape)
    h = structure_halo(derivative_sigma, sigma)
    read = [(max(0, a - h), min(n, b + h)) for (a, b), n in zip(region, volume.shape)]
    block = volume[tuple(slice(a, b) for a, b in read)]
    pad = [(r0 - (a - h), (b + h) - r1) for (a, b), (r0, r1) in zip(region, read)]
    if any(before or after for before, after in pad):
        block = xp.pad(block, pad, mode=_PAD[mode])
    return implementation(__name__, volume).structure_tensor_block(block, derivative_sigma, sigma)


def tensor_attributes(tensor, *, workers: int | None = None):
    """Inline dip, crossline dip and chaos of a structure tensor (:mod:`.eigen` says how).

    Parameters
    ----------
    tensor : ndarray or cupy.ndarray, shape (6, ...)
        Components in :data:`COMPONENTS` order (as :func:`structure_tensor` returns them).
    workers : int, optional
        Threads of the NumPy backend (default: the CPU count, at most 8). Ignored on the GPU.

    Returns
    -------
    Structure
        Dips in samples per trace (positive: the reflector goes deeper towards higher inline or
        crossline numbers) and chaos in [-1, 1] (Randen et al. 2000), float32, shape ``tensor.shape[1:]``.
    """
    if tensor.ndim < 1 or tensor.shape[0] != 6:
        raise ValueError(f"tensor must have the 6 components on its first axis, got shape {tensor.shape}")
    return Structure(*implementation(__name__, tensor).tensor_attributes(tensor, workers))


def structure_attributes(volume, *, derivative_sigma: float = 1.0, sigma: float = 2.0, mode: str = "reflect",
                         out_region=None, workers: int | None = None) -> Structure:
    """Dips and chaos of ``volume``: :func:`structure_tensor` then :func:`tensor_attributes` (same parameters)."""
    tensor = structure_tensor(volume, derivative_sigma=derivative_sigma, sigma=sigma, mode=mode,
                              out_region=out_region)
    return tensor_attributes(tensor, workers=workers)


def _module(volume):
    """The array module of ``volume`` and the volume as a 3D real array of it."""
    if is_cupy(volume):
        import cupy as xp  # noqa: PLC0415 - GPU path only
    else:
        xp = np
        volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"the volume must be 3D (inline, crossline, sample), got shape {volume.shape}")
    if volume.dtype.kind not in "fiub":
        raise TypeError(f"the volume must hold real numbers, got dtype {volume.dtype}")
    return xp, volume
