"""Scores of a whole ``s2mat map`` run against a dataset's ground truth.

- static map: SA, DA, AA, HA (DynamicMap definitions) on the ground-truth-labelled points of
  every frame, placed with the run's own poses and judged by the run's own map (is the voxel
  kept?); points are deduplicated on 0.1 m voxels per label;
- tracking: MOTA, IDF1, IDS, HOTA at 3D IoU 0.25 on objects within ``TRACK_RADIUS`` of the
  sensor with at least ``MIN_OBJECT_POINTS`` points, the run's boxes brought into the
  ground-truth world frame through each frame's pose pair (so drift is not counted twice),
  plus the number of false tracks (ids that never come near any ground-truth object);
- odometry: ATE (m) and relative translation error (percent);
- timing: median and 95th percentile milliseconds per frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from perception.types import Box3D
from s2mat.evaluation.odometry import odometry_scores
from s2mat.evaluation.static_map import static_map_scores
from s2mat.types import Frame

TRACK_RADIUS = 40.0  # metres
MIN_OBJECT_POINTS = 10
DEDUP_VOXEL = 0.1  # metres
FALSE_TRACK_DISTANCE = 2.0  # metres from every ground-truth object, in every frame of the track


class RunGroundTruth:
    """The ground truth a run is scored on, gathered in one pass over the dataset."""

    def __init__(self) -> None:
        self.gt_poses: list[np.ndarray] = []
        self.points: list[np.ndarray] = []  # sensor-frame labelled points per frame
        self.moving: list[np.ndarray] = []
        self.boxes: list[list[tuple[int, Box3D]]] = []

    def add(self, frame: Frame, min_range: float, max_range: float) -> None:
        gt = frame.ground_truth
        self.gt_poses.append(None if gt is None or gt.pose is None else np.asarray(gt.pose))
        if gt is not None and gt.moving is not None:
            rng = np.linalg.norm(frame.points, axis=1)
            keep = np.isfinite(frame.points).all(axis=1) & (rng >= min_range) & (rng <= max_range)
            self.points.append(frame.points[keep])
            self.moving.append(np.asarray(gt.moving)[keep])
        else:
            self.points.append(np.zeros((0, 3), np.float32))
            self.moving.append(np.zeros(0, bool))
        boxes = []
        if gt is not None and gt.pose is not None:
            counts = {}
            if gt.instance is not None:
                ids, n = np.unique(gt.instance, return_counts=True)
                counts = dict(zip(ids.tolist(), n.tolist(), strict=True))
            sensor = np.asarray(gt.pose)[:3, 3]
            for b in gt.boxes:
                near = np.linalg.norm(b.box.center[:2] - sensor[:2]) <= TRACK_RADIUS
                if near and (gt.instance is None or counts.get(b.instance_id, 0) >= MIN_OBJECT_POINTS):
                    boxes.append((b.instance_id, b.box))
        self.boxes.append(boxes)

    @property
    def has_poses(self) -> bool:
        return len(self.gt_poses) > 0 and all(p is not None for p in self.gt_poses)

    @property
    def has_labels(self) -> bool:
        return any(len(m) for m in self.moving)

    @property
    def has_boxes(self) -> bool:
        return self.has_poses and any(self.boxes)


def _dedup(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One point per (0.1 m voxel, label): 20 bits per axis (±52 km) and the label in one int64."""
    keys = (np.floor(points / DEDUP_VOXEL).astype(np.int64) + (1 << 19)) & ((1 << 20) - 1)
    packed = (keys[:, 0] << 41) | (keys[:, 1] << 21) | (keys[:, 2] << 1) | labels.astype(np.int64)
    _, first = np.unique(packed, return_index=True)
    return points[first], labels[first]


def static_map_metrics(truth: RunGroundTruth, poses: np.ndarray, is_kept) -> dict:
    """SA/DA/AA/HA of a map answering ``is_kept(points_world) -> bool mask``, with the run's poses."""
    world, labels = [], []
    for pose, pts, mov in zip(poses, truth.points, truth.moving, strict=False):
        if len(pts):
            world.append(pts @ pose[:3, :3].T + pose[:3, 3])
            labels.append(mov)
    points, dynamic = _dedup(np.concatenate(world), np.concatenate(labels))
    kept = np.asarray(is_kept(points), dtype=bool)
    return static_map_scores(points, dynamic, kept).as_dict()


def tracking_metrics(truth: RunGroundTruth, poses: np.ndarray,
                     tracks: Mapping[int, Sequence[tuple[int, Box3D]]]) -> dict:
    """MOTA / IDF1 / IDS / HOTA and false tracks; ``tracks`` per frame index, world frame of the run."""
    from s2mat.evaluation.tracking import score_boxes

    predictions: list[list[tuple[int, Box3D]]] = []
    near_gt: dict[int, bool] = {}
    for i, (gt_pose, pose) in enumerate(zip(truth.gt_poses, poses, strict=False)):
        to_gt = gt_pose @ np.linalg.inv(pose)
        yaw = np.arctan2(to_gt[1, 0], to_gt[0, 0])
        sensor = gt_pose[:3, 3]
        frame_preds = []
        centres = np.array([b.center for _, b in truth.boxes[i]]).reshape(-1, 3)
        for track_id, box in tracks.get(i, []):
            moved = Box3D(to_gt[:3, :3] @ box.center + to_gt[:3, 3], box.size, box.yaw + yaw)
            if np.linalg.norm(moved.center[:2] - sensor[:2]) <= TRACK_RADIUS:
                frame_preds.append((track_id, moved))
                close = bool(len(centres)) and bool(
                    np.min(np.linalg.norm(centres[:, :2] - moved.center[:2], axis=1)) < FALSE_TRACK_DISTANCE)
                near_gt[track_id] = near_gt.get(track_id, False) or close
        predictions.append(frame_preds)
    scores = score_boxes(truth.boxes[: len(predictions)], predictions)
    scores["false_tracks"] = int(sum(not v for v in near_gt.values()))
    scores["tracks"] = len(near_gt)
    return scores


def timing_metrics(totals_ms: Iterable[float]) -> dict:
    values = np.asarray(list(totals_ms), dtype=np.float64)
    if not len(values):
        return {}
    return {"median_ms": float(np.median(values)), "p95_ms": float(np.percentile(values, 95)),
            "frames": len(values)}


def evaluate_run(truth: RunGroundTruth, poses: np.ndarray, is_kept,
                 tracks: Mapping[int, Sequence[tuple[int, Box3D]]], totals_ms: Sequence[float]) -> dict:
    """Every score the ground truth allows; sections without ground truth are left out."""
    poses = np.asarray(poses)
    metrics: dict[str, dict] = {}
    if truth.has_labels:
        metrics["static_map"] = static_map_metrics(truth, poses, is_kept)
    if truth.has_boxes:
        metrics["tracking"] = tracking_metrics(truth, poses, tracks)
    if truth.has_poses and len(poses) == len(truth.gt_poses):
        odo = odometry_scores(np.stack(truth.gt_poses), poses)
        metrics["odometry"] = {"ate_m": odo.ate_rmse, "rel_translation_pct": odo.rel_translation_pct,
                               "rel_rotation_deg_per_100m": odo.rel_rotation_deg_per_100m,
                               "path_length_m": odo.path_length}
    metrics["timing"] = timing_metrics(totals_ms)
    return metrics
