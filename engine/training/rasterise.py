"""Planar geometry on one slice: which voxel centres a polygon covers, and whether its edges cross.

Everything here works in *grid units*: survey units divided by the axis's line step or sample
interval, so that neighbouring voxel centres are 1 apart on both axes of a slice and one epsilon
means the same on both. The functions know nothing of surveys; they take and return arrays.

Rasterisation rule
------------------
A voxel centre belongs to a polygon when it lies inside the polygon (even-odd rule) **or** on its
boundary, within ``EDGE_TOLERANCE`` grid units of an edge. A polygon drawn through voxel centres
therefore includes the centres its edges pass through, and a polygon whose edges run between
centres includes exactly the centres strictly inside it.
"""

from __future__ import annotations

import numpy as np

#: Distance (grid units) within which a voxel centre counts as lying on a polygon edge.
EDGE_TOLERANCE = 1e-6
#: Relative tolerance of the orientation test: sin(angle) below this counts as collinear.
COLLINEAR_TOLERANCE = 1e-9
#: Rows of the edge-pair matrix handled at once by :func:`crossing_edges` (bounds its memory).
_PAIR_BLOCK = 256


def points_in_polygon(u: np.ndarray, v: np.ndarray, vertices: np.ndarray, *,
                      tolerance: float = EDGE_TOLERANCE) -> np.ndarray:
    """Whether each point (u, v) lies inside the polygon or within ``tolerance`` of an edge.

    Parameters
    ----------
    u, v : ndarray of float
        Point coordinates (same shape), in grid units.
    vertices : ndarray of float, shape (n, 2)
        Polygon vertices in order; the polygon is closed implicitly (last vertex to first).
    tolerance : float
        Points at most this far from an edge count as inside.

    Returns
    -------
    ndarray of bool, same shape as ``u``.

    Notes
    -----
    One Python iteration per *edge*, each vectorised over every point. The crossing test is the
    half-open rule ``(v_a > v) != (v_b > v)``, which counts a ray through a vertex exactly once.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    inside = np.zeros(u.shape, dtype=bool)
    on_edge = np.zeros(u.shape, dtype=bool)
    tol2 = tolerance * tolerance
    for (ua, va), (ub, vb) in zip(vertices, np.roll(vertices, -1, axis=0)):
        straddles = (va > v) != (vb > v)
        if straddles.any():
            # The crossing abscissa is only computed where the edge straddles the ray (vb != va there).
            with np.errstate(divide="ignore", invalid="ignore"):
                u_cross = ua + (v - va) * (ub - ua) / (vb - va)
            inside ^= straddles & (u < u_cross)
        du, dv = ub - ua, vb - va
        length2 = du * du + dv * dv
        t = ((u - ua) * du + (v - va) * dv) / length2 if length2 > 0 else np.zeros_like(u)
        t = np.clip(t, 0.0, 1.0)
        on_edge |= (u - ua - t * du) ** 2 + (v - va - t * dv) ** 2 <= tol2
    return inside | on_edge


def rasterise(vertices: np.ndarray, u_centres: np.ndarray, v_centres: np.ndarray, *,
              tolerance: float = EDGE_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the voxel centres a polygon covers on one slice.

    Parameters
    ----------
    vertices : ndarray, shape (n, 2)
        Polygon in grid units.
    u_centres, v_centres : ndarray of float
        Increasing grid-unit coordinates of the voxel centres along the slice's two axes.
    tolerance : float
        Edge tolerance (see the module's rasterisation rule).

    Returns
    -------
    iu, iv : ndarray of int64
        Indices into ``u_centres`` and ``v_centres`` of the covered centres, sorted by (iu, iv).
        Only centres inside the polygon's bounding box are ever tested.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    lo, hi = vertices.min(axis=0) - tolerance, vertices.max(axis=0) + tolerance
    u0, u1 = np.searchsorted(u_centres, lo[0], "left"), np.searchsorted(u_centres, hi[0], "right")
    v0, v1 = np.searchsorted(v_centres, lo[1], "left"), np.searchsorted(v_centres, hi[1], "right")
    if u0 >= u1 or v0 >= v1:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    uu, vv = np.meshgrid(np.asarray(u_centres[u0:u1], np.float64), np.asarray(v_centres[v0:v1], np.float64),
                         indexing="ij")
    iu, iv = np.nonzero(points_in_polygon(uu, vv, vertices, tolerance=tolerance))
    return iu.astype(np.int64) + u0, iv.astype(np.int64) + v0


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Sign (-1, 0, 1) of the turn a -> b -> c; near-collinear triples give 0."""
    ab, ac = b - a, c - a
    cross = ab[..., 0] * ac[..., 1] - ab[..., 1] * ac[..., 0]
    scale = np.hypot(ab[..., 0], ab[..., 1]) * np.hypot(ac[..., 0], ac[..., 1])
    return np.where(np.abs(cross) <= COLLINEAR_TOLERANCE * scale, 0, np.sign(cross)).astype(np.int8)


def _within_box(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Whether p lies in the bounding box of segment a-b (for points already known collinear)."""
    tol = EDGE_TOLERANCE
    return ((np.minimum(a[..., 0], b[..., 0]) - tol <= p[..., 0]) & (p[..., 0] <= np.maximum(a[..., 0], b[..., 0]) + tol)
            & (np.minimum(a[..., 1], b[..., 1]) - tol <= p[..., 1]) & (p[..., 1] <= np.maximum(a[..., 1], b[..., 1]) + tol))


def crossing_edges(vertices: np.ndarray) -> tuple[int, int] | None:
    """The first pair of edges that cross or touch, or None for a simple polygon.

    Edge ``k`` joins vertex ``k`` to vertex ``k + 1`` (the last edge closes the polygon).
    Non-adjacent edges may not meet at all; adjacent edges may only share their common vertex
    (an edge that doubles back along the previous one is a crossing too).

    Parameters
    ----------
    vertices : ndarray, shape (n, 2)
        Polygon without repeated consecutive vertices, in grid units.

    Returns
    -------
    (i, j) with i < j, or None.
    """
    p = np.asarray(vertices, dtype=np.float64)
    n = len(p)
    a, b = p, np.roll(p, -1, axis=0)
    # Adjacent edges k and k+1 share vertex k+1: they overlap when the next vertex turns straight back.
    back, nxt = a - b, np.roll(b, -1, axis=0) - b
    folds = (_orientation(b, a, np.roll(b, -1, axis=0)) == 0) & (np.einsum("ij,ij->i", back, nxt) > 0)
    if folds.any():
        k = int(np.argmax(folds))
        return tuple(sorted((k, (k + 1) % n)))
    j = np.arange(n)
    for start in range(0, n, _PAIR_BLOCK):
        i = np.arange(start, min(start + _PAIR_BLOCK, n))[:, None]
        gap = (j[None, :] - i) % n
        candidate = (j[None, :] > i) & (gap != 1) & (gap != n - 1)
        ai, bi, aj, bj = a[i[:, 0]][:, None], b[i[:, 0]][:, None], a[None, :], b[None, :]
        o1, o2 = _orientation(ai, bi, aj), _orientation(ai, bi, bj)
        o3, o4 = _orientation(aj, bj, ai), _orientation(aj, bj, bi)
        proper = (o1 * o2 < 0) & (o3 * o4 < 0)
        touching = (((o1 == 0) & _within_box(ai, bi, aj)) | ((o2 == 0) & _within_box(ai, bi, bj))
                    | ((o3 == 0) & _within_box(aj, bj, ai)) | ((o4 == 0) & _within_box(aj, bj, bi)))
        hits = candidate & (proper | touching)
        if hits.any():
            r, c = np.argwhere(hits)[0]
            return int(i[r, 0]), int(c)
    return None
