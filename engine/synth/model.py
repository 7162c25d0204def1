"""The earth model of the synthetic survey: structure, facies bodies, labels and impedance.

Everything is an analytic function of the global voxel index ``(i, j, k)`` (and the seed), so
any region can be evaluated on its own and equals the same region of a whole-volume run. Body
positions and sizes are fractions of the survey's shape: bodies scale with the survey.

Coordinates: ``x = i / n_il``, ``y = j / n_xl``, ``z = k / n_s`` in [0, 1). ``tau`` is the
stratigraphic ("geologic") time in samples: the sample index with the structure removed, so
horizons are surfaces of constant ``tau``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facies.engine.synth.hashing import normal, stream_key, uniform

#: Facies names by code 1..M (0 = no data, on dead traces).
FACIES_NAMES = ("background", "salt", "mtd")
BACKGROUND, SALT, MTD = 1, 2, 3

#: Streams of the counter-based generator, one per use, so draws never collide.
_LAYER_STREAM, _SALT_STREAM, _CHAOS_STREAM, _CELL_STREAM, _BLOCK_STREAM = 1, 2, 3, 4, 5

#: Mean bed thickness in samples (12 ms at 4 ms: thin beds against a 30 Hz wavelet, as in real data).
BED_THICKNESS = 3.0


@dataclass(frozen=True)
class EarthModel:
    """Structure and bodies of one synthetic survey.

    Parameters
    ----------
    shape : (n_il, n_xl, n_s)
    seed : int
        Fixes body positions (small jitter) and every random texture.
    trace_mask : ndarray of bool, shape (n_il, n_xl)
        Live traces; labels are 0 elsewhere.
    """

    shape: tuple[int, int, int]
    seed: int
    trace_mask: np.ndarray = field(repr=False)
    params: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, shape, seed, trace_mask) -> EarthModel:
        """Draw the few scalar parameters (positions jittered by the seed)."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
        jitter = lambda scale: float(rng.uniform(-scale, scale))  # noqa: E731
        params = {
            # Regional dip (samples per survey width, as a fraction of n_s) and a gentle anticline.
            "dip_x": 0.06 + jitter(0.01), "dip_y": 0.03 + jitter(0.01),
            "fold_amp": 0.035, "fold_fx": 0.9, "fold_fy": 0.35, "fold_phase": float(rng.uniform(0, 2 * np.pi)),
            # A normal fault striking roughly along the crosslines, dipping with depth.
            "fault_x": 0.22 + jitter(0.03), "fault_throw": 0.05,
            # Salt diapir: a stem with a bulb under a domed crest; radius as a fraction of each lateral axis.
            "salt_x": 0.68 + jitter(0.03), "salt_y": 0.36 + jitter(0.03), "salt_radius": 0.21,
            "salt_top": 0.30 + jitter(0.03), "salt_uplift": 0.06,
            # Mass-transport deposit: a lens between horizons, elongated lobe in map view.
            "mtd_x": 0.32 + jitter(0.03), "mtd_y": 0.68 + jitter(0.03), "mtd_ax": 0.25, "mtd_ay": 0.26,
            "mtd_tau": 0.58 + jitter(0.02), "mtd_thickness": 0.24,
        }
        n_il, n_xl, n_s = shape
        return cls((int(n_il), int(n_xl), int(n_s)), int(seed), np.asarray(trace_mask, dtype=bool), params)

    # ---------------------------------------------------------------- coordinates
    def _xyz(self, i, j, k):
        n_il, n_xl, n_s = self.shape
        return np.asarray(i) / n_il, np.asarray(j) / n_xl, np.asarray(k) / n_s

    def _salt_radius(self, x, y):
        """Map-view distance to the salt axis in units of its radius."""
        p = self.params
        return np.hypot((x - p["salt_x"]) / p["salt_radius"], (y - p["salt_y"]) / p["salt_radius"])

    def structure(self, x, y):
        """Two-way-time shift of the horizons (samples): dip, fold and uplift over the salt."""
        p, n_s = self.params, self.shape[2]
        shift = p["dip_x"] * x + p["dip_y"] * y
        shift = shift + p["fold_amp"] * np.sin(2 * np.pi * (p["fold_fx"] * x + p["fold_fy"] * y) + p["fold_phase"])
        shift = shift - p["salt_uplift"] * np.exp(-(self._salt_radius(x, y) / 1.6) ** 2)
        return n_s * shift

    def downthrown(self, x, y, z):
        """True on the hanging wall of the normal fault (a plane dipping towards +x)."""
        p = self.params
        return (x - p["fault_x"]) + 0.3 * (y - 0.5) - 0.25 * (z - 0.5) > 0

    def tau(self, i, j, k):
        """Stratigraphic time (samples) at global indices: horizons are constant ``tau``."""
        x, y, z = self._xyz(i, j, k)
        throw = self.params["fault_throw"] * self.shape[2] * self.downthrown(x, y, z)
        return np.asarray(k, dtype=np.float64) - self.structure(x, y) - throw

    # ---------------------------------------------------------------- bodies
    def salt(self, i, j, k):
        """Salt diapir: domed crest, bulb below it, narrower stem down to the base of the survey."""
        p = self.params
        x, y, z = self._xyz(i, j, k)
        r = self._salt_radius(x, y)
        crest = p["salt_top"] + 0.12 * r ** 2
        radius = 0.65 + 0.35 * np.exp(-((z - p["salt_top"] - 0.12) / 0.16) ** 2)
        return (r < radius) & (z > crest)

    def mtd_extent(self, i, j, tau):
        """Mass-transport deposit: a lens between horizons (in ``tau``), elliptical in map view."""
        p = self.params
        x, y, _ = self._xyz(i, j, 0)
        q = ((x - p["mtd_x"]) / p["mtd_ax"]) ** 2 + ((y - p["mtd_y"]) / p["mtd_ay"]) ** 2
        half = 0.5 * p["mtd_thickness"] * np.sqrt(np.clip(1.0 - q, 0.0, None))
        return (q < 1.0) & (np.abs(tau / self.shape[2] - p["mtd_tau"]) < half)

    def labels(self, i, j, k, tau=None) -> np.ndarray:
        """Facies codes (uint8) at broadcastable global index arrays; 0 on dead traces.

        Salt takes precedence over the MTD, the MTD over the background. ``tau`` (:meth:`tau` at
        the same indices) may be passed by a caller that needs it too, to compute it once.
        """
        i, j, k = np.broadcast_arrays(*(np.asarray(a) for a in (i, j, k)))
        if tau is None:
            tau = self.tau(i, j, k)
        out = np.full(i.shape, BACKGROUND, dtype=np.uint8)
        out[self.mtd_extent(i, j, tau)] = MTD
        out[self.salt(i, j, k)] = SALT
        out[~self.trace_mask[i, j]] = 0
        return out

    # ---------------------------------------------------------------- impedance
    def layered_impedance(self, tau, key, counter_offset=0):
        """Beds of random impedance along ``tau``, box-averaged over one sample (no staircase aliasing).

        Bed thickness varies smoothly (a warp of ``tau``). Bed ``L`` has impedance ``1 + 0.12 N(0,1)``
        drawn from the counter ``L + counter_offset`` of stream ``key``.
        """
        warped = tau + 1.3 * np.sin(2 * np.pi * tau / 17.0)
        lo = np.floor((warped - 0.5) / BED_THICKNESS)
        hi = np.floor((warped + 0.5) / BED_THICKNESS)
        weight = np.where(lo != hi, np.clip(warped + 0.5 - hi * BED_THICKNESS, 0.0, 1.0), 0.0)
        offset = np.int64(1 << 40) + np.int64(counter_offset)
        bed = lambda n: 1.0 + 0.12 * normal(key, (n.astype(np.int64) + offset).view(np.uint64))  # noqa: E731
        return bed(lo) * (1.0 - weight) + bed(hi) * weight

    def impedance(self, i, j, k, labels, tau):
        """Acoustic impedance (dimensionless) at flat global index arrays of one facies map.

        Background: conformal beds. Salt: fast and nearly uniform, with faint random texture.
        MTD: map-view cells, about half chaotic (random impedance shared by 2x2 traces, so the
        chaos has some lateral coherence) and half rotated coherent blocks of beds.
        """
        seed = self.seed
        n_il, n_xl, n_s = self.shape
        out = self.layered_impedance(tau, stream_key(seed, _LAYER_STREAM))
        voxel = (i * n_xl + j) * n_s + k

        salt = labels == SALT
        if salt.any():
            out[salt] = 1.2 + 0.02 * normal(stream_key(seed, _SALT_STREAM), voxel[salt])

        mtd = labels == MTD
        if mtd.any():
            mi, mj, mk, mtau = i[mtd], j[mtd], k[mtd], tau[mtd]
            size_i, size_j = max(3, n_il // 12), max(3, n_xl // 12)
            ci, cj = mi // size_i, mj // size_j
            cell = ci * 1_000_003 + cj
            cell_key = stream_key(seed, _CELL_STREAM)
            coherent = uniform(cell_key, cell * 4) < 0.55
            tilt_i = 1.6 * (uniform(cell_key, cell * 4 + 1) - 0.5)   # up to 0.8 samples per trace
            tilt_j = 1.6 * (uniform(cell_key, cell * 4 + 2) - 0.5)
            shift = 200.0 * uniform(cell_key, cell * 4 + 3)           # the block's beds come from elsewhere
            block_tau = (mtau + shift + tilt_i * (mi - (ci + 0.5) * size_i) + tilt_j * (mj - (cj + 0.5) * size_j))
            block = self.layered_impedance(block_tau, stream_key(seed, _BLOCK_STREAM), counter_offset=cell * 4096)
            chaos_counter = ((mi // 2) * n_xl + (mj // 2)) * n_s + mk
            chaos = 1.0 + 0.09 * normal(stream_key(seed, _CHAOS_STREAM), chaos_counter)
            out[mtd] = np.where(coherent, block, chaos)
        return out
