"""A GTM-like model and voxels for timing the projection, and the plain full-matrix projection it is compared
with. Shared by ``facies bench`` and ``bench/bench_gtm_project.py``."""

from __future__ import annotations

import numpy as np

from facies.kernels.gtm import _numpy as gtm_numpy

K_SIDE = 20  # 400 nodes, the size facies fits by default
FACIES = 6
BETA = 20.0


def model(d: int, seed: int = 0) -> dict:
    """A GTM-like model: K nodes on a smooth sheet in D standardised attributes, facies weights per node."""
    rng = np.random.default_rng(seed)
    z = np.stack(np.meshgrid(np.linspace(-1, 1, K_SIDE), np.linspace(-1, 1, K_SIDE)), -1).reshape(-1, 2)
    sheet = rng.normal(size=(2, d))
    bend = rng.normal(size=(1, d)) * 0.5
    nodes = 1.5 * z @ sheet + bend * (z ** 2).sum(axis=1, keepdims=True) + rng.normal(0, 0.1, (len(z), d))
    pdfs = rng.gamma(0.5, size=(FACIES, len(z)))
    pdfs /= pdfs.sum(axis=1, keepdims=True)
    return {"mean": rng.normal(0, 2, d), "scale": rng.uniform(0.5, 2, d), "nodes": nodes, "beta": BETA,
            "latent": z, "pdfs": pdfs, "codes": np.arange(1, FACIES + 1, dtype=np.uint8)}


def voxels(m: dict, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Attributes near the sheet (with 1% dead voxels and 0.1% NaNs), float32, and the live mask."""
    rng = np.random.default_rng(seed)
    t = m["nodes"][rng.integers(0, len(m["nodes"]), n)] + rng.normal(0, 1 / np.sqrt(BETA), (n, len(m["mean"])))
    x = (m["mean"] + m["scale"] * t).astype(np.float32)
    x[rng.random(n) < 0.001, 0] = np.nan
    return x, rng.random(n) > 0.01


def weights(m: dict, method: str) -> tuple[np.ndarray, bool]:
    """The projection weights of ``method`` (``gtc`` or ``bhattacharyya``) and whether they are square roots."""
    if method == "bhattacharyya":
        return np.sqrt(m["pdfs"]), True
    return m["pdfs"] / m["pdfs"].sum(axis=0), False


def facies_projection(m: dict, x, live, method: str):
    """facies' NumPy projection (kernels/gtm/_numpy.py) of ``x`` into freshly allocated outputs."""
    w, sq = weights(m, method)
    n = len(x)
    out = (np.empty((FACIES, n), np.float32), np.empty(n, np.uint8), np.empty(n, np.float32),
           np.empty((2, n), np.float32))
    gtm_numpy.project(x, live, m["mean"], m["scale"], m["nodes"], m["beta"], m["latent"], w, sq, m["codes"], *out)
    return out


def plain_projection(m: dict, x, live, method: str):
    """The obvious full-matrix projection: every (n, K) matrix at once, float64."""
    w, sq = weights(m, method)
    ok = live & np.isfinite(x).all(axis=1)
    t = (x.astype(np.float64) - m["mean"]) / m["scale"]
    t[~ok] = 0
    y = m["nodes"]
    d2 = (t * t).sum(axis=1)[:, None] - 2 * t @ y.T + (y * y).sum(axis=1)
    np.maximum(d2, 0, out=d2)
    log_r = -m["beta"] / 2 * d2
    log_r -= log_r.max(axis=1, keepdims=True)
    r = np.exp(log_r)
    r /= r.sum(axis=1, keepdims=True)
    u = r @ m["latent"]
    scores = (np.sqrt(r) if sq else r) @ w.T
    prob = scores / scores.sum(axis=1, keepdims=True)
    best = prob.argmax(axis=1)
    code = np.where(ok, m["codes"][best], 0)
    prob[~ok], u[~ok] = 0, np.nan
    return prob, code, prob.max(axis=1), u
