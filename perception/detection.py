"""Map-aware object detection from one LiDAR scan.

Clusters of non-ground points become oriented boxes with a class guess. With a static map,
each cluster is checked against the map's evidence at its voxels: a cluster occupying space
the map has repeatedly seen free cannot be part of the static world, so it is a *dynamic
candidate*; a cluster inside persistent static occupancy is *structure*. Clusters too long
or too tall for a road user are structure as well. Structure is not reported as a
detection, except object-shaped clusters (by default), which stay as non-dynamic detections
so that parked cars are still tracked.

Frames: input points are in the sensor frame. With ``world_T_sensor`` the boxes of the
detections (and the predicted boxes given as hints) are in the world frame, otherwise in
the sensor frame. Units are metres and radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.boxes import BoxArrays, complete_boxes, fit_boxes, fit_headings, guess_classes
from perception.clustering import Clusters, cluster_points
from perception.config import ClusteringConfig, DetectionConfig
from perception.ground import GroundModel
from perception.map_query import MapQuery
from perception.types import Box3D, Detection, ObjectClass

GROUND_CELL = 2.0  # metres; cell of the ground-height estimate used when only a mask is given


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


def _yaw_of(rotation: np.ndarray) -> float:
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def _to_sensor(boxes: list[Box3D], world_T_sensor: np.ndarray | None) -> list[Box3D]:
    if world_T_sensor is None:
        return list(boxes)
    rot, t = world_T_sensor[:3, :3], world_T_sensor[:3, 3]
    dyaw = _yaw_of(rot)
    return [Box3D((b.center - t) @ rot, b.size, b.yaw - dyaw) for b in boxes]


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


def _overhung(points: np.ndarray, ground_mask: np.ndarray, boxes: BoxArrays, which: np.ndarray,
              reach: float) -> np.ndarray:
    """(len(which),) bool: the scan has returns above the top of each box, within ``reach``
    metres, over the middle of its footprint (sensor frame)."""
    cell = OVERHEAD_CELL
    above = points[~ground_mask]
    keys = np.unique(_cell_keys(above, cell))
    out = np.zeros(len(which), bool)
    if not len(keys):
        return out
    levels = np.arange(cell, reach + 1e-9, cell)
    for n, b in enumerate(which.tolist()):  # a few dozen small boxes; each test is vectorised
        length, width = boxes.size[b, 0], boxes.size[b, 1]
        u = np.arange(-0.3 * length, 0.3 * length + 1e-9, cell) if length > cell else np.zeros(1)
        v = np.arange(-0.3 * width, 0.3 * width + 1e-9, cell) if width > cell else np.zeros(1)
        uu, vv = np.meshgrid(u, v)
        c, s_ = np.cos(boxes.yaw[b]), np.sin(boxes.yaw[b])
        x = boxes.center[b, 0] + c * uu.ravel() - s_ * vv.ravel()
        y = boxes.center[b, 1] + s_ * uu.ravel() + c * vv.ravel()
        top = boxes.center[b, 2] + 0.5 * boxes.size[b, 2]
        q = np.stack([np.repeat(x, len(levels)), np.repeat(y, len(levels)), np.tile(top + levels, len(x))], axis=1)
        qk = np.unique(_cell_keys(q, cell))
        pos = np.clip(np.searchsorted(keys, qk), 0, len(keys) - 1)
        out[n] = np.count_nonzero(keys[pos] == qk) >= OVERHEAD_MIN_VOXELS
    return out


def _cell_keys(points: np.ndarray, cell: float) -> np.ndarray:
    k = np.floor(np.asarray(points, dtype=np.float64) / cell).astype(np.int64) + (1 << 20)
    return (k[:, 0] << 42) | (k[:, 1] << 21) | k[:, 2]


def detect_objects(points: np.ndarray, ground: np.ndarray | GroundModel, config: DetectionConfig | None = None,
                   static_map: MapQuery | None = None, world_T_sensor: np.ndarray | None = None,
                   predicted: list[Box3D] | None = None, *,
                   clustering: ClusteringConfig | None = None) -> DetectionOutput:
    """Detect objects in an (N, 3) sensor-frame scan; see the module docstring.

    ``ground`` is the ground mask (N,) or the :class:`GroundModel` that made it (whose
    planes give a better ground height under each box). ``static_map`` is only consulted
    together with ``world_T_sensor`` (4x4). ``predicted`` are the tracker's predicted boxes
    for this scan, in the frame of the output.
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
    k = clusters.count
    # Clusters far too long or tall for a road user are structure; skip their heading fit.
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
    sub_starts = np.concatenate([[0], np.cumsum(sub_counts)[:-1]]).astype(np.int64)
    headings[eligible] = fit_headings(vc[fit_vox, :2], sub_starts, clustering.yaw_steps,
                                      clustering.box_criterion)
    boxes = fit_boxes(pts, clusters.members, clusters.starts, headings)

    # Let boxes reach down to the ground they stand on.
    if k:
        if model is not None:
            ground_z = model.height_at(boxes.center[:, :2])
        else:
            ground_z = _ground_height_from_mask(pts, mask, boxes.center[:, :2], clustering.max_range)
        bottom = boxes.center[:, 2] - 0.5 * boxes.size[:, 2]
        top = bottom + boxes.size[:, 2]
        gap = bottom - ground_z
        reach = np.isfinite(gap) & (gap > 0) & (gap < config.max_ground_gap)
        bottom = np.where(reach, ground_z, bottom)
        boxes.center[:, 2] = 0.5 * (bottom + top)
        boxes.size[:, 2] = top - bottom
        floating = np.isfinite(gap) & (gap >= config.max_ground_gap)
    else:
        floating = np.zeros(0, bool)
        ground_z = np.zeros(0)
    classes = guess_classes(boxes.size)
    # Road users stand on the ground; small ones have open sky above them (a trunk has its
    # crown, a pole its lamp, a facade its upper floors).
    small = np.array([c in (ObjectClass.PEDESTRIAN, ObjectClass.CYCLIST) for c in classes], dtype=bool)
    overhung = np.zeros(k, bool)
    if config.overhead_reach > 0 and small.any():
        overhung[small] = _overhung(pts, mask, boxes, np.flatnonzero(small), config.overhead_reach)
    not_road_user = floating | overhung
    classes = [ObjectClass.OTHER if n else c for c, n in zip(classes, not_road_user.tolist(), strict=True)]
    if config.complete_boxes and k:
        complete_boxes(boxes, classes, ground_z)

    # Structure by shape.
    structure = oversized | (boxes.size[:, 0] > clustering.max_extent) | (boxes.size[:, 2] > config.max_height)
    structure |= not_road_user
    in_range = np.hypot(boxes.center[:, 0], boxes.center[:, 1]) <= config.max_range

    # Structure and dynamic candidates by the static map.
    free_share = np.zeros(k)
    occ_share = np.zeros(k)
    if static_map is not None and world_T_sensor is not None and k:
        vw = clusters.voxel_centroids @ world_T_sensor[:3, :3].T + world_T_sensor[:3, 3]
        free = np.asarray(static_map.free_counts(vw)).reshape(-1)
        occ = np.asarray(static_map.occupied_counts(vw)).reshape(-1)
        seen_free = (free >= config.free_evidence) & (free > occ)
        persistent = (occ >= config.occupied_evidence) & (occ >= free)
        n_vox = np.maximum(np.bincount(clusters.voxel_labels, minlength=k), 1)
        free_share = np.bincount(clusters.voxel_labels, seen_free, k) / n_vox
        occ_share = np.bincount(clusters.voxel_labels, persistent, k) / n_vox
    in_static = occ_share >= config.structure_fraction
    dynamic = (free_share >= config.dynamic_fraction) & ~in_static & ~structure
    object_shaped = np.array([c is not ObjectClass.OTHER for c in classes], dtype=bool)
    reported = in_range & ~structure
    if config.keep_structured_objects:
        reported &= ~in_static | object_shaped
    else:
        reported &= ~in_static
    structure = structure | in_static

    # Detections, in the world frame when the pose is known.
    chosen = np.flatnonzero(reported)
    centers = boxes.center[chosen]
    yaws = boxes.yaw[chosen]
    if world_T_sensor is not None:
        centers = centers @ world_T_sensor[:3, :3].T + world_T_sensor[:3, 3]
        yaws = yaws + _yaw_of(world_T_sensor[:3, :3])
    detections = [
        Detection(box=Box3D(centers[i], boxes.size[c], float(yaws[i])),
                  score=float(1.0 - 0.5 * occ_share[c]), object_class=classes[c],
                  point_indices=clusters.cluster_indices(c), dynamic_candidate=bool(dynamic[c]))
        for i, c in enumerate(chosen.tolist())
    ]
    return DetectionOutput(detections=detections, clusters=clusters, boxes=boxes, classes=classes,
                           structure=structure, dynamic=dynamic, free_share=free_share,
                           occupied_share=occ_share, detection_cluster=chosen)


def detect(points: np.ndarray, ground: np.ndarray | GroundModel, config: DetectionConfig | None = None,
           static_map: MapQuery | None = None, world_T_sensor: np.ndarray | None = None,
           predicted: list[Box3D] | None = None, *, clustering: ClusteringConfig | None = None) -> list[Detection]:
    """The detections of :func:`detect_objects` (same arguments)."""
    return detect_objects(points, ground, config, static_map, world_T_sensor, predicted,
                          clustering=clustering).detections
