"""Map-aware object detection from one LiDAR scan.

Clusters of non-ground points become oriented boxes with a class guess. With a static map,
each cluster is checked against the map's evidence at its voxels: a cluster occupying space
the map has repeatedly seen free cannot be part of the static world, so it is a *dynamic
candidate*; a cluster inside persistent static occupancy is *structure*. Clusters too long
or too tall for a road user are structure as well. Structure is not reported as a
detection, except object-shaped clusters (by default) with space the map has seen free just
above them, which stay as non-dynamic detections so that parked cars are still tracked: a
road user stands in the open, while a car-sized piece of a facade (cut off by the top of
the field of view or by an awning's shadow), or a trunk or pole, goes on upwards into space
that is occupied or never seen. A cluster partly in space seen free and partly in
persistent occupancy is first split when its new part stands apart with a walker's or a
cyclist's shape: someone who walks or rides past a pole or a parked car. With the map check,
points beyond the clusters' reach (``far_free_range``) are far traffic (``far_dynamic``),
which registration must not lock onto, when they belong to a low object
(:mod:`perception.far_traffic`) or, asked point by point, lie in space the map has seen free.

Some class guesses look beyond one cluster's box: a car-long cluster too tall for a car
whose topmost points stand within a post's footprint is a car joined to a pole, trunk or
sign beside it; a cyclist-shaped cluster (a thin upright face) that a fast predicted
track carries across its length is the end of a car seen head-on or from behind; and a
walker-shaped cluster in the predicted box of a small track faster than anyone walks is a
cyclist seen end-on. Two car boxes that overlap along one heading, whose points together fit
one car, are one car seen in two pieces (a post or trunk in front of it leaves a gap).

Frames: input points are in the sensor frame. With ``world_T_sensor`` the boxes of the
detections (and the predicted boxes given as hints) are in the world frame, otherwise in
the sensor frame. Units are metres and radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from perception.boxes import (
    CAR_HEIGHTS,
    JOINED_LENGTHS,
    JOINED_WIDTH,
    BoxArrays,
    complete_boxes,
    fit_boxes,
    fit_headings,
    guess_classes,
)
from perception.clustering import (
    Clusters,
    cluster_points,
    clusters_from_labels,
    grid_pieces,
    run_indices,
    run_starts,
    split_walkers,
    stable_argsort,
)
from perception.config import ClusteringConfig, DetectionConfig
from perception.far_traffic import FAR_GRID_REACH, far_points, low_far_objects
from perception.ground import GroundModel
from perception.map_query import MapQuery
from perception.tracking.geometry import bev_intersection_pairs, wrap_angle
from perception.types import Box3D, Detection, ObjectClass, box_arrays, boxes_contain

GROUND_CELL = 2.0  # metres; cell of the ground-height estimate used when only a mask is given
# A thin upright shape (a cyclist's side, or a car's end seen head-on or from behind) that a
# predicted track carries across its own length at this speed or more is a car's end: a
# cyclist rides along its length.
CAR_END_SPEED = 3.0  # m/s
CAR_END_ANGLE = np.radians(60.0)  # at least this between the track's heading and the shape's length
CAR_END_REACH = 0.5  # metres: the shape's centre lies in the predicted box grown by this much
# A walker's shape in the predicted box (grown by CAR_END_REACH) of a small track going faster
# than anyone walks or jogs on a street is a cyclist seen end-on, whose length its points do
# not show: it is guessed a cyclist heading the track's way, and its box grows to a cyclist's.
RIDER_SPEED = 3.5  # m/s
CAR_MIN_LENGTH = 2.5  # metres: a predicted box this long or longer is a car's
# A parked car seen through a gap (behind a post, a walker, the edge of the view) can show only
# a piece shaped as a walker or a cyclist, which alone would start a false track. Such a shape,
# not in space seen free, whose centre lies in the predicted box of a car track slower than
# PARKED_SPEED is part of that car. On the 18 simulated runs: mean MOTA 86.27 -> 86.47 (street
# 83.07 -> 83.51); a walker crossing a false car track's box in space seen free stays a walker.
PARKED_SPEED = 1.0  # m/s
# A shape with returns above it is a road user only in space seen free, mostly: a walker passing
# under a tree is all in it, while grazing rays and the odometry's jitter leave a thin trunk's
# 0.1 m voxels seen free in part (street seed 5: free shares 0.4-0.7 in most frames, tracked as
# a walker). On the 18 simulated runs, with this share instead of detection.dynamic_fraction
# (0.3): mean MOTA 86.47 -> 86.54, street seed 5 79.3 -> 79.9; no run worse by more than 0.1.
UNDER_CANOPY_FREE = 0.6
# A parked car behind a post or trunk is seen in two pieces, each completed to a car's box:
# two boxes that overlap along one heading and whose points together fit one car are one car.
PIECES_IOU = 0.2  # bird's-eye IoU of the completed boxes, at least
PIECES_ANGLE = np.radians(15.0)  # between their headings, at most
PIECES_MAX_LENGTH = 5.5  # metres: the box of both pieces' points, at most
# A car joined to a pole, trunk or sign beside it: shaped as guess_classes' joined car but
# too tall as a whole (up to POST_MAX_HEIGHT), with all but the top POST_SHARE of its points
# at a car's height.
POST_SHARE = 0.05
POST_MAX_HEIGHT = 4.5  # metres, the whole cluster
POST_FOOTPRINT = 1.0  # metres, at most, across the points above that height (a facade is wider)
# A car under something that overhangs it (a tree crown, an awning): too tall or too wide for
# a car as a whole, but most of its points lie below CANOPY_CUT above its bottom and form a
# car's footprint there. A cluster shaped as a car joined to something beside it (too wide for
# a car) is refitted the same way, to the largest piece of its points below the cut: a parked
# car with a street tree's trunk and crown beside it was boxed across the street. On the 18
# simulated runs: mean MOTA 84.74 -> 85.09, street seed 3 79.0 -> 83.0, intersection seed 5
# 79.5 -> 82.3; street seeds 2 and 5 lost 1.9 and 1.3 (a far parked car seen in pieces kept
# one more false walker track).
CANOPY_CUT = 1.6  # metres above the cluster's bottom: a car's roof is below, a crown above
CANOPY_BODY = 1.0  # metres above the bottom: the car's body, whose footprint is fitted (a crown's edge may hang lower than its roof)
CANOPY_MARGIN = 0.1  # metres around that footprint in which the roof's points are looked for
CANOPY_SHARE = 0.6  # of the cluster's points, at least, below the cut
CANOPY_BODY_SHARE = 0.4  # and below CANOPY_BODY: a car's points crowd low, a facade's spread evenly up its height
CANOPY_WIDTHS = (1.4, 2.3)  # metres: the footprint below the cut is a car's this wide
CANOPY_MAX_LENGTH = 8.0  # metres: the whole cluster, crown included, at most this long


@dataclass
class DetectionOutput:
    """Everything detection found in one scan."""

    detections: list[Detection]
    clusters: Clusters
    boxes: BoxArrays  # one per cluster, sensor frame
    classes: list[ObjectClass]  # one per cluster
    structure: np.ndarray  # (count,) bool, cluster is static structure (by shape or by map)
    dynamic: np.ndarray  # (count,) bool, cluster is a dynamic candidate
    free_share: np.ndarray  # (count,) share of the cluster's voxels the map has seen free
    occupied_share: np.ndarray  # (count,) share of its voxels in persistent static occupancy
    detection_cluster: np.ndarray  # (len(detections),) cluster of each detection
    open_above: np.ndarray | None = None  # (count,) share of its top columns with space seen free above (1 untested)
    far_dynamic: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (F,) far traffic: far points of low objects or in space seen free (DetectionConfig.far_free_range)


def _yaw_of(rotation: np.ndarray) -> float:
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def _to_sensor(boxes: list[Box3D], world_T_sensor: np.ndarray | None) -> list[Box3D]:
    if world_T_sensor is None:
        return list(boxes)
    rot, t = world_T_sensor[:3, :3], world_T_sensor[:3, 3]
    dyaw = _yaw_of(rot)
    return [Box3D((b.center - t) @ rot, b.size, b.yaw - dyaw) for b in boxes]


def _placed(boxes: BoxArrays, chosen: np.ndarray, world_T_sensor: np.ndarray | None) -> list[Box3D]:
    """The ``chosen`` boxes, in the world frame when the pose is known."""
    centers, yaws = boxes.center[chosen], boxes.yaw[chosen]
    if world_T_sensor is not None:
        centers = centers @ world_T_sensor[:3, :3].T + world_T_sensor[:3, 3]
        yaws = yaws + _yaw_of(world_T_sensor[:3, :3])
    return [Box3D(centers[i], boxes.size[c], float(yaws[i])) for i, c in enumerate(chosen.tolist())]


def _car_ends(boxes: BoxArrays, classes: list[ObjectClass], predicted: list[Box3D],
              velocity: np.ndarray) -> np.ndarray:
    """(K,) bool: boxes guessed cyclists whose centre lies in a fast ``predicted`` box grown by
    CAR_END_REACH (same frame; ``velocity`` (P, 3) m/s) that moves across their length: the
    end of a car."""
    ends = np.zeros(len(classes), dtype=bool)
    thin = np.flatnonzero([c is ObjectClass.CYCLIST for c in classes])
    if not len(thin):
        return ends
    for i in np.flatnonzero(np.hypot(velocity[:, 0], velocity[:, 1]) >= CAR_END_SPEED).tolist():
        inside = predicted[i].contains(boxes.center[thin], CAR_END_REACH)
        heading = np.arctan2(velocity[i, 1], velocity[i, 0])
        across = np.abs(np.sin(heading - boxes.yaw[thin])) >= np.sin(CAR_END_ANGLE)
        ends[thin[inside & across]] = True
    return ends


def _riders(boxes: BoxArrays, classes: list[ObjectClass], predicted: list[Box3D], velocity: np.ndarray) -> np.ndarray:
    """(K,) bool: boxes guessed walkers whose centre lies in the ``predicted`` box (grown by
    CAR_END_REACH) of a small track faster than RIDER_SPEED (``velocity`` (P, 3) m/s, same
    frame); each such box is turned, in place, to that track's heading."""
    riders = np.zeros(len(classes), dtype=bool)
    walkers = np.flatnonzero([c is ObjectClass.PEDESTRIAN for c in classes])
    if not len(walkers):
        return riders
    fast = np.hypot(velocity[:, 0], velocity[:, 1]) >= RIDER_SPEED
    for i in np.flatnonzero(fast).tolist():
        if predicted[i].size[0] >= CAR_MIN_LENGTH:
            continue
        inside = walkers[predicted[i].contains(boxes.center[walkers], CAR_END_REACH)]
        riders[inside] = True
        boxes.yaw[inside] = np.arctan2(velocity[i, 1], velocity[i, 0])
    return riders


def _parked_car_parts(boxes: BoxArrays, classes: list[ObjectClass], predicted: list[Box3D], velocity: np.ndarray,
                      still: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Walker and cyclist shapes among the ``still`` clusters ((K,) bool: not in space seen free)
    whose centre lies in the ``predicted`` box of a car track slower than PARKED_SPEED
    (``velocity`` (P, 3) m/s, same frame) are pieces of a parked car. If a shape guessed a car
    lies in that box too, the pieces are its parts; otherwise the piece with the most points
    (``counts``) takes the predicted box, in place, and the others are its parts. Returns the
    (K,) bool pieces that took a car's box and {part: the cluster it belongs to}."""
    took = np.zeros(len(classes), dtype=bool)
    parts: dict[int, int] = {}
    small = (ObjectClass.PEDESTRIAN, ObjectClass.CYCLIST)
    pieces = np.flatnonzero(still & np.array([c in small for c in classes], dtype=bool))
    parked = np.flatnonzero((np.hypot(velocity[:, 0], velocity[:, 1]) < PARKED_SPEED)
                            & np.array([b.size[0] >= CAR_MIN_LENGTH for b in predicted], dtype=bool))
    if not len(pieces) or not len(parked):
        return took, parts
    cars = np.flatnonzero([c is ObjectClass.CAR for c in classes])
    table = box_arrays([predicted[i] for i in parked.tolist()])
    holds = boxes_contain(table, boxes.center[None, pieces], 0.0)  # (parked car, piece)
    holds_car = boxes_contain(table, boxes.center[None, cars], 0.0)
    unclaimed = np.ones(len(pieces), dtype=bool)
    for row in np.flatnonzero(holds.any(axis=1)).tolist():
        inside = np.flatnonzero(holds[row] & unclaimed)
        if not len(inside):
            continue
        unclaimed[inside] = False
        inside = pieces[inside]
        car = cars[holds_car[row]]
        if len(car):
            owner = int(car[0])
        else:
            owner = int(inside[np.argmax(counts[inside])])
            box = predicted[parked[row]]
            boxes.center[owner], boxes.size[owner], boxes.yaw[owner] = box.center, box.size, box.yaw
            took[owner] = True
        parts.update((p, owner) for p in inside.tolist() if p != owner)
    return took, parts


def _pieces_of_one_car(points: np.ndarray, clusters: Clusters, boxes: BoxArrays, seen: BoxArrays,
                       candidates: np.ndarray, ground_z: np.ndarray) -> dict[int, int]:
    """Car pieces among the ``candidates`` (cluster indices guessed cars, their ``boxes``
    completed) that are one car seen in two parts (a post or tree in front of it leaves a gap):
    completed boxes that overlap by PIECES_IOU or more along one heading (within
    PIECES_ANGLE), whose points together fit a car (at most PIECES_MAX_LENGTH long and
    CANOPY_WIDTHS[1] wide). Pairs go by overlap, each cluster in one at most; the larger piece
    takes the box of both, in place (``seen``: before completion). Returns {smaller: larger}."""
    if len(candidates) < 2:
        return {}
    # Pairs whose centres lie within their half lengths and whose headings agree, then their overlap.
    xy, half = boxes.center[candidates, :2], 0.5 * boxes.size[candidates, 0]
    apart = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    turn = np.abs(wrap_angle(2.0 * (boxes.yaw[candidates, None] - boxes.yaw[None, candidates]))) / 2.0
    first, second = np.nonzero(np.triu((apart < half[:, None] + half[None, :]) & (turn <= PIECES_ANGLE), k=1))
    if not len(first):
        return {}
    rows = np.column_stack([boxes.center[candidates], boxes.size[candidates], boxes.yaw[candidates]])
    inter = bev_intersection_pairs(rows[first], rows[second])
    area = rows[:, 3] * rows[:, 4]
    overlap = inter / np.maximum(area[first] + area[second] - inter, 1e-12)
    joined: dict[int, int] = {}
    paired: set[int] = set()  # clusters already in a pair
    for pair in np.argsort(-overlap, kind="stable").tolist():
        if overlap[pair] < PIECES_IOU:
            break
        a, b = first[pair], second[pair]
        big, small = sorted((int(candidates[a]), int(candidates[b])), key=lambda c: -clusters.point_counts[c])
        if big in paired or small in paired:
            continue
        members = np.concatenate([clusters.cluster_indices(big), clusters.cluster_indices(small)])
        car = fit_boxes(points, members, np.zeros(1, np.int64), seen.yaw[big:big + 1])
        if car.size[0, 0] > PIECES_MAX_LENGTH or car.size[0, 1] > CANOPY_WIDTHS[1]:
            continue
        seen.center[big], seen.size[big], seen.yaw[big] = car.center[0], car.size[0], car.yaw[0]
        complete_boxes(car, [ObjectClass.CAR], ground_z[big:big + 1])
        boxes.center[big], boxes.size[big], boxes.yaw[big] = car.center[0], car.size[0], car.yaw[0]
        joined[small] = big
        paired.update((big, small))
    return joined


def _cars_beside_posts(points: np.ndarray, clusters: Clusters, boxes: BoxArrays,
                       classes: list[ObjectClass]) -> np.ndarray:
    """Clusters (indices) that are a car joined to something tall and thin beside it (the
    points above the car's height within POST_FOOTPRINT); their boxes are cut down, in place,
    to the height below the top POST_SHARE of their points."""
    length, width, height = boxes.size[:, 0], boxes.size[:, 1], boxes.size[:, 2]
    maybe = np.flatnonzero(np.array([c is ObjectClass.OTHER for c in classes], dtype=bool)
                           & (length >= JOINED_LENGTHS[0]) & (length <= JOINED_LENGTHS[1]) & (width <= JOINED_WIDTH)
                           & (height > CAR_HEIGHTS[1]) & (height <= POST_MAX_HEIGHT))
    cars = []
    for c in maybe.tolist():  # a few clusters per scan
        bottom = boxes.center[c, 2] - 0.5 * boxes.size[c, 2]
        xyz = points[clusters.cluster_indices(c)]
        top = float(np.quantile(xyz[:, 2], 1.0 - POST_SHARE))
        body = top - bottom
        post = xyz[xyz[:, 2] > top, :2]
        if CAR_HEIGHTS[0] <= body <= CAR_HEIGHTS[1] and np.ptp(post, axis=0).max() <= POST_FOOTPRINT:
            boxes.center[c, 2] = bottom + 0.5 * body
            boxes.size[c, 2] = body
            cars.append(c)
    return np.array(cars, dtype=np.int64)


def _cars_under_canopy(points: np.ndarray, clusters: Clusters, boxes: BoxArrays, classes: list[ObjectClass],
                       clustering: ClusteringConfig) -> np.ndarray:
    """Clusters (indices) that are a car with something overhanging it: most of their points lie
    below CANOPY_CUT above the bottom, and those below CANOPY_BODY have a car's footprint; or a
    car too wide for one (joined to something beside it) whose points below the cut have it.
    Their boxes are refitted, in place, to that footprint and the highest point over it below
    the cut."""
    length, width, height = boxes.size[:, 0], boxes.size[:, 1], boxes.size[:, 2]
    other = np.array([c is ObjectClass.OTHER for c in classes], dtype=bool)
    joined = np.array([c is ObjectClass.CAR for c in classes], dtype=bool) & (width > CANOPY_WIDTHS[1])
    maybe = np.flatnonzero(((other & (height > CANOPY_CUT)) | joined)
                           & (length >= JOINED_LENGTHS[0]) & (length <= CANOPY_MAX_LENGTH) & (height <= POST_MAX_HEIGHT))
    cars = []
    for c in maybe.tolist():  # a few clusters per scan
        members = clusters.cluster_indices(c)
        bottom = boxes.center[c, 2] - 0.5 * boxes.size[c, 2]
        rise = points[members, 2] - bottom
        low = members[rise <= CANOPY_CUT]
        body = members[rise <= CANOPY_BODY]
        if len(body) < 3 or (other[c] and (len(low) < CANOPY_SHARE * len(members)
                                           or len(body) < CANOPY_BODY_SHARE * len(members))):
            continue
        # The body is the largest piece below CANOPY_BODY (a trunk or post beside the car is not);
        # a cluster shaped as a car joined to something has all its points below the crown's
        # edge, and its body is the largest piece below CANOPY_CUT.
        if joined[c]:
            body = low
        piece, cells = _main_piece(points[body, :2])
        body = body[piece]
        # The heading from the piece's grid cells (few, and denoised, as a cluster's voxels).
        heading = fit_headings(cells, np.zeros(1, np.int64), clustering.yaw_steps, clustering.box_criterion)
        car = fit_boxes(points, body, np.zeros(1, np.int64), heading)
        car_length, car_width = car.size[0, :2]
        if not (JOINED_LENGTHS[0] <= car_length <= JOINED_LENGTHS[1] and CANOPY_WIDTHS[0] <= car_width <= CANOPY_WIDTHS[1]):
            continue
        footprint = Box3D(car.center[0], (car_length, car_width, np.inf), float(car.yaw[0]))
        top = float(points[low[footprint.contains(points[low], CANOPY_MARGIN)], 2].max())
        boxes.center[c] = (car.center[0, 0], car.center[0, 1], 0.5 * (bottom + top))
        boxes.size[c] = (car_length, car_width, top - bottom)
        boxes.yaw[c] = car.yaw[0]
        cars.append(c)
    return np.array(cars, dtype=np.int64)


def _ground_at(points: np.ndarray, model: GroundModel | None, mask: np.ndarray, xy: np.ndarray,
               reach: float) -> np.ndarray:
    """Ground height (sensor-frame z) under (K, 2) positions: the model's planes, or with only
    a mask the ground points' cells within ``reach`` (NaN where a cell holds none)."""
    return model.height_at(xy) if model is not None else _ground_height_from_mask(points, mask, xy, reach)


def _ground_height_from_mask(points: np.ndarray, ground_mask: np.ndarray, xy: np.ndarray,
                             reach: float) -> np.ndarray:
    """Mean height of the ground points in the GROUND_CELL cell under each (K, 2) position;
    NaN where the cell holds no ground point."""
    n_cell = int(np.ceil(2 * reach / GROUND_CELL)) + 1
    g = points[ground_mask]
    inside = (np.abs(g[:, 0]) < reach) & (np.abs(g[:, 1]) < reach)
    g = g[inside]
    cell = ((g[:, 0] + reach) // GROUND_CELL).astype(np.int64) * n_cell + ((g[:, 1] + reach) // GROUND_CELL).astype(np.int64)
    count = np.bincount(cell, minlength=n_cell * n_cell)
    total = np.bincount(cell, g[:, 2], n_cell * n_cell)
    q = np.clip(((xy + reach) // GROUND_CELL).astype(np.int64), 0, n_cell - 1)
    k = q[:, 0] * n_cell + q[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[k] > 0, total[k] / count[k], np.nan)


OVERHEAD_CELL = 0.25  # metres; voxel of the overhead-returns test
OVERHEAD_MIN_VOXELS = 2  # occupied voxels above a cluster that make it overhung
OVERHEAD_MARGIN = 0.6  # metres around the footprint searched (a crown's seen side leans towards the sensor)
OVERHEAD_COARSE = 4  # voxels a side of the coarse cells that select the returns near the queries


def _overhung(points: np.ndarray, ground_mask: np.ndarray, boxes: BoxArrays, which: np.ndarray,
              reach: float) -> np.ndarray:
    """(len(which),) bool: the scan has returns above the top of each box, within ``reach``
    metres, over its footprint grown by ``OVERHEAD_MARGIN`` (sensor frame).

    Each box is tested at the ``OVERHEAD_CELL`` voxels above its grown footprint (all boxes'
    voxels in one array); the scan's non-ground returns in the span of all those voxels mark
    a dense occupancy grid.
    """
    cell = OVERHEAD_CELL
    out = np.zeros(len(which), bool)
    levels = np.arange(cell, reach + 1e-9, cell)
    if not len(which) or not len(levels):
        return out
    # Per box a grid of n_u by n_v footprint positions (as np.arange(-half, half + 1e-9,
    # cell) lays them), each with every level above the box's top: n_u * n_v * L queries,
    # the voxel's (x, y) index taken once per footprint position and its z once per level.
    half_u = 0.5 * boxes.size[which, 0] + OVERHEAD_MARGIN
    half_v = 0.5 * boxes.size[which, 1] + OVERHEAD_MARGIN
    n_u = np.ceil((2 * half_u + 1e-9) / cell).astype(np.int64)
    n_v = np.ceil((2 * half_v + 1e-9) / cell).astype(np.int64)
    count = n_u * n_v
    box = np.repeat(np.arange(len(which)), count)
    iv, iu = np.divmod(run_indices(0, count), n_u[box])
    u = -half_u[box] + iu * cell
    v = -half_v[box] + iv * cell
    c, s_ = np.cos(boxes.yaw[which])[box], np.sin(boxes.yaw[which])[box]
    centre = boxes.center[which][box]
    top = boxes.center[which, 2] + 0.5 * boxes.size[which, 2]
    where = (centre[:, 0] + c * u - s_ * v, centre[:, 1] + s_ * u + c * v, top[:, None] + levels)
    keys = [np.floor(q / cell).astype(np.int64) + _CELL_OFFSET for q in where]  # (P,), (P,), (boxes, L)
    lo = np.array([q.min() for q in keys])
    hi = np.array([q.max() for q in keys])
    # The returns near the queried voxels: a single-precision cut to their span of heights,
    # then to the cells of a coarse grid (OVERHEAD_COARSE voxels a side) that hold a queried
    # voxel or touch one (the margin covers single-precision rounding), then the exact voxel
    # index as for the queries.
    pts = np.asarray(points)
    col = pts[:, 2]
    z_lo, z_hi = (np.float32((k - _CELL_OFFSET + d) * cell) for k, d in ((lo[2], -1), (hi[2], 2)))
    idx = np.flatnonzero((col >= z_lo) & (col < z_hi) & ~np.asarray(ground_mask, dtype=bool))
    # Coarse cell (voxel - offset) // OVERHEAD_COARSE - first: the first and last on each axis
    # are never marked, and returns beyond the span are clipped into them.
    first = (lo[:2] - _CELL_OFFSET) // OVERHEAD_COARSE - 2
    extent = (hi[:2] - _CELL_OFFSET) // OVERHEAD_COARSE + 3 - first
    near = np.zeros(extent, dtype=bool)
    qx, qy = ((keys[a] - _CELL_OFFSET) // OVERHEAD_COARSE - first[a] for a in range(2))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            near[qx + dx, qy + dy] = True
    scale = np.float32(1.0 / (OVERHEAD_COARSE * cell))
    coarse = [np.clip(np.floor(pts[idx, a] * scale) - np.float32(first[a]), 0, extent[a] - 1).astype(np.intp)
              for a in range(2)]
    coarse[0] *= extent[1]
    coarse[0] += coarse[1]
    idx = idx[near.reshape(-1).take(coarse[0])]
    # floor(v) + offset lies in [lo, hi] exactly when lo - offset <= v < hi - offset + 1.
    scaled = [np.asarray(pts[idx, axis], dtype=np.float64) / cell for axis in range(3)]
    inside = np.ones(len(idx), dtype=bool)
    for axis, v in enumerate(scaled):
        inside &= v >= lo[axis] - _CELL_OFFSET
        inside &= v < hi[axis] - _CELL_OFFSET + 1
    if not inside.any():
        return out
    shape = hi - lo + 1
    stride = np.array([shape[1] * shape[2], shape[2], 1])
    flat = np.zeros(int(inside.sum()), dtype=np.int64)
    for axis, v in enumerate(scaled):
        flat += (np.floor(v[inside]).astype(np.int64) + (_CELL_OFFSET - lo[axis])) * stride[axis]
    grid = np.zeros(int(np.prod(shape)), dtype=bool)
    grid[flat] = True
    flat = ((keys[0] - lo[0]) * stride[0] + (keys[1] - lo[1]) * stride[1])[:, None] + (keys[2] - lo[2])[box]
    hit = np.flatnonzero(grid[flat])
    # Distinct occupied voxels above each box.
    pair = np.unique(box[hit // len(levels)] * int(np.prod(shape)) + flat.reshape(-1)[hit])
    distinct = np.bincount(pair // int(np.prod(shape)), minlength=len(which))
    return distinct >= OVERHEAD_MIN_VOXELS


_CELL_OFFSET = 1 << 20  # keeps the voxel indices of _cell_index positive


def _cell_index(points: np.ndarray, cell: float) -> np.ndarray:
    """(M, 3) int64 offset index of the ``cell``-sized voxel of each (M, 3) position."""
    return np.floor(np.asarray(points, dtype=np.float64) / cell).astype(np.int64) + _CELL_OFFSET


FOV_EDGE = np.deg2rad(0.3)  # a cluster whose top is this close to the highest beam may continue above it


def _elevation(pts: np.ndarray) -> np.ndarray:
    """Elevation angle (radians) of (M, 3) sensor-frame points."""
    return np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1]))


TOP_BEAM_PERCENTILE = 99.9  # percentile of the scan's elevations taken as its highest beam


def _top_beam(pts: np.ndarray) -> float | None:
    """The TOP_BEAM_PERCENTILE percentile of the finite elevations of an (N, 3) scan (None
    when there is none).

    Only the highest elevations decide it, so when every point is finite and enough points
    lie above the sensor (positive elevation), only those are measured, and the two order
    statistics the percentile interpolates between are selected among them (the others, at
    or below the sensor, all rank lower).
    """
    n = len(pts)
    if n and np.isfinite(pts).all():
        z = pts[:, 2]
        up = np.flatnonzero(z > 0)
        high = np.arctan2(z[up], np.hypot(pts[up, 0], pts[up, 1]))
        position = (n - 1) * TOP_BEAM_PERCENTILE / 100.0
        rank = int(np.floor(position))  # lower order statistic read
        if high.dtype == z.dtype and np.count_nonzero(high > 0) > n - rank + 1:
            # Both order statistics the percentile reads lie among the m highest values,
            # which are the returns above the sensor: select them there.
            below = n - len(high)
            upper = min(rank + 1, n - 1)
            part = np.partition(high, [rank - below, upper - below])
            pair = np.array([part[rank - below], part[upper - below]])
            return np.percentile(pair, 100.0 * (position - rank)) if upper > rank else pair[0]
    elevation = _elevation(pts)
    finite = np.isfinite(elevation)
    if not finite.any():
        return None
    return np.percentile(elevation[finite], TOP_BEAM_PERCENTILE)


def _cut_by_field_of_view(points: np.ndarray, clusters: Clusters, which: np.ndarray) -> np.ndarray:
    """(len(which),) bool: the cluster's highest point lies on the scan's highest beam, so the
    object may go on above the field of view (a trunk whose crown is out of sight), whereas a
    road user's top is seen (sensor frame)."""
    pts = np.asarray(points)
    top_beam = _top_beam(pts)
    if top_beam is None:
        return np.zeros(len(which), bool)
    ends = np.append(clusters.starts[1:], len(clusters.members))
    first, last = clusters.starts[which], ends[which]
    run = last - first
    rows = run_indices(first, run)
    per_cluster = np.maximum.reduceat(_elevation(pts[clusters.members[rows]]), run_starts(run))
    return per_cluster >= top_beam - FOV_EDGE


HIDDEN_AZIMUTH_BIN = np.deg2rad(1.0)  # radians; azimuth resolution of the occlusion test
HIDDEN_RANGE_BIN = 1.0  # metres; range resolution of the occlusion test
HIDDEN_MAX_SPREAD = 4  # azimuth bins a voxel covers on each side, at most (nearer voxels are capped)
HIDDEN_CLEARANCE = 1.0  # metres; an occluder lies at least this much nearer than the hidden part
HIDDEN_SHARE = 0.5  # share of a cluster's voxels whose space below must be hidden


def _hidden_below(clusters: Clusters, which: np.ndarray, bottom: np.ndarray, voxel: float) -> np.ndarray:
    """(len(which),) bool: the space under each cluster ``which[i]``, below the height
    ``bottom[i]``, is out of the sensor's sight: for most of its connectivity voxels, some
    other cluster nearer along the same azimuth rises above the line of sight to the point
    at ``bottom[i]`` under that voxel (sensor frame).

    Works on the clusters' voxel centroids (``voxel`` metres wide), on a grid of azimuth by
    range restricted to the azimuths queried: each voxel marks the azimuth bins it spans
    (near voxels span more) with its top's elevation, the grid keeps the highest per cell
    and a running maximum over range, and each query reads one cell.
    """
    vc, vl = clusters.voxel_centroids, clusters.voxel_labels
    cluster_bottom = np.full(clusters.count, np.nan)
    cluster_bottom[which] = bottom
    q = np.flatnonzero(np.isfinite(cluster_bottom[vl]))
    rng = np.hypot(vc[:, 0], vc[:, 1])
    n_az = int(round(2 * np.pi / HIDDEN_AZIMUTH_BIN))
    spread = HIDDEN_MAX_SPREAD
    # The queries: the line of sight to the bottom under each voxel of the tested clusters.
    rq = rng[q]
    q_r = np.floor((rq - HIDDEN_CLEARANCE) / HIDDEN_RANGE_BIN).astype(np.int64)
    q_az = ((np.arctan2(vc[q, 1], vc[q, 0]) + np.pi) / HIDDEN_AZIMUTH_BIN).astype(np.int64) % n_az
    q_elev = np.arctan2(cluster_bottom[vl[q]], rq)
    n_r = int(max(q_r.max(initial=-1), -1)) + 1
    hidden = np.zeros(len(q), bool)
    if n_r > 0:
        # Azimuth bins within reach of a query, numbered compactly.
        reach = np.zeros(n_az, bool)
        reach[(q_az[:, None] + np.arange(-spread, spread + 1)[None]) % n_az] = True
        compact = np.cumsum(reach) - 1
        n_w = int(reach.sum())
        x, y, z = vc[:, 0], vc[:, 1], vc[:, 2]
        az = ((np.arctan2(y, x) + np.pi) / HIDDEN_AZIMUTH_BIN).astype(np.int64) % n_az
        near = np.flatnonzero(reach[az] & (rng < n_r * HIDDEN_RANGE_BIN))
        r_n, az = rng[near], az[near]
        half = np.minimum(np.ceil(0.5 * voxel / np.maximum(r_n, 1e-3) / HIDDEN_AZIMUTH_BIN), spread).astype(np.int64)
        # Each voxel marks the azimuth bins it spans: 2 * half + 1 cells, one row per voxel.
        width = 2 * half + 1
        row = np.repeat(np.arange(len(near)), width)
        step = run_indices(0, width) - half[row]
        spanned = reach[(az[row] + step) % n_az]  # bins out of every query's reach are not needed
        row, step = row[spanned], step[spanned]
        table = np.full(n_r * n_w, -np.inf)
        cell = (r_n[row] / HIDDEN_RANGE_BIN).astype(np.int64) * n_w + compact[(az[row] + step) % n_az]
        np.maximum.at(table, cell, np.arctan2(z[near] + 0.5 * voxel, r_n)[row])
        table = np.maximum.accumulate(table.reshape(n_r, n_w), axis=0)
        ok = np.flatnonzero(q_r >= 0)
        best = table[q_r[ok], compact[q_az[ok]]]
        hidden[ok] = best >= q_elev[ok]
    share = np.bincount(vl[q], hidden, clusters.count) / np.maximum(np.bincount(vl[q], minlength=clusters.count), 1)
    return share[which] >= HIDDEN_SHARE


def _fit(points: np.ndarray, clusters: Clusters, config: DetectionConfig,
         clustering: ClusteringConfig) -> tuple[np.ndarray, BoxArrays]:
    """(oversized, boxes): clusters far too long or tall for a road user (no heading is
    fitted to them) and every cluster's box (sensor frame)."""
    k = clusters.count
    vl, vc, vs = clusters.voxel_labels, clusters.voxel_centroids, clusters.voxel_starts
    if k:
        extent = np.maximum.reduceat(vc, vs, axis=0) - np.minimum.reduceat(vc, vs, axis=0)
    else:
        extent = np.zeros((0, 3))
    oversized = (np.max(extent[:, :2], axis=1) > clustering.max_extent + clustering.voxel_size) | (
        extent[:, 2] > config.max_height)
    eligible = ~oversized
    headings = np.zeros(k)
    fit_vox = eligible[vl]
    sub_counts = np.bincount(vl[fit_vox], minlength=k)[eligible]
    sub_starts = run_starts(sub_counts)
    headings[eligible] = fit_headings(vc[fit_vox, :2], sub_starts, clustering.yaw_steps,
                                      clustering.box_criterion)
    return oversized, fit_boxes(points, clusters.members, clusters.starts, headings)


def _first_per_owner_and_voxel(owner: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """Row of the first occurrence of each distinct (owner, voxel) pair, in (owner, voxel)
    order: ``owner`` (M,) non-negative ints, ``keys`` three (M,) int voxel index columns. The
    pair is packed into one int64 (voxel indices relative to their minimum), so the sort is
    1-D (and a radix sort)."""
    if len(owner) == 0:
        return np.zeros(0, dtype=np.int64)
    rel = [k - k.min() for k in keys]
    span = [int(r.max()) + 1 for r in rel]
    if float(owner.max() + 1) * float(span[0]) * float(span[1]) * float(span[2]) >= 2.0**62:
        return np.unique(np.column_stack([owner, *keys]), axis=0, return_index=True)[1]
    packed = ((owner * span[0] + rel[0]) * span[1] + rel[1]) * span[2] + rel[2]
    # A row that repeats the pair of the row before it is never a first occurrence: only
    # the others are sorted.
    new = np.empty(len(packed), dtype=bool)
    new[0] = True
    np.not_equal(packed[1:], packed[:-1], out=new[1:])
    rows = np.flatnonzero(new)
    packed = np.take(packed, rows)
    order = stable_argsort(packed)
    ordered = np.take(packed, order)
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return np.take(rows, order[first])


OPEN_ABOVE_HEIGHTS = (0.3, 0.5)  # metres above a column's top connectivity-voxel centroid


def _top_of_columns(clusters: Clusters, which: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """(owner, top): for every vertical column (``cell``-wide square in the plane) of each
    cluster in ``which`` ((count,) bool), its cluster and the centroid of its highest
    connectivity voxel (sensor frame)."""
    keep = which[clusters.voxel_labels]
    vc = clusters.voxel_centroids[keep]
    owner = clusters.voxel_labels[keep].astype(np.int64)
    if not len(owner):
        return owner, vc
    ij = np.floor(vc[:, :2] / cell).astype(np.int64)
    ij -= ij.min(axis=0)
    span = ij.max(axis=0) + 1
    column = (owner * span[0] + ij[:, 0]) * span[1] + ij[:, 1]
    order = np.lexsort((-vc[:, 2], column))  # by column, highest first
    first = order[np.r_[True, column[order][1:] != column[order][:-1]]]
    return owner[first], vc[first]


@dataclass
class _MapSamples:
    """The static map's evidence at a cluster's space, one sample per cluster and map voxel."""

    sensor: np.ndarray  # (S, 3) sample positions, sensor frame
    owner: np.ndarray  # (S,) cluster of each sample
    seen_free: np.ndarray  # (S,) bool: the map has seen the sample's voxel free
    persistent: np.ndarray  # (S,) bool: the voxel is persistent static occupancy


def _evidence(static_map: MapQuery, points_world: np.ndarray, config: DetectionConfig) -> tuple[np.ndarray, np.ndarray]:
    """(seen free, persistent) of each world point's map voxel, from one exchange with the map."""
    free = np.asarray(static_map.free_counts(points_world)).reshape(-1)
    occ = np.asarray(static_map.occupied_counts(points_world)).reshape(-1)
    return (free >= config.free_evidence) & (free > occ), (occ >= config.occupied_evidence) & (occ >= free)


def _seen_free_again(static_map: MapQuery, points_world: np.ndarray, asked: np.ndarray, answers: np.ndarray | None,
                     config: DetectionConfig) -> np.ndarray | None:
    """Seen free, for (M, 3) world points (None when M is 0), where the points ``asked``
    already have ``answers``: only the others are asked (after a split the columns of the
    clusters left whole are the same, and often no point is new, so no second exchange)."""
    if not len(points_world):
        return None
    seen_free = np.zeros(len(points_world), dtype=bool)
    new = np.ones(len(points_world), dtype=bool)
    if answers is not None:
        rows = np.ascontiguousarray(np.concatenate([asked, points_world]), dtype=np.float64)
        _, first, inverse = np.unique(rows.view(np.dtype((np.void, 3 * rows.itemsize))).ravel(),
                                      return_index=True, return_inverse=True)
        source = first[inverse[len(asked):]]  # each point's first occurrence among all
        new = source >= len(asked)
        seen_free[~new] = answers[source[~new]]
    if new.any():
        seen_free[new] = _evidence(static_map, points_world[new], config)[0]
    return seen_free


def _sample_map(static_map: MapQuery, clusters: Clusters, points: np.ndarray, world_T_sensor: np.ndarray,
                config: DetectionConfig, cluster_voxel: float,
                also: np.ndarray) -> tuple[_MapSamples, np.ndarray | None]:
    """The map's evidence at the clusters' space: at their connectivity-voxel centroids, or,
    when the map's voxels are finer, at one point per map voxel the cluster's points occupy (a
    centroid may fall in an empty fine voxel between surfaces); and, from the same exchange,
    whether the map has seen free the world points ``also`` ((M, 3), M may be 0: then None)."""
    rot, t = world_T_sensor[:3, :3], world_T_sensor[:3, 3]
    if static_map.voxel_size >= 0.75 * cluster_voxel:
        sensor = clusters.voxel_centroids
        world = sensor @ rot.T + t
        owner = clusters.voxel_labels.astype(np.int64)
    else:
        members = np.take(np.asarray(points), clusters.members, axis=0)
        world = members.astype(np.float64) @ rot.T
        for i in range(3):  # column by column: a broadcast over rows of 3 is far slower
            world[:, i] += t[i]
        owner = np.repeat(np.arange(clusters.count, dtype=np.int64), clusters.point_counts)
        keys = [np.floor(world[:, i] / static_map.voxel_size).astype(np.int64) for i in range(3)]
        first = _first_per_owner_and_voxel(owner, keys)
        sensor, world, owner = members[first], np.take(world, first, axis=0), owner[first]
    seen_free, persistent = _evidence(static_map, np.concatenate([world, also]), config)
    n = len(world)
    return _MapSamples(sensor, owner, seen_free[:n], persistent[:n]), (seen_free[n:] if len(also) else None)


# A cluster partly in space the map has seen free and partly in persistent static occupancy
# holds something new beside something that stands there (a walker beside a pole, a cyclist
# along a parked car) when the two parts stand apart and the new part has a walker's or a
# cyclist's shape. On the simulated runs of make bench-tracking: crowd seed 1 MOTA 66.8 ->
# 77.6, mean 78.3 -> 79.7, no run worse by more than 0.1.
SPLIT_MIN_SAMPLES = 3  # map voxels of each kind the cluster holds, at least
SPLIT_MIN_SHARE = 0.15  # and their share of its map voxels
SPLIT_APART = 0.3  # metres between the two parts' centres in the plane (one walker standing still is not split)
SPLIT_THIN = (0.15, 0.55)  # metres: the new part's narrow side (a pole is thinner, a car wider)
SPLIT_LENGTH = 2.0  # metres: its long side, at most (a cyclist)
SPLIT_HEIGHTS = (1.0, 2.2)  # metres
SPLIT_TOP = 0.95  # quantile of the new part's heights taken as its top (a few leaves of a crown above a head)
# The points nearest the free samples may include a few of the static part beside the new one
# (the side of a trunk, leaves of a crown a walker passes under): the new part keeps only its
# largest piece in the plane (see _main_piece), and its top is a high quantile of its heights.
# On the 18 simulated runs: street seed 1 MOTA 75.3 -> 78.0, mean 83.79 -> 84.74, no run worse.
PIECE_CELL = 0.15  # metres: points in touching cells of this grid are linked (always under 0.15 m apart, never over 0.42 m)


def _split_by_map(points: np.ndarray, clusters: Clusters, samples: _MapSamples, min_points: int) -> Clusters:
    """``clusters`` with the new part of each cluster that is partly seen free and partly
    persistent occupancy as a cluster of its own (see SPLIT_*): the new part is the largest
    piece of the points whose nearest sample is seen free rather than persistent, each
    connectivity voxel goes with the part of the point nearest it, and each map sample with
    the new part when its nearest free or persistent sample is free. The new clusters are numbered after the others;
    ``samples.owner`` follows."""
    k = clusters.count
    owner, seen_free, persistent = samples.owner, samples.seen_free, samples.persistent
    n = np.maximum(np.bincount(owner, minlength=k), 1)
    n_free = np.bincount(owner, seen_free, k)
    n_static = np.bincount(owner, persistent, k)
    mixed = np.flatnonzero((n_free >= SPLIT_MIN_SAMPLES) & (n_static >= SPLIT_MIN_SAMPLES)
                           & (n_free >= SPLIT_MIN_SHARE * n) & (n_static >= SPLIT_MIN_SHARE * n))
    if not len(mixed):
        return clusters
    pts = np.asarray(points)
    labels = clusters.labels.copy()
    voxel_labels = clusters.voxel_labels.astype(np.int64)
    count = k
    for c in mixed.tolist():  # a few clusters per scan
        mine = np.flatnonzero(owner == c)
        free, static = mine[seen_free[mine]], mine[persistent[mine]]
        nearest_free = _NearestFree(samples.sensor[free], samples.sensor[static])
        idx = clusters.cluster_indices(c)
        new = nearest_free(pts[idx])
        if new.sum() >= min_points:
            new[new] = _main_piece(pts[idx[new], :2])[0]
        if min(new.sum(), (~new).sum()) < min_points:
            continue
        part, rest = pts[idx[new]], pts[idx[~new]]
        if np.linalg.norm(part[:, :2].mean(axis=0) - rest[:, :2].mean(axis=0)) < SPLIT_APART:
            continue
        xy = part[:, :2] - part[:, :2].mean(axis=0)
        thin, long = np.sort(np.ptp(xy @ np.linalg.eigh(xy.T @ xy)[1], axis=0))  # along its principal axes
        height = float(np.quantile(part[:, 2], SPLIT_TOP) - part[:, 2].min())
        if not (SPLIT_THIN[0] < thin <= SPLIT_THIN[1] and long <= SPLIT_LENGTH
                and SPLIT_HEIGHTS[0] <= height <= SPLIT_HEIGHTS[1]):
            continue
        # Each connectivity voxel goes with the part of the point nearest its centroid.
        voxels = np.flatnonzero(voxel_labels == c)
        new_voxels = new[cKDTree(pts[idx]).query(clusters.voxel_centroids[voxels])[1]]
        if new_voxels.all() or not new_voxels.any():
            continue
        labels[idx[new]] = count
        voxel_labels[voxels[new_voxels]] = count
        owner[mine[nearest_free(samples.sensor[mine])]] = count
        count += 1
    if count == k:
        return clusters
    return clusters_from_labels(labels, count, voxel_labels, clusters.voxel_centroids, clusters.voxel_counts)


def _main_piece(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest piece of (M, 2) positions whose PIECE_CELL grid cells touch (side or
    corner): (M,) bool marking its positions, and (C, 2) the mean position in each of its cells (a
    light, denoised stand-in for them, as connectivity voxels are for a cluster's points)."""
    xy = np.asarray(xy, dtype=np.float64)
    piece, cell = grid_pieces(xy, PIECE_CELL)
    mine = piece == np.argmax(np.bincount(piece))
    cell = cell[mine]
    count = np.bincount(cell)
    present = np.flatnonzero(count)  # the piece's cells
    centroids = np.column_stack([np.bincount(cell, xy[mine, a])[present] for a in range(2)]) / count[present, None]
    return mine, centroids


class _NearestFree:
    """Whether the nearest of some seed positions to each query position is one of the
    ``free`` seeds rather than one of the ``static`` ones (a free seed wins at equal distance).
    A cluster holds tens of seeds and tens to thousands of points: up to BRUTE_PAIRS pairs, all
    pairwise distances cost less than building and querying k-d trees (one per kind of seed,
    built for larger queries only). Computed in float64."""

    BRUTE_PAIRS = 20_000

    def __init__(self, free: np.ndarray, static: np.ndarray) -> None:
        self.free = np.asarray(free, dtype=np.float64)
        self.static = np.asarray(static, dtype=np.float64)
        self._trees: tuple | None = None

    def __call__(self, query: np.ndarray) -> np.ndarray:
        query = np.asarray(query, dtype=np.float64)
        if len(query) * (len(self.free) + len(self.static)) > self.BRUTE_PAIRS:
            if self._trees is None:
                self._trees = (cKDTree(self.free), cKDTree(self.static))
            to_free, to_static = (tree.query(query)[0] for tree in self._trees)
            return to_free <= to_static
        return self._nearest(query, self.free) <= self._nearest(query, self.static)

    @staticmethod
    def _nearest(query: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """(Q,) squared distance from each query position to its nearest seed."""
        d2 = np.zeros((len(query), len(seeds)))
        for axis in range(3):
            diff = query[:, axis, None] - seeds[None, :, axis]
            diff *= diff
            d2 += diff
        return d2.min(axis=1)


class _Shapes(NamedTuple):
    """What detection makes of the clusters before asking the map (sensor frame)."""

    oversized: np.ndarray  # (K,) bool: far too long or tall for a road user
    boxes: BoxArrays
    ground_z: np.ndarray  # (K,) ground height under each box (NaN unknown)
    floating: np.ndarray  # (K,) bool: too high above the ground to stand on it
    classes: list[ObjectClass]
    overhung: np.ndarray  # (K,) bool: walker- or cyclist-shaped with something just above (see detect_objects)


def _shape(points: np.ndarray, clusters: Clusters, model: GroundModel | None, mask: np.ndarray,
           config: DetectionConfig, clustering: ClusteringConfig) -> _Shapes:
    """Boxes that reach down to the ground, and class guesses by shape, of ``clusters``."""
    oversized, boxes = _fit(points, clusters, config, clustering)
    k = clusters.count
    # Let boxes reach down to the ground they stand on.
    if k:
        ground_z = _ground_at(points, model, mask, boxes.center[:, :2], clustering.max_range)
        bottom = boxes.center[:, 2] - 0.5 * boxes.size[:, 2]
        top = bottom + boxes.size[:, 2]
        gap = bottom - ground_z
        # A cluster that seems to float may be the top of a road user whose lower part is
        # hidden behind something nearer (the roof of a car behind a parked car, a walker's
        # head and shoulders): it reaches down to the ground as well.
        high = np.isfinite(gap) & (gap >= config.max_ground_gap) & (top - ground_z <= config.max_hidden_top)
        hidden = np.zeros(k, bool)
        if high.any():
            hidden[high] = _hidden_below(clusters, np.flatnonzero(high), bottom[high], clustering.voxel_size)
        reach = np.isfinite(gap) & (gap > 0) & ((gap < config.max_ground_gap) | hidden)
        bottom = np.where(reach, ground_z, bottom)
        boxes.center[:, 2] = 0.5 * (bottom + top)
        boxes.size[:, 2] = top - bottom
        floating = np.isfinite(gap) & (gap >= config.max_ground_gap) & ~hidden
    else:
        floating = np.zeros(0, bool)
        ground_z = np.zeros(0)
    classes = guess_classes(boxes.size)
    for c in _cars_beside_posts(points, clusters, boxes, classes).tolist():
        classes[c] = ObjectClass.CAR
    for c in _cars_under_canopy(points, clusters, boxes, classes, clustering).tolist():
        classes[c] = ObjectClass.CAR
    small = np.flatnonzero([c in (ObjectClass.PEDESTRIAN, ObjectClass.CYCLIST) for c in classes])
    overhung = np.zeros(k, bool)
    if config.overhead_reach > 0 and len(small):
        overhung[small] = _overhung(points, mask, boxes, small, config.overhead_reach)
        overhung[small] |= _cut_by_field_of_view(points, clusters, small)
    return _Shapes(oversized, boxes, ground_z, floating, classes, overhung)


@dataclass
class _OpenAbove:
    """The vertical columns of the clusters shaped like road users (``tested``), and the world
    points just above each column's top (``OPEN_ABOVE_HEIGHTS``) to ask the map about."""

    tested: np.ndarray  # (K,) bool
    owner: np.ndarray  # (C,) cluster of each column
    above: np.ndarray  # (len(OPEN_ABOVE_HEIGHTS) * C, 3) world points, height by height

    @classmethod
    def of(cls, clusters: Clusters, shapes: _Shapes, config: DetectionConfig, cluster_voxel: float,
           world_T_sensor: np.ndarray) -> _OpenAbove:
        tested = np.array([c is not ObjectClass.OTHER for c in shapes.classes], dtype=bool)
        tested &= ~shapes.floating & ~shapes.oversized
        if config.open_above_share <= 0:
            tested[:] = False
        owner, top = _top_of_columns(clusters, tested, cluster_voxel)
        above = np.zeros((0, 3))
        if len(owner):
            rot, t = world_T_sensor[:3, :3], world_T_sensor[:3, 3]
            above = np.concatenate([top + np.array([0.0, 0.0, h]) for h in OPEN_ABOVE_HEIGHTS]) @ rot.T + t
        return cls(tested, owner, above)


def _map_shares(clusters: Clusters, samples: _MapSamples, columns: _OpenAbove,
                above_free: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster, the share of its ``samples`` the map has seen free, the share in persistent
    static occupancy, and (for the tested clusters, 1 for the others) the share of its
    vertical columns with space seen free just above their top (``above_free``: the map's
    answer for ``columns.above``)."""
    k = clusters.count
    n = np.maximum(np.bincount(samples.owner, minlength=k), 1)
    open_above = np.ones(k)
    if len(columns.owner):
        open_column = above_free.reshape(len(OPEN_ABOVE_HEIGHTS), -1).any(axis=0)
        count = np.bincount(columns.owner, minlength=k)
        open_above = np.where(columns.tested, np.bincount(columns.owner, open_column, k) / np.maximum(count, 1), 1.0)
    return (np.bincount(samples.owner, samples.seen_free, k) / n,
            np.bincount(samples.owner, samples.persistent, k) / n, open_above)


def detect_objects(points: np.ndarray, ground: np.ndarray | GroundModel, config: DetectionConfig | None = None,
                   static_map: MapQuery | None = None, world_T_sensor: np.ndarray | None = None,
                   predicted: list[Box3D] | None = None, *,
                   clustering: ClusteringConfig | None = None,
                   predicted_velocity: np.ndarray | None = None) -> DetectionOutput:
    """Detect objects in an (N, 3) sensor-frame scan; see the module docstring.

    ``ground`` is the ground mask (N,) or the :class:`GroundModel` that made it (whose
    planes give a better ground height under each box). ``static_map`` is only consulted
    together with ``world_T_sensor`` (4x4). ``predicted`` are the tracker's predicted boxes
    for this scan, in the frame of the output, and ``predicted_velocity`` (len(predicted), 3)
    their velocities in m/s, same frame: a cyclist-shaped cluster that a fast prediction
    carries across its length is the end of a car.
    """
    config = config or DetectionConfig()
    clustering = clustering or ClusteringConfig()
    pts = np.asarray(points)
    model = ground if isinstance(ground, GroundModel) else None
    mask = model.mask if model is not None else np.asarray(ground, dtype=bool)
    if mask.shape != (len(pts),):
        raise ValueError(f"ground mask has shape {mask.shape}, expected ({len(pts)},)")
    if world_T_sensor is not None:
        world_T_sensor = np.asarray(world_T_sensor, dtype=np.float64)
        if world_T_sensor.shape != (4, 4):
            raise ValueError(f"world_T_sensor must be 4x4, got {world_T_sensor.shape}")
    hints = _to_sensor(predicted, world_T_sensor) if predicted else None

    clusters = cluster_points(pts, mask, clustering, hints=hints)
    if clustering.split_walkers and clusters.count:
        # Groups of walkers who touch are split between their upper bodies.
        vs = clusters.voxel_starts
        run = np.diff(np.append(vs, len(clusters.voxel_labels)))
        middle = np.add.reduceat(clusters.voxel_centroids[:, :2], vs, axis=0) / run[:, None]
        under = _ground_at(pts, model, mask, middle, clustering.max_range)
        clusters = split_walkers(pts, clusters, under)
    # Shapes and class guesses need no map: they come first, so that the map is asked once, about
    # the clusters' space and the space above the tops of those shaped like road users together
    # (in the ROS graph the mapping node is still integrating the last frame meanwhile).
    shapes = _shape(pts, clusters, model, mask, config, clustering)
    k = clusters.count
    free_share = np.zeros(k)
    occ_share = np.zeros(k)
    open_above = np.ones(k)
    far_dynamic = np.zeros(0, np.int64)
    with_map = static_map is not None and world_T_sensor is not None
    if with_map:
        # Far traffic, for registration against the map: far points of low objects, and (with
        # clusters to ask about too) the other far points in space seen free, asked point by
        # point in the same exchange.
        far = far_points(pts, mask, config.far_free_range)
        far_above = pts[far, 2] - _ground_at(pts, model, mask, pts[far, :2], FAR_GRID_REACH)
        far_dynamic = low_far_objects(pts, far, far_above, clustering, config.far_object_height)
    if with_map and k:
        columns = _OpenAbove.of(clusters, shapes, config, clustering.voxel_size, world_T_sensor)
        far = np.setdiff1d(far, far_dynamic, assume_unique=True)
        far_world = pts[far].astype(np.float64) @ world_T_sensor[:3, :3].T + world_T_sensor[:3, 3]
        samples, also_free = _sample_map(static_map, clusters, pts, world_T_sensor, config, clustering.voxel_size,
                                         np.concatenate([columns.above, far_world]))
        above_free = None if also_free is None or not len(columns.above) else also_free[:len(columns.above)]
        if len(far):
            far_dynamic = np.union1d(far_dynamic, far[also_free[len(columns.above):]])
        split = _split_by_map(pts, clusters, samples, clustering.min_points)
        if split is not clusters:  # the map split a cluster (rare): shape the parts, ask about their tops
            clusters = split
            shapes = _shape(pts, clusters, model, mask, config, clustering)
            k = clusters.count
            asked = columns.above
            columns = _OpenAbove.of(clusters, shapes, config, clustering.voxel_size, world_T_sensor)
            above_free = _seen_free_again(static_map, columns.above, asked, above_free, config)
        free_share, occ_share, open_above = _map_shares(clusters, samples, columns, above_free)
    oversized, boxes, ground_z, floating, classes, overhung = shapes
    # Road users stand on the ground; small ones have open sky above them (a trunk has its
    # crown, a pole its lamp, a facade its upper floors), unless they are in space seen free
    # (a walker passing under a tree).
    overhung = overhung & (free_share < UNDER_CANOPY_FREE)
    not_road_user = floating | overhung
    classes = [ObjectClass.OTHER if n else c for c, n in zip(classes, not_road_user.tolist(), strict=True)]
    joined: dict[int, int] = {}  # {part: the cluster it belongs to}
    if hints and predicted_velocity is not None and k:
        velocity = np.asarray(predicted_velocity, dtype=np.float64).reshape(-1, 3)
        if world_T_sensor is not None:
            velocity = velocity @ world_T_sensor[:3, :3]
        ends = _car_ends(boxes, classes, hints, velocity)
        classes = [ObjectClass.CAR if e else c for c, e in zip(classes, ends.tolist(), strict=True)]
        riders = _riders(boxes, classes, hints, velocity)
        classes = [ObjectClass.CYCLIST if r else c for c, r in zip(classes, riders.tolist(), strict=True)]
        took, joined = _parked_car_parts(boxes, classes, hints, velocity, free_share < config.dynamic_fraction,
                                         clusters.point_counts)
        classes = [ObjectClass.CAR if t else c for c, t in zip(classes, took.tolist(), strict=True)]
    seen = BoxArrays(boxes.center.copy(), boxes.size.copy(), boxes.yaw.copy())
    if config.complete_boxes and k:
        complete_boxes(boxes, classes, ground_z)

    # Structure by shape, and dynamic candidates by the map.
    structure = oversized | (boxes.size[:, 0] > clustering.max_extent) | (boxes.size[:, 2] > config.max_height)
    structure |= not_road_user
    in_range = np.hypot(boxes.center[:, 0], boxes.center[:, 1]) <= config.max_range

    in_static = occ_share >= config.structure_fraction
    dynamic = (free_share >= config.dynamic_fraction) & ~in_static & ~structure
    # Inside static occupancy only a road user's shape in the open is an object (a parked
    # car): a piece of a facade, trunk or pole goes on upwards into occupied or unseen space.
    # One partly inside it (partly_static_share), never seen free and with no free space seen
    # above its top, is structure too.
    covered = open_above < config.open_above_share
    object_shaped = np.array([c is not ObjectClass.OTHER for c in classes], dtype=bool) & ~covered
    structure |= covered & (occ_share >= config.partly_static_share) & (free_share < config.dynamic_fraction)
    reported = in_range & ~structure
    if config.keep_structured_objects:
        reported &= ~in_static | object_shaped
    else:
        reported &= ~in_static
    structure = structure | in_static
    if config.complete_boxes and k:
        cars = np.flatnonzero(reported & np.array([c is ObjectClass.CAR for c in classes], dtype=bool))
        joined.update(_pieces_of_one_car(pts, clusters, boxes, seen, cars, ground_z))
    reported[list(joined)] = False
    parts = {c: [c] for c in range(k)}
    for part, owner in joined.items():
        while owner in joined:  # a parked car's piece whose owner is itself a piece of one car
            owner = joined[owner]
        parts[owner].append(part)

    # Detections, in the world frame when the pose is known.
    chosen = np.flatnonzero(reported)
    grown = chosen[np.any(seen.center[chosen, :2] != boxes.center[chosen, :2], axis=1)
                   | np.any(seen.size[chosen, :2] != boxes.size[chosen, :2], axis=1)]
    seen_boxes = dict(zip(grown.tolist(), _placed(seen, grown, world_T_sensor), strict=True))
    detections = [
        Detection(box=box, score=float(1.0 - 0.5 * occ_share[c]), object_class=classes[c],
                  point_indices=np.concatenate([clusters.cluster_indices(p) for p in parts[c]]),
                  dynamic_candidate=bool(dynamic[c]),
                  seen_box=seen_boxes.get(c))
        for box, c in zip(_placed(boxes, chosen, world_T_sensor), chosen.tolist(), strict=True)
    ]
    return DetectionOutput(detections=detections, clusters=clusters, boxes=boxes, classes=classes,
                           structure=structure, dynamic=dynamic, free_share=free_share,
                           occupied_share=occ_share, detection_cluster=chosen, open_above=open_above,
                           far_dynamic=far_dynamic)


def detect(points: np.ndarray, ground: np.ndarray | GroundModel, config: DetectionConfig | None = None,
           static_map: MapQuery | None = None, world_T_sensor: np.ndarray | None = None,
           predicted: list[Box3D] | None = None, *, clustering: ClusteringConfig | None = None) -> list[Detection]:
    """The detections of :func:`detect_objects` (same arguments)."""
    return detect_objects(points, ground, config, static_map, world_T_sensor, predicted,
                          clustering=clustering).detections
