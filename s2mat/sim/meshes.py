"""Low-polygon mesh primitives for the simulated street, as plain numpy arrays.

A mesh is a ``(vertices (V, 3) float64, triangles (T, 3) int64)`` pair in metres. Object
meshes (cars, people, cyclists) are built in the object's own frame: origin at the centre
of the footprint on the ground, +x forward, +z up.
"""

from __future__ import annotations

import numpy as np

Mesh = tuple[np.ndarray, np.ndarray]

_BOX_TRIANGLES = np.array(
    [
        [0, 2, 1], [0, 3, 2],  # bottom (z-)
        [4, 5, 6], [4, 6, 7],  # top (z+)
        [0, 1, 5], [0, 5, 4],  # y-
        [2, 3, 7], [2, 7, 6],  # y+
        [1, 2, 6], [1, 6, 5],  # x+
        [3, 0, 4], [3, 4, 7],  # x-
    ],
    dtype=np.int64,
)


def box(center: np.ndarray | list[float], size: np.ndarray | list[float], yaw: float = 0.0) -> Mesh:
    """An upright box: ``center`` of the volume, ``size`` (length x, width y, height z), ``yaw`` about z."""
    hx, hy, hz = np.asarray(size, dtype=np.float64) / 2.0
    local = np.array(
        [[-hx, -hy, -hz], [hx, -hy, -hz], [hx, hy, -hz], [-hx, hy, -hz],
         [-hx, -hy, hz], [hx, -hy, hz], [hx, hy, hz], [-hx, hy, hz]]
    )
    return _place(local, _BOX_TRIANGLES.copy(), center, yaw)


def prism(footprint: np.ndarray, z0: float, z1: float) -> Mesh:
    """A vertical prism over a counter-clockwise ``(K, 2)`` convex footprint, from ``z0`` to ``z1``."""
    k = len(footprint)
    bottom = np.column_stack([footprint, np.full(k, z0)])
    top = np.column_stack([footprint, np.full(k, z1)])
    verts = np.vstack([bottom, top])
    idx = np.arange(k)
    nxt = (idx + 1) % k
    sides = np.concatenate([np.column_stack([idx, nxt, nxt + k]), np.column_stack([idx, nxt + k, idx + k])])
    fan = np.arange(1, k - 1)
    caps = np.concatenate([
        np.column_stack([np.zeros(k - 2, int), fan + 1, fan]),
        np.column_stack([np.full(k - 2, k), fan + k, fan + 1 + k]),
    ])
    return verts, np.concatenate([sides, caps]).astype(np.int64)


def cylinder(center_xy: np.ndarray | list[float], radius: float, z0: float, z1: float, segments: int = 8) -> Mesh:
    """A vertical cylinder (closed ``segments``-gon prism) from ``z0`` to ``z1``."""
    ang = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    ring = np.column_stack([np.cos(ang), np.sin(ang)]) * radius + np.asarray(center_xy, dtype=np.float64)[:2]
    return prism(ring, z0, z1)


def blob(center: np.ndarray | list[float], radii: np.ndarray | list[float], rng: np.random.Generator | None = None,
         roughness: float = 0.0, rings: int = 5, segments: int = 8) -> Mesh:
    """A closed ellipsoid (UV sphere); ``roughness`` jitters vertex radii (relative) for crowns and bushes."""
    theta = np.linspace(0.0, np.pi, rings + 2)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    unit = np.column_stack([(np.sin(tt) * np.cos(pp)).ravel(), (np.sin(tt) * np.sin(pp)).ravel(), np.cos(tt).ravel()])
    unit = np.vstack([unit, [[0, 0, 1], [0, 0, -1]]])
    if rng is not None and roughness > 0:
        unit = unit * (1.0 + roughness * rng.uniform(-1.0, 1.0, size=(len(unit), 1)))
    verts = unit * np.asarray(radii, dtype=np.float64) + np.asarray(center, dtype=np.float64)
    tris = []
    for r in range(rings - 1):
        a = r * segments + np.arange(segments)
        b = r * segments + (np.arange(segments) + 1) % segments
        tris += [np.column_stack([a, b, b + segments]), np.column_stack([a, b + segments, a + segments])]
    top, bottom = len(verts) - 2, len(verts) - 1
    first = np.arange(segments)
    last = (rings - 1) * segments + np.arange(segments)
    tris.append(np.column_stack([np.full(segments, top), (first + 1) % segments, first]))
    tris.append(np.column_stack([np.full(segments, bottom), last, (rings - 1) * segments + (first + 1) % segments]))
    return verts, np.concatenate(tris).astype(np.int64)


def grid(x0: float, x1: float, y0: float, y1: float, z: float, step: float) -> Mesh:
    """A flat rectangle at height ``z`` split into cells of about ``step`` metres (upward normal)."""
    nx = max(1, int(np.ceil((x1 - x0) / step)))
    ny = max(1, int(np.ceil((y1 - y0) / step)))
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    verts = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)])
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    a = (i * (ny + 1) + j).ravel()
    b, c, d = a + (ny + 1), a + (ny + 1) + 1, a + 1
    tris = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    return verts, tris.astype(np.int64)


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of ``meshes``."""
    verts, tris, offset = [], [], 0
    for v, t in meshes:
        verts.append(v)
        tris.append(t + offset)
        offset += len(v)
    return np.vstack(verts), np.vstack(tris)


def _place(local: np.ndarray, tris: np.ndarray, center: np.ndarray | list[float], yaw: float) -> Mesh:
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return local @ rot.T + np.asarray(center, dtype=np.float64), tris


# --- objects, in their own frame (origin on the ground at the footprint centre) ---------------


def car(length: float, width: float, height: float) -> Mesh:
    """A car: lower body, a narrower cabin set back, four wheels."""
    body_h = 0.55 * height
    clearance = 0.18
    parts = [box([0, 0, clearance + body_h / 2 - 0.05], [length, width, body_h - 0.1])]
    cabin_l = 0.55 * length
    parts.append(box([-0.08 * length, 0, clearance + body_h - 0.1 + (height - body_h - clearance + 0.1) / 2],
                     [cabin_l, width * 0.88, height - body_h - clearance + 0.1]))
    for sx in (0.33, -0.33):
        for sy in (0.5, -0.5):
            parts.append(box([sx * length, sy * (width - 0.22), 0.33], [0.62, 0.22, 0.62]))
    return merge(parts)


def person(height: float, girth: float) -> Mesh:
    """A standing person: two legs, torso and head."""
    leg_h = 0.47 * height
    torso_h = 0.35 * height
    head_r = 0.065 * height
    parts = [
        box([0, 0.09, leg_h / 2], [0.16, 0.14, leg_h]),
        box([0, -0.09, leg_h / 2], [0.16, 0.14, leg_h]),
        box([0, 0, leg_h + torso_h / 2], [girth * 0.55, girth, torso_h]),
        blob([0, 0, height - head_r], [head_r, head_r, head_r * 1.1], rings=3, segments=6),
    ]
    return merge(parts)


def cyclist(height: float) -> Mesh:
    """A bicycle (two wheels and a frame) with a seated rider."""
    parts = [
        box([0.55, 0, 0.35], [0.7, 0.06, 0.7]),
        box([-0.55, 0, 0.35], [0.7, 0.06, 0.7]),
        box([0, 0, 0.6], [1.0, 0.08, 0.12]),
        box([-0.15, 0, 1.0], [0.3, 0.4, 0.6]),  # hips and legs block
        box([0.05, 0, 1.45], [0.45, 0.42, 0.5]),  # leaning torso
        blob([0.2, 0, min(height, 1.85) - 0.12], [0.11, 0.11, 0.12], rings=3, segments=6),
    ]
    return merge(parts)


def tree_crown(center: np.ndarray, radius: float, rng: np.random.Generator) -> Mesh:
    """An irregular crown: a jittered ellipsoid."""
    return blob(center, [radius, radius, radius * rng.uniform(0.8, 1.2)], rng=rng, roughness=0.18, rings=5, segments=9)
