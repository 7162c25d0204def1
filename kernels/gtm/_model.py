"""The GTM model: its settings, latent grid, radial basis matrix, PCA initialisation and the fitted result.

Bishop, Svensén and Williams (1998), "GTM: the Generative Topographic Mapping". docs/gtm.md has the
equations and where ugtm's conventions differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from facies.kernels.array_module import array_module


@dataclass(frozen=True)
class GtmSettings:
    """Hyper-parameters of a GTM fit.

    Parameters
    ----------
    grid : int
        The latent grid has ``grid x grid`` nodes (K = grid^2) on [-1, 1]^2; at least 2.
    basis : int
        ``basis x basis`` Gaussian radial basis functions (M = basis^2) on the same square; at least 2.
    width : float
        Standard deviation of each basis function in units of the spacing of their centres (> 0).
        ugtm's ``s`` scales the *squared* spacing instead: ``width = sqrt(s)``.
    regularisation : float
        The weight penalty ``lambda`` (>= 0): a Gaussian prior ``exp(-lambda/2 |W'|^2)`` on the
        non-bias rows ``W'`` of ``W``.
    iterations : int
        Most EM iterations (>= 1).
    tolerance : float
        Stop when the relative change of the log-likelihood between two iterations,
        ``|L_i - L_{i-1}| / |L_i|``, is below this (>= 0; 0 runs every iteration).
    regularise_bias : bool
        Penalise the bias row too (ugtm's and Netlab's convention). False by default: the bias
        only places the map's centre, and shrinking it towards 0 pulls the map towards the
        origin of the data for no reason. The ugtm agreement test sets it True.
    """

    grid: int = 20
    basis: int = 5
    width: float = 1.0
    regularisation: float = 0.1
    iterations: int = 200
    tolerance: float = 1e-5
    regularise_bias: bool = False

    def __post_init__(self) -> None:
        for name, low in (("grid", 2), ("basis", 2), ("iterations", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ValueError(f"GTM {name} must be an integer >= {low}, got {value!r}")
        for name, positive in (("width", True), ("regularisation", False), ("tolerance", False)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
                    or value < 0 or (positive and value == 0):
                rule = "> 0" if positive else ">= 0"
                raise ValueError(f"GTM {name} must be a finite number {rule}, got {value!r}")
        if not isinstance(self.regularise_bias, bool):
            raise ValueError(f"GTM regularise_bias must be True or False, got {self.regularise_bias!r}")

    @property
    def nodes(self) -> int:
        """K, the number of latent nodes."""
        return self.grid * self.grid


def _lattice(side: int) -> np.ndarray:
    """``side x side`` points on [-1, 1]^2, first coordinate varying slowest (C order, as ugtm)."""
    x = np.linspace(-1.0, 1.0, side)
    return np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1).reshape(side * side, 2)


def latent_grid(grid: int) -> np.ndarray:
    """The latent nodes: a ``grid x grid`` lattice on [-1, 1]^2.

    Parameters
    ----------
    grid : int
        Nodes per side (>= 2).

    Returns
    -------
    ndarray (grid^2, 2), float64
        Row ``i * grid + j`` is ``(x_i, x_j)`` with ``x = linspace(-1, 1, grid)``: reshaped to
        ``(grid, grid)``, a per-node quantity is an image indexed by (first, second) coordinate.
    """
    if isinstance(grid, bool) or not isinstance(grid, Integral) or grid < 2:
        raise ValueError(f"latent grid must be an integer >= 2, got {grid!r}")
    return _lattice(int(grid))


def basis_matrix(latent: np.ndarray, basis: int, width: float) -> np.ndarray:
    """The radial basis functions evaluated at the latent nodes, with a bias column.

    Parameters
    ----------
    latent : ndarray (K, 2)
        Latent nodes (:func:`latent_grid`).
    basis : int
        ``basis x basis`` centres on [-1, 1]^2, in the order of :func:`latent_grid` (>= 2).
    width : float
        Standard deviation in units of the centre spacing ``h = 2 / (basis - 1)``: ``sigma = width h``.

    Returns
    -------
    ndarray (K, M + 1), float64
        ``Phi[k, m] = exp(-|z_k - mu_m|^2 / (2 sigma^2))`` for the M = basis^2 centres ``mu_m``, and a
        last column of ones (the bias).
    """
    if isinstance(basis, bool) or not isinstance(basis, Integral) or basis < 2:
        raise ValueError(f"basis must be an integer >= 2, got {basis!r}")
    if not (isinstance(width, Real) and math.isfinite(width) and width > 0):
        raise ValueError(f"basis width must be a finite number > 0, got {width!r}")
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.shape[1] != 2:
        raise ValueError(f"latent nodes must have shape (K, 2), got {latent.shape}")
    centres = _lattice(int(basis))
    sigma = float(width) * 2.0 / (basis - 1)
    d2 = ((latent[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.concatenate([np.exp(-d2 / (2.0 * sigma * sigma)), np.ones((latent.shape[0], 1))], axis=1)


def principal_axes(mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of a covariance, with fixed signs.

    Each eigenvector's largest-magnitude component is made positive (the first one on ties), the
    rule scikit-learn's PCA follows, so the initialisation is deterministic and agrees with ugtm's.
    ``mean`` is unused; it keeps the moments together at the call sites.
    """
    del mean
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    pivot = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[pivot, np.arange(vectors.shape[1])])
    return values, vectors * np.where(signs == 0, 1.0, signs)


def initialise_from_moments(mean: np.ndarray, covariance: np.ndarray, phi: np.ndarray,
                            latent: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`initialise` from the data's mean and (n - 1)-normalised covariance (one pass over chunks gives them)."""
    mean = np.asarray(mean, dtype=np.float64)
    values, vectors = principal_axes(mean, covariance)
    d = mean.shape[0]
    if values[0] <= 0:
        raise ValueError("the data have no variance: every point is the same, so no map can be fitted")
    # Scaled principal axes, padded with zeros when the data have fewer than 3 dimensions.
    scaled = np.zeros((d, 2))
    scaled[:, :min(2, d)] = (vectors * np.sqrt(values))[:, :2]
    # Unit-variance latent coordinates (population std, as Netlab and ugtm) map onto the PC plane.
    z = (latent - latent.mean(axis=0)) / latent.std(axis=0)
    w, *_ = np.linalg.lstsq(phi, z @ scaled.T, rcond=None)
    w[-1] += mean  # the centred fit's small bias offset stays; the map is centred on the data's mean
    nodes = phi @ w
    # Bishop et al. (1998): beta^-1 is the larger of the third eigenvalue (the variance the plane
    # leaves out) and the square of half the node spacing in data space (mean nearest-neighbour distance).
    # |a - b|^2 expanded (K x K, not K x K x D: a 100 x 100 grid of 64 attributes would need 51 GB), clamped at 0.
    sq = (nodes * nodes).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (nodes @ nodes.T), 0.0)
    np.fill_diagonal(d2, np.inf)
    half_spacing = 0.5 * float(np.mean(np.sqrt(d2.min(axis=1))))
    third = float(values[2]) if d > 2 else 0.0
    variance = max(third, half_spacing * half_spacing)
    if variance <= 0:
        raise ValueError("cannot initialise the noise variance: the initial map collapses to a point")
    return w, 1.0 / variance


def initialise(t, phi: np.ndarray, latent: np.ndarray) -> tuple[np.ndarray, float]:
    """Initial ``W`` and ``beta`` from the first two principal components of the data.

    Parameters
    ----------
    t : array (n, D)
        The (standardised) data; NumPy or CuPy.
    phi : ndarray (K, M + 1)
        :func:`basis_matrix` at ``latent``.
    latent : ndarray (K, 2)
        Latent nodes.

    Returns
    -------
    W : ndarray (M + 1, D), float64
        Least-squares solution of ``Phi W = Z A^T``, where ``Z`` is the latent grid standardised to
        zero mean and unit (population) variance per coordinate and ``A = [sqrt(l1) u1, sqrt(l2) u2]``
        the first two principal axes of the (n - 1)-normalised covariance scaled by the square roots of
        their eigenvalues; then the data mean is added to the bias row, so ``Phi W`` is the latent grid
        laid on the principal plane through the mean. Eigenvector signs are fixed (largest component
        positive), so the result is deterministic.
    beta : float
        ``1 / max(l3, (s / 2)^2)``, with ``l3`` the third eigenvalue (0 when D < 3) and ``s`` the mean
        distance from each initial node to its nearest neighbour in data space (Bishop et al. 1998).
    """
    xp = array_module(t)
    t = xp.asarray(t, dtype=xp.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ValueError(f"initialisation needs an (n, D) array with n >= 2, got shape {tuple(t.shape)}")
    mean = t.mean(axis=0)
    centred = t - mean
    covariance = centred.T @ centred / (t.shape[0] - 1)
    if xp is not np:
        mean, covariance = xp.asnumpy(mean), xp.asnumpy(covariance)
    return initialise_from_moments(mean, covariance, np.asarray(phi, dtype=np.float64),
                                   np.asarray(latent, dtype=np.float64))


@dataclass
class GtmFit:
    """A fitted GTM.

    Attributes
    ----------
    settings : GtmSettings
    latent : ndarray (K, 2)
        Latent nodes.
    phi : ndarray (K, M + 1)
        Basis matrix (bias column last).
    W : ndarray (M + 1, D)
        Weights after the last M-step; the last row is the bias.
    beta : float
        Inverse noise variance after the last M-step.
    loglik : ndarray (iterations,)
        True log-likelihood, summed over the points, of the parameters entering each iteration
        (computed in that iteration's E-step): ``sum_n log((1/K) sum_k (beta/2pi)^(D/2)
        exp(-beta/2 |t_n - y_k|^2))``.
    penalised : ndarray (iterations,)
        ``loglik - lambda/2 * sum(W'^2)`` with ``W'`` the rows of ``W`` the prior covers (all but the
        bias row, or all with ``regularise_bias``), at the same parameters; EM never decreases it
        (the constant of the Gaussian prior is left out).
    iterations : int
        EM iterations run (each an E-step and an M-step).
    converged : bool
        Whether the relative change of the log-likelihood fell below ``settings.tolerance`` (else the
        fit stopped after ``settings.iterations``).
    """

    settings: GtmSettings
    latent: np.ndarray
    phi: np.ndarray
    W: np.ndarray
    beta: float
    loglik: np.ndarray = field(default_factory=lambda: np.zeros(0))
    penalised: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iterations: int = 0
    converged: bool = False

    @property
    def nodes(self) -> np.ndarray:
        """The node positions in data space, ``Y = Phi W`` (K, D)."""
        return self.phi @ self.W
