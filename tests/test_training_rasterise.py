"""Rasterisation of polygons on slices against a brute-force point-in-polygon, and edge-crossing detection."""

from __future__ import annotations

import numpy as np
import pytest

from facies.engine.errors import FaciesError
from facies.engine.training import polygon_voxels
from facies.engine.training.polygons import Polygon, place_polygon
from facies.engine.training.rasterise import crossing_edges, rasterise
from tests.helpers import tiny_geometry

TOL = 1e-6


def brute_covers(px: float, py: float, vertices, tol: float) -> bool:
    """Ray casting one point at a time, plus an on-segment check (written independently of the engine)."""
    inside = False
    n = len(vertices)
    for i in range(n):
        x1, y1 = vertices[i]
        x2, y2 = vertices[(i + 1) % n]
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
        if (abs(cross) <= tol * max(length, 1e-300) and min(x1, x2) - tol <= px <= max(x1, x2) + tol
                and min(y1, y2) - tol <= py <= max(y1, y2) + tol):
            return True
        if (y1 > py) != (y2 > py):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
            if px < x_at:
                inside = not inside
    return inside


def brute_rasterise(vertices, u_centres, v_centres, tol=TOL) -> set[tuple[int, int]]:
    return {(i, j) for i, u in enumerate(u_centres) for j, v in enumerate(v_centres)
            if brute_covers(float(u), float(v), vertices, tol)}


def random_polygon(rng, kind: str, snap: str, centre=(12.0, 10.0), size=(9.0, 7.0)) -> np.ndarray:
    """Star-shaped random polygon: 'convex' (points on an ellipse) or 'concave' (random radii).

    ``snap``: 'centres' rounds vertices to voxel centres, 'between' to half-way between them, 'free' keeps floats.
    """
    n = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = np.ones(n) if kind == "convex" else rng.uniform(0.25, 1.0, n)
    pts = np.stack([centre[0] + size[0] * radii * np.cos(angles), centre[1] + size[1] * radii * np.sin(angles)], 1)
    if snap == "centres":
        pts = np.round(pts)
    elif snap == "between":
        pts = np.floor(pts) + 0.5
    return pts


@pytest.mark.parametrize("snap", ["centres", "between", "free"])
@pytest.mark.parametrize("kind", ["convex", "concave"])
def test_rasterise_matches_brute_force(kind, snap):
    rng = np.random.default_rng([("convex", "concave").index(kind), ("centres", "between", "free").index(snap)])
    u_centres, v_centres = np.arange(25.0), np.arange(21.0)
    total = 0
    for _ in range(25):
        vertices = random_polygon(rng, kind, snap)
        iu, iv = rasterise(vertices, u_centres, v_centres)
        got = set(zip(iu.tolist(), iv.tolist()))
        assert len(got) == iu.size, "rasterise returned a voxel twice"
        assert got == brute_rasterise(vertices, u_centres, v_centres)
        total += len(got)
    assert total > 0


def test_rasterise_includes_edges_and_vertices_on_centres():
    u_centres, v_centres = np.arange(10.0), np.arange(10.0)
    # Rectangle through centres: its boundary centres count, 3 x 4 in all.
    iu, iv = rasterise(np.array([[2, 3], [4, 3], [4, 6], [2, 6]], float), u_centres, v_centres)
    assert sorted(zip(iu.tolist(), iv.tolist())) == [(i, j) for i in range(2, 5) for j in range(3, 7)]
    # The same rectangle grown by half a cell has the same centres strictly inside.
    iu2, iv2 = rasterise(np.array([[1.5, 2.5], [4.5, 2.5], [4.5, 6.5], [1.5, 6.5]]), u_centres, v_centres)
    assert np.array_equal(iu, iu2) and np.array_equal(iv, iv2)
    # A triangle whose hypotenuse passes through centres keeps them: (0,0) (4,0) (0,4) -> 15 centres.
    iu, _ = rasterise(np.array([[0, 0], [4, 0], [0, 4]], float), u_centres, v_centres)
    assert iu.size == 15
    # A polygon between centres covers none.
    iu, _ = rasterise(np.array([[2.1, 2.1], [2.9, 2.1], [2.5, 2.9]]), u_centres, v_centres)
    assert iu.size == 0


def test_rasterise_clips_to_the_grid():
    iu, iv = rasterise(np.array([[-5, -5], [3, -5], [3, 2], [-5, 2]], float), np.arange(6.0), np.arange(6.0))
    assert sorted(zip(iu.tolist(), iv.tolist())) == [(i, j) for i in range(4) for j in range(3)]


@pytest.mark.parametrize("slice_kind", ["inline", "crossline", "time"])
def test_polygon_voxels_on_every_slice_kind_match_brute_force_in_survey_units(slice_kind):
    """End to end in survey units on a grid with an inline step of 2 and 4 ms samples."""
    g = tiny_geometry((14, 16, 30))
    axes = {"inline": (g.crosslines, g.samples), "crossline": (g.inlines, g.samples), "time": (g.inlines, g.crosslines)}
    u_axis, v_axis = axes[slice_kind]
    at = {"inline": g.inlines[5], "crossline": g.crosslines[7], "time": g.samples[11]}[slice_kind]
    rng = np.random.default_rng(7)
    checked = 0
    for trial in range(24):
        kind, snap = ("convex", "concave")[trial % 2], ("centres", "between", "free")[trial % 3]
        centre = (len(u_axis) / 2, len(v_axis) / 2)
        grid = random_polygon(rng, kind, snap, centre=centre, size=(len(u_axis) / 2.2, len(v_axis) / 2.2))
        if crossing_edges(grid) is not None or len(np.unique(grid, axis=0)) < 3:
            continue  # snapping can fold a star polygon; those are tested as errors elsewhere
        # grid units -> survey units (the axes here are regular: first value + index * step)
        du = float(u_axis[1] - u_axis[0])
        dv = float(v_axis[1] - v_axis[0])
        vertices = np.stack([u_axis[0] + grid[:, 0] * du, v_axis[0] + grid[:, 1] * dv], 1)
        placed = place_polygon(Polygon("salt", slice_kind, float(at), vertices, "p"), 0, g, ["salt"])
        idx = polygon_voxels(placed, g)
        fixed = {"inline": 0, "crossline": 1, "time": 2}[slice_kind]
        assert np.all(idx[:, fixed] == {"inline": 5, "crossline": 7, "time": 11}[slice_kind])
        uv = [a for a in range(3) if a != fixed]
        got = set(zip(idx[:, uv[0]].tolist(), idx[:, uv[1]].tolist()))
        # brute force in survey units, tolerance scaled to a millionth of the smaller step
        want = brute_rasterise(vertices, u_axis.astype(float), v_axis.astype(float), tol=1e-6 * min(du, dv))
        assert got == want
        checked += 1
    assert checked >= 12


@pytest.mark.parametrize("vertices, edges", [
    ([[0, 0], [4, 4], [4, 0], [0, 4]], (0, 2)),                # bow tie
    ([[0, 0], [4, 0], [4, 4], [2, 0], [0, 4]], (0, 2)),        # vertex 3 touches edge 0
    ([[0, 0], [4, 0], [2, 0], [2, 3]], (0, 1)),                # edge 1 doubles back along edge 0
    ([[0, 0], [1, 0], [2, 0]], (1, 2)),                        # collinear: no area
])
def test_crossing_edges_found(vertices, edges):
    assert crossing_edges(np.array(vertices, float)) == edges


@pytest.mark.parametrize("vertices", [
    [[0, 0], [4, 0], [4, 4], [0, 4]],
    [[0, 0], [6, 0], [6, 6], [3, 2], [0, 6]],                  # concave
    [[0, 0], [4, 0], [4, 4], [2, 4], [0, 4]],                  # collinear vertex on a straight edge is fine
    [[0, 0], [2, 0], [4, 0], [4, 3]],
])
def test_simple_polygons_have_no_crossing(vertices):
    assert crossing_edges(np.array(vertices, float)) is None


def test_crossing_edges_on_random_star_polygons_agree_with_a_pairwise_loop():
    def seg_hit(p1, p2, p3, p4):
        def orient(a, b, c):
            v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
            return 0 if abs(v) < 1e-12 else (1 if v > 0 else -1)

        def on(a, b, c):
            return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])
        o1, o2, o3, o4 = orient(p1, p2, p3), orient(p1, p2, p4), orient(p3, p4, p1), orient(p3, p4, p2)
        if o1 * o2 < 0 and o3 * o4 < 0:
            return True
        return ((o1 == 0 and on(p1, p2, p3)) or (o2 == 0 and on(p1, p2, p4))
                or (o3 == 0 and on(p3, p4, p1)) or (o4 == 0 and on(p3, p4, p2)))

    rng = np.random.default_rng(3)
    for _ in range(40):
        pts = rng.integers(0, 6, size=(int(rng.integers(4, 8)), 2)).astype(float)  # random order: often crossing
        keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
        pts = pts[keep]
        n = len(pts)
        if n < 4:
            continue
        expected = any(seg_hit(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n])
                       for i in range(n) for j in range(i + 2, n) if not (i == 0 and j == n - 1))
        folds = any(
            abs((pts[k][0] - pts[k - 1][0]) * (pts[(k + 1) % n][1] - pts[k][1])
                - (pts[k][1] - pts[k - 1][1]) * (pts[(k + 1) % n][0] - pts[k][0])) < 1e-12
            and np.dot(pts[k - 1] - pts[k], pts[(k + 1) % n] - pts[k]) > 0 for k in range(n))
        assert (crossing_edges(pts) is not None) == (expected or folds), pts.tolist()


def test_place_polygon_drops_a_closing_repeat_and_rejects_two_vertices():
    g = tiny_geometry((6, 5, 12))
    closed = Polygon("salt", "inline", 102.0, np.array([[7, 8], [10, 8], [10, 20], [7, 8]], float), "p")
    assert len(place_polygon(closed, 0, g, ["salt"]).vertices) == 3
    line = Polygon("salt", "inline", 102.0, np.array([[7, 8], [10, 8], [10, 8]], float), "p")
    with pytest.raises(FaciesError, match="2 distinct vertices; a polygon needs at least 3"):
        place_polygon(line, 0, g, ["salt"])


def test_edge_tolerance_is_the_pinned_one_not_shapelys_boundary():
    """Centres within 1e-6 grid units of an edge count, from either side; 2e-6 outside do not."""
    u_centres, v_centres = np.arange(10.0), np.arange(10.0)
    for offset, covered in ((0.0, 1), (5e-7, 1), (-5e-7, 1), (-2e-6, 0)):
        # a square whose right edge runs at u = 5 + offset: column u = 5 is on it, inside or just outside it
        square = np.array([[2, 2], [5 + offset, 2], [5 + offset, 6], [2, 6]], float)
        iu, _ = rasterise(square, u_centres, v_centres)
        assert np.count_nonzero(iu == 5) == 5 * covered, offset


def test_polygons_crossing_themselves_rasterise_by_the_even_odd_rule():
    """Vertices in random order (mostly self-intersecting): the same centres as the brute-force ray casting."""
    rng = np.random.default_rng(11)
    u_centres, v_centres = np.arange(12.0), np.arange(12.0)
    crossing = 0
    for _ in range(30):
        vertices = rng.uniform(0, 11, size=(int(rng.integers(4, 9)), 2))
        crossing += crossing_edges(vertices) is not None
        iu, iv = rasterise(vertices, u_centres, v_centres)
        assert set(zip(iu.tolist(), iv.tolist())) == brute_rasterise(vertices, u_centres, v_centres)
    assert crossing > 10


def test_crossing_check_of_200000_vertices():
    """Indexed (GEOS): a simple contour of 200 000 vertices passes, and the same with two vertices swapped does not."""
    t = 2 * np.pi * np.arange(200_000) / 200_000
    r = 100 + 10 * np.sin(37 * t)
    vertices = np.column_stack([500 + r * np.cos(t), 500 + r * np.sin(t)])
    assert crossing_edges(vertices) is None
    vertices[[1000, 150000]] = vertices[[150000, 1000]]
    i, j = crossing_edges(vertices)
    assert {i, j} <= {999, 1000, 149999, 150000} and i < j
