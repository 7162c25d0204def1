"""The gradient structure tensor's filters: truncated Gaussian weights, the halo, and the separable "valid" passes.

Both backends run the same passes (:func:`tensor_block`) with their own ``ndimage`` module
(``scipy.ndimage`` or ``cupyx.scipy.ndimage``): explicit, fixed weights applied with
``correlate1d``, each pass cropped to the voxels whose whole support lies in the block. A voxel's
value is then the same sequence of operations wherever the block starts, so a brick with its halo
gives the whole volume's values bit for bit (a recursive or running-sum Gaussian would not).

Weights (``r = ceil(TRUNCATE * sigma)``, ``k = -r .. r``):

- smoothing ``g_k = exp(-k^2 / 2 sigma^2) / sum_j exp(-j^2 / 2 sigma^2)``;
- derivative ``d_k = k g_k / sum_j j^2 g_j``, as correlation weights: ``sum_k d_k x[i + k]`` is the
  derivative at ``i``, exact on a linear ramp (``sum_k k d_k = 1``) and antisymmetric.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

#: Filters reach ``ceil(TRUNCATE * sigma)`` samples (weights below 1.1% of the centre's are dropped).
TRUNCATE = 3.0
#: Accepted ranges of the two sigmas (samples and traces): wide enough for any seismic use, narrow enough that the
#: halo (:func:`structure_halo`) stays below 100 voxels.
DERIVATIVE_SIGMA_RANGE = (0.3, 8.0)
SIGMA_RANGE = (0.3, 24.0)
#: Order of the six tensor components along the first axis of a tensor array (il = inline, xl = crossline, t = sample).
COMPONENTS = ("il.il", "il.xl", "il.t", "xl.xl", "xl.t", "t.t")


def check_sigma(name: str, value, valid: tuple[float, float]) -> float:
    """``value`` as a float, or ValueError naming ``name`` when it is not a number in ``valid``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not valid[0] <= float(value) <= valid[1]:
        raise ValueError(f"{name} must be a number from {valid[0]:g} to {valid[1]:g} (samples and traces), "
                         f"got {value!r}")
    return float(value)


def filter_radius(sigma: float) -> int:
    """Half-width of the truncated filters of ``sigma``: ``ceil(TRUNCATE * sigma)``, at least 1."""
    return max(1, math.ceil(TRUNCATE * float(sigma) - 1e-9))


def gaussian_weights(sigma: float) -> np.ndarray:
    """Normalised Gaussian weights of ``sigma``, ``2r + 1`` of them (float64)."""
    r = filter_radius(sigma)
    k = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    return g / g.sum()


def derivative_weights(sigma: float) -> np.ndarray:
    """Derivative-of-Gaussian correlation weights of ``sigma``, scaled so that a unit ramp gives 1 (float64)."""
    r = filter_radius(sigma)
    k = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    return k * g / np.sum(k * k * g)


def structure_halo(derivative_sigma: float, sigma: float) -> int:
    """Voxels a structure-tensor value reaches on each side of every axis: derivative radius + smoothing radius."""
    return filter_radius(derivative_sigma) + filter_radius(sigma)


def _valid_pass(ndi, x, weights, axis: int):
    """``correlate1d`` of ``x`` along ``axis`` (float32 result), cut to the voxels whose support lies in ``x``."""
    r = len(weights) // 2
    y = ndi.correlate1d(x, weights, axis=axis, output=np.float32, mode="constant")
    keep = [slice(None)] * 3
    keep[axis] = slice(r, y.shape[axis] - r)
    return y[tuple(keep)]


def _valid_any(ndi, bad, h: int, xp):
    """Voxels (of the block cut by ``h`` per side) whose box of ``2h + 1`` per axis holds a ``bad`` voxel."""
    flag = bad.astype(xp.uint8)
    for axis in range(3):
        flag = ndi.maximum_filter1d(flag, 2 * h + 1, axis=axis, mode="constant")
        keep = [slice(None)] * 3
        keep[axis] = slice(h, flag.shape[axis] - h)
        flag = flag[tuple(keep)]
    return flag.astype(bool)


def tensor_block(block, derivative_sigma: float, sigma: float, ndi, xp):
    """Structure tensor of the voxels of ``block`` that carry the full halo (shape ``block - 2h``).

    Parameters
    ----------
    block : array, shape (n_il, n_xl, n_t)
        The volume around the wanted voxels, with :func:`structure_halo` voxels on every side.
    derivative_sigma, sigma : float
        Gaussian of the derivative filters, and of the smoothing of the gradient products.
    ndi, xp : modules
        ``scipy.ndimage`` and ``numpy``, or ``cupyx.scipy.ndimage`` and ``cupy``.

    Returns
    -------
    array, shape (6, n_il - 2h, n_xl - 2h, n_t - 2h), float32
        The components in :data:`COMPONENTS` order; all NaN where the box of ``2h + 1`` voxels around the voxel
        holds a non-finite input (the filters would spread it; this makes the rule exact and equal on both
        backends).
    """
    h = structure_halo(derivative_sigma, sigma)
    out_shape = tuple(n - 2 * h for n in block.shape)
    if min(out_shape) <= 0:
        return xp.empty((6, *(max(0, n) for n in out_shape)), xp.float32)
    bad = ~xp.isfinite(block)
    any_bad = bool(bad.any())
    x = xp.where(bad, 0, block).astype(xp.float32) if any_bad else block.astype(xp.float32, copy=False)
    g, d = gaussian_weights(derivative_sigma), derivative_weights(derivative_sigma)
    if xp is not np:
        g, d = xp.asarray(g), xp.asarray(d)
    # Derivative along one axis, Gaussian along the other two; the sample-axis smoothing is shared by two gradients.
    smooth_t = _valid_pass(ndi, x, g, 2)
    grad_il = _valid_pass(ndi, _valid_pass(ndi, smooth_t, g, 1), d, 0)
    grad_xl = _valid_pass(ndi, _valid_pass(ndi, smooth_t, g, 0), d, 1)
    del smooth_t
    grad_t = _valid_pass(ndi, _valid_pass(ndi, _valid_pass(ndi, x, g, 0), g, 1), d, 2)
    del x
    w = gaussian_weights(sigma)
    if xp is not np:
        w = xp.asarray(w)
    tensor = xp.empty((6, *out_shape), xp.float32)
    gradients = (grad_il, grad_xl, grad_t)
    for c, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
        product = gradients[i] * gradients[j]
        for axis in (2, 1, 0):
            product = _valid_pass(ndi, product, w, axis)
        tensor[c] = product
    if any_bad:
        spread = _valid_any(ndi, bad, h, xp)
        for component in tensor:
            component[spread] = xp.nan
    return tensor
