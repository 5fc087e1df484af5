"""Procedural static street geometry: road, lane markings, curbs, sidewalks, facades, trees,
poles, signs and parked cars. Map frame: road surface at z = 0, main road along +x centred
on y = 0, traffic on the right (lanes heading +x at negative y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2mat.sim import materials as mat
from s2mat.sim import meshes
from s2mat.sim.world import StaticPart
from s2mat.types import Box3D, ObjectClass

LANE = 3.5  # metres per lane
LANES_EDGE = 2 * LANE  # outer edge of the driving lanes
ROAD_HALF = 9.0  # curb line; 7-9 m is the parking strip
PARKING_Y = 8.0  # centre of parked cars
SIDEWALK_OUT = 13.5  # where facades may start
CURB_HEIGHT = 0.15
CROSS_HALF = ROAD_HALF + 8.0  # half-width of the corridor a cross street keeps free of buildings


@dataclass
class Layout:
    """The extent of the street and where a cross street (if any) meets it."""

    x0: float
    x1: float
    cross_x: float | None = None
    cross_len: float = 120.0


class InstanceIds:
    """Hands out instance ids 1, 2, 3, ... (0 means no instance)."""

    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def _in_cross(layout: Layout, x0: float, x1: float, margin: float = 0.0) -> bool:
    if layout.cross_x is None:
        return False
    return x1 > layout.cross_x - CROSS_HALF - margin and x0 < layout.cross_x + CROSS_HALF + margin


def _spans_outside_cross(layout: Layout, x0: float, x1: float, half: float) -> list[tuple[float, float]]:
    if layout.cross_x is None:
        return [(x0, x1)]
    return [(x0, layout.cross_x - half), (layout.cross_x + half, x1)]


def ground(layout: Layout) -> list[StaticPart]:
    """Terrain underlay, road surfaces and the raised sidewalks whose sides are the curbs."""
    x0, x1 = layout.x0, layout.x1
    parts = [StaticPart(meshes.grid(x0 - 60, x1 + 60, -45, 45, -0.02, 45.0), mat.TERRAIN, "grass")]
    parts.append(StaticPart(meshes.grid(x0, x1, -ROAD_HALF, ROAD_HALF, 0.0, 20.0), mat.ROAD, "asphalt"))
    slab_h = CURB_HEIGHT + 0.1
    slab_z = CURB_HEIGHT - slab_h / 2
    for side in (-1, 1):
        for a, b in _spans_outside_cross(layout, x0, x1, ROAD_HALF):
            y_mid = side * (ROAD_HALF + 4.5)
            parts.append(StaticPart(meshes.box([(a + b) / 2, y_mid, slab_z], [b - a, 9.0, slab_h]), mat.SIDEWALK, "concrete"))
    if layout.cross_x is not None:
        cx, n = layout.cross_x, layout.cross_len
        parts.append(StaticPart(meshes.grid(cx - ROAD_HALF, cx + ROAD_HALF, -n, n, 0.0, 20.0), mat.ROAD, "asphalt"))
        for side in (-1, 1):
            for y_sign in (-1, 1):
                a, b = ROAD_HALF, n
                y_mid = y_sign * (a + b) / 2
                parts.append(StaticPart(meshes.box([cx + side * (ROAD_HALF + 4.0), y_mid, slab_z], [8.0, b - a, slab_h]),
                                        mat.SIDEWALK, "concrete"))
    return parts


def lane_markings(layout: Layout) -> list[StaticPart]:
    """Painted lines: a solid double centre line, dashed lane dividers and solid edge lines."""
    out: list[meshes.Mesh] = []
    z, h = 0.0, 0.01
    for a, b in _spans_outside_cross(layout, layout.x0, layout.x1, ROAD_HALF + 1.0):
        for y in (-0.12, 0.12, -LANES_EDGE, LANES_EDGE):
            out.append(meshes.box([(a + b) / 2, y, z], [b - a, 0.12, h]))
        for y in (-LANE, LANE):
            starts = np.arange(a, b - 3.0, 9.0)
            out += [meshes.box([s + 1.5, y, z], [3.0, 0.12, h]) for s in starts]
    if layout.cross_x is not None:
        cx = layout.cross_x
        for y0 in (-1, 1):
            # Zebra crossings across the cross street, and stop lines on the main road.
            for k in range(8):
                x = cx - ROAD_HALF + 1.2 + k * 2.2
                out.append(meshes.box([x, y0 * (ROAD_HALF + 2.0), z], [0.5, 3.0, h]))
        for sx in (-1, 1):
            out.append(meshes.box([cx + sx * (ROAD_HALF + 0.5), -sx * LANE, z], [0.4, LANES_EDGE, h]))
    return [StaticPart(meshes.merge(out), mat.LANE_MARKING, "paint")]


def _facade_material(rng: np.random.Generator) -> tuple[str, tuple[int, int, int]]:
    name = ["facade_brick", "facade_plaster", "facade_grey", "facade_glass"][rng.choice(4, p=[0.35, 0.35, 0.2, 0.1])]
    base = np.asarray(mat.MATERIALS[name].color, dtype=np.float64)
    jitter = np.clip(base * rng.uniform(0.8, 1.15) + rng.uniform(-12, 12, 3), 0, 255)
    return name, tuple(int(c) for c in jitter)


def _row_of_buildings(rng: np.random.Generator, u0: float, u1: float, place) -> list[StaticPart]:
    """Buildings along a street edge from ``u0`` to ``u1``; ``place(u, v, z, du, dv, dz)`` maps a
    box in street coordinates (u along the street, v away from it) to a mesh."""
    parts: list[StaticPart] = []
    u = u0
    while u < u1:
        width = rng.uniform(8.0, 24.0)
        if rng.random() < 0.18:  # an alley or a gap
            u += rng.uniform(3.0, 7.0)
            continue
        a, b = u, min(u + width, u1)
        u = b
        if b - a < 3.0:
            continue
        front = SIDEWALK_OUT + rng.uniform(0.0, 2.5)
        depth = rng.uniform(9.0, 15.0)
        height = rng.uniform(6.0, 24.0)
        name, color = _facade_material(rng)
        pieces = [place((a + b) / 2, front + depth / 2, height / 2, b - a, depth, height)]
        # Uneven facade: pilasters, bay windows / balconies, a ground-floor awning.
        if rng.random() < 0.6:
            step = rng.uniform(3.0, 5.0)
            for pu in np.arange(a + 0.5, b - 0.2, step):
                pieces.append(place(pu, front - 0.15, height / 2, 0.5, 0.3, height))
        floors = int(height // 3.2)
        if floors >= 2 and rng.random() < 0.6:
            span = rng.uniform(2.0, 3.5)
            for fl in range(1, floors):
                for bu in np.arange(a + 1.5, b - span, span + rng.uniform(1.5, 3.0)):
                    if rng.random() < 0.7:
                        depth_out = rng.uniform(0.6, 1.2)
                        pieces.append(place(bu + span / 2, front - depth_out / 2, fl * 3.2 + 0.6, span, depth_out, 1.1))
        if rng.random() < 0.3:
            pieces.append(place((a + b) / 2, front - 0.9, 3.0, b - a - 1.0, 1.8, 0.12))
        parts.append(StaticPart(meshes.merge(pieces), mat.BUILDING, name, color))
    return parts


def buildings(rng: np.random.Generator, layout: Layout) -> list[StaticPart]:
    parts: list[StaticPart] = []
    for side in (-1, 1):
        for a, b in _spans_outside_cross(layout, layout.x0, layout.x1, CROSS_HALF):

            def place(u, v, z, du, dv, dz, side=side):
                return meshes.box([u, side * v, z], [du, dv, dz])

            parts += _row_of_buildings(rng, a, b, place)
    if layout.cross_x is not None:
        cx = layout.cross_x
        for side in (-1, 1):
            for y_sign in (-1, 1):

                def place(u, v, z, du, dv, dz, side=side, y_sign=y_sign):
                    return meshes.box([cx + side * (v - SIDEWALK_OUT + CROSS_HALF - 0.5), y_sign * u, z], [dv, du, dz])

                parts += _row_of_buildings(rng, CROSS_HALF, layout.cross_len, place)
    return parts


def street_furniture(rng: np.random.Generator, layout: Layout) -> list[StaticPart]:
    """Trees, lamp posts and traffic signs along both curbs."""
    trunks, crowns, poles, signs = [], [], [], []
    for side in (-1, 1):
        x = layout.x0 + rng.uniform(0, 6)
        while x < layout.x1:
            if not _in_cross(layout, x - 3, x + 3, margin=2.0):
                kind = rng.choice(3, p=[0.55, 0.3, 0.15])
                if kind == 0:
                    y = side * (ROAD_HALF + 1.2)
                    h = rng.uniform(2.2, 3.5)
                    r = rng.uniform(1.4, 2.6)
                    trunks.append(meshes.cylinder([x, y], rng.uniform(0.12, 0.22), CURB_HEIGHT, h + 0.5 * r, segments=7))
                    crowns.append(meshes.tree_crown(np.array([x, y, h + r * 0.8]), r, rng))
                elif kind == 1:
                    y = side * (ROAD_HALF + 0.5)
                    poles.append(meshes.cylinder([x, y], 0.1, CURB_HEIGHT, 7.5, segments=6))
                    poles.append(meshes.box([x, y - side * 0.9, 7.4], [0.2, 1.8, 0.15]))
                else:
                    y = side * (ROAD_HALF + 0.4)
                    poles.append(meshes.cylinder([x, y], 0.04, CURB_HEIGHT, 2.6, segments=6))
                    signs.append(meshes.box([x, y, 2.35], [0.05, 0.65, 0.65], yaw=float(rng.uniform(-0.2, 0.2))))
            x += rng.uniform(7.0, 14.0)
    parts = []
    if trunks:
        parts.append(StaticPart(meshes.merge(trunks), mat.TRUNK, "bark"))
    if crowns:
        parts.append(StaticPart(meshes.merge(crowns), mat.VEGETATION, "leaves"))
    if poles:
        parts.append(StaticPart(meshes.merge(poles), mat.POLE, "metal_pole"))
    if signs:
        parts.append(StaticPart(meshes.merge(signs), mat.TRAFFIC_SIGN, "sign"))
    return parts


def car_size(rng: np.random.Generator) -> np.ndarray:
    """Length, width, height of a passenger car or small van, metres."""
    if rng.random() < 0.2:
        return np.array([rng.uniform(4.6, 5.2), rng.uniform(1.9, 2.0), rng.uniform(1.7, 2.0)])
    return np.array([rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9), rng.uniform(1.4, 1.6)])


def parked_cars(rng: np.random.Generator, layout: Layout, ids: InstanceIds,
                keep_free: list[tuple[float, float, int]] | None = None, occupancy: float = 0.6) -> list[StaticPart]:
    """Cars parked in the strips beside the curbs; ``keep_free`` lists (x0, x1, side) to leave empty."""
    parts = []
    keep_free = keep_free or []
    for side in (-1, 1):
        x = layout.x0 + rng.uniform(0, 5)
        while x < layout.x1 - 6:
            size = car_size(rng)
            a, b = x, x + size[0]
            free = all(not (b > f0 and a < f1 and side == s) for f0, f1, s in keep_free)
            if free and not _in_cross(layout, a, b, margin=3.0) and rng.random() < occupancy:
                yaw = (0.0 if side < 0 else np.pi) + rng.normal(0, 0.03)
                cx, cy = (a + b) / 2, side * (PARKING_Y + rng.normal(0, 0.1))
                verts, tris = meshes.car(*size)
                c, s = np.cos(yaw), np.sin(yaw)
                verts = verts @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + [cx, cy, 0.0]
                color = mat.CAR_COLORS[rng.integers(len(mat.CAR_COLORS))]
                parts.append(StaticPart((verts, tris), mat.CAR, "car_paint", color, instance=ids(),
                                        object_class=ObjectClass.CAR, box=Box3D([cx, cy, size[2] / 2], size, yaw)))
            x = b + rng.uniform(0.8, 4.0)
    return parts
