"""Scores of a whole ``s2mat map`` run against a dataset's ground truth.

- static map: SA, DA, AA, HA (DynamicMap definitions) on the ground-truth-labelled points of
  every frame, placed with the run's own poses (and deskewed with the run's own motion when
  points carry times) and judged by the run's own map (is the voxel kept?); points are
  deduplicated on 0.1 m voxels per label;
- tracking: MOTA, IDF1, IDS, HOTA at 3D IoU 0.25 on objects within ``TRACK_RADIUS`` of the
  sensor with at least ``MIN_OBJECT_POINTS`` points, the run's boxes brought into the
  ground-truth world frame through each frame's pose pair (so drift is not counted twice).
  Objects within the radius with fewer points (hidden behind others, or almost) are ignored,
  as KITTI ignores its don't-care objects: a box that matches one of them (3D IoU >= 0.25,
  one-to-one with all objects) counts neither way, so a track kept through an occlusion is
  not a false positive. Plus the number of false tracks (ids that never come near any
  ground-truth object) and the share of matched object-frames (3D IoU >= 0.25, one-to-one)
  whose moving flag agrees with the ground truth's;
- odometry: ATE (m) and relative translation error (percent);
- timing: median and 95th percentile milliseconds per frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from perception.types import Box3D
from s2mat.evaluation.odometry import odometry_scores
from s2mat.evaluation.static_map import static_map_scores
from s2mat.types import Frame

TRACK_RADIUS = 40.0  # metres
MIN_OBJECT_POINTS = 10
DEDUP_VOXEL = 0.1  # metres
_APART = 1e9  # matching cost of a box and an object that overlap too little to match
FALSE_TRACK_DISTANCE = 2.0  # metres from every ground-truth object, in every frame of the track


class RunGroundTruth:
    """The ground truth a run is scored on, gathered in one pass over the dataset."""

    def __init__(self) -> None:
        self.gt_poses: list[np.ndarray] = []
        self.points: list[np.ndarray] = []  # sensor-frame labelled points per frame
        self.times: list[np.ndarray | None] = []  # their per-point times (s after the frame stamp), if any
        self.stamps: list[float] = []
        self.moving: list[np.ndarray] = []
        self.boxes: list[list[tuple[int, Box3D]]] = []
        self.box_moving: list[dict[int, bool]] = []  # ground-truth moving flag per scored object
        self.ignored: list[list[Box3D]] = []  # objects within the radius with too few points

    def add(self, frame: Frame, min_range: float, max_range: float) -> None:
        gt = frame.ground_truth
        self.gt_poses.append(None if gt is None or gt.pose is None else np.asarray(gt.pose))
        if gt is not None and gt.moving is not None:
            rng = np.linalg.norm(frame.points, axis=1)
            keep = np.isfinite(frame.points).all(axis=1) & (rng >= min_range) & (rng <= max_range)
            self.points.append(frame.points[keep])
            self.moving.append(np.asarray(gt.moving)[keep])
            self.times.append(None if frame.times is None else np.asarray(frame.times)[keep])
        else:
            self.points.append(np.zeros((0, 3), np.float32))
            self.moving.append(np.zeros(0, bool))
            self.times.append(None)
        self.stamps.append(float(frame.timestamp))
        boxes, ignored = [], []
        flags: dict[int, bool] = {}
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
                    flags[b.instance_id] = bool(b.moving)
                elif near:
                    ignored.append(b.box)
        self.boxes.append(boxes)
        self.ignored.append(ignored)
        self.box_moving.append(flags)

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


def _placed(truth: RunGroundTruth, poses: np.ndarray, i: int) -> np.ndarray:
    """World positions of frame ``i``'s labelled points by the run's poses; points with a
    time inside the sweep are moved by the run's own motion over that frame (constant
    velocity between its poses), as the loop itself deskews them before mapping. The first
    frame has no motion yet and is placed as measured, as the loop places it."""
    from mapping.preprocess import deskew

    pts = truth.points[i].astype(np.float64)
    times = truth.times[i] if i < len(truth.times) else None
    if times is not None and i > 0 and np.any(times):
        dt = truth.stamps[i] - truth.stamps[i - 1]
        if dt > 0:
            pts = deskew(pts, np.asarray(times, np.float64), np.linalg.inv(poses[i - 1]) @ poses[i], dt)
    pose = poses[i]
    return pts @ pose[:3, :3].T + pose[:3, 3]


def static_map_metrics(truth: RunGroundTruth, poses: np.ndarray, is_kept) -> dict:
    """SA/DA/AA/HA of a map answering ``is_kept(points_world) -> bool mask``, with the run's poses."""
    world, labels = [], []
    for i, mov in enumerate(truth.moving[: len(poses)]):
        if len(mov):
            world.append(_placed(truth, poses, i))
            labels.append(mov)
    points, dynamic = _dedup(np.concatenate(world), np.concatenate(labels))
    kept = np.asarray(is_kept(points), dtype=bool)
    return static_map_scores(points, dynamic, kept).as_dict()


def _not_on_ignored(scored: Sequence[tuple[int, Box3D]], ignored: Sequence[Box3D], boxes: Sequence[Box3D]) -> np.ndarray:
    """(P,) bool: the ``boxes`` not matched to an ``ignored`` object when all objects, scored
    and ignored, are matched one-to-one with them: pairs with a 3D IoU of at least
    IOU_THRESHOLD, as many as can be, scored objects first, then by overlap."""
    from scipy.optimize import linear_sum_assignment

    from s2mat.evaluation.tracking import IOU_THRESHOLD, boxes_to_array, iou_3d

    iou = iou_3d(boxes_to_array([b for _, b in scored] + list(ignored)), boxes_to_array(list(boxes)))
    is_ignored = (np.arange(len(iou)) >= len(scored))[:, None]
    cost = np.where(iou >= IOU_THRESHOLD, 1.0 - iou + is_ignored, _APART)
    rows, cols = linear_sum_assignment(cost)
    on_ignored = (rows >= len(scored)) & (cost[rows, cols] < _APART)
    keep = np.ones(len(boxes), dtype=bool)
    keep[cols[on_ignored]] = False
    return keep


def tracking_metrics(truth: RunGroundTruth, poses: np.ndarray, tracks: Mapping[int, Sequence[tuple]]) -> dict:
    """MOTA / IDF1 / IDS / HOTA, false tracks and moving-flag accuracy.

    ``tracks`` per frame position: ``(id, Box3D)`` or ``(id, Box3D, moving)`` in the run's
    world frame.
    """
    from scipy.optimize import linear_sum_assignment

    from s2mat.evaluation.tracking import IOU_THRESHOLD, boxes_to_array, iou_3d, score_boxes

    predictions: list[list[tuple[int, Box3D]]] = []
    near_gt: dict[int, bool] = {}
    agree = pairs = 0
    for i, (gt_pose, pose) in enumerate(zip(truth.gt_poses, poses, strict=False)):
        to_gt = gt_pose @ np.linalg.inv(pose)
        yaw = np.arctan2(to_gt[1, 0], to_gt[0, 0])
        sensor = gt_pose[:3, 3]
        frame_preds, frame_moving = [], []
        centres = np.array([b.center for _, b in truth.boxes[i]] + [b.center for b in truth.ignored[i]]).reshape(-1, 3)
        for entry in tracks.get(i, []):
            track_id, box = entry[0], entry[1]
            moved = Box3D(to_gt[:3, :3] @ box.center + to_gt[:3, 3], box.size, box.yaw + yaw)
            if np.linalg.norm(moved.center[:2] - sensor[:2]) <= TRACK_RADIUS:
                frame_preds.append((track_id, moved))
                frame_moving.append(bool(entry[2]) if len(entry) > 2 else None)
                close = bool(len(centres)) and bool(
                    np.min(np.linalg.norm(centres[:, :2] - moved.center[:2], axis=1)) < FALSE_TRACK_DISTANCE)
                near_gt[track_id] = near_gt.get(track_id, False) or close
        if truth.ignored[i] and frame_preds:
            keep = _not_on_ignored(truth.boxes[i], truth.ignored[i], [b for _, b in frame_preds])
            frame_preds = [p for p, k in zip(frame_preds, keep, strict=True) if k]
            frame_moving = [m for m, k in zip(frame_moving, keep, strict=True) if k]
        predictions.append(frame_preds)
        if truth.boxes[i] and frame_preds and all(m is not None for m in frame_moving):
            iou = iou_3d(boxes_to_array([b for _, b in truth.boxes[i]]), boxes_to_array([b for _, b in frame_preds]))
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if iou[r, c] >= IOU_THRESHOLD:
                    pairs += 1
                    agree += truth.box_moving[i][truth.boxes[i][r][0]] == frame_moving[c]
    scores = score_boxes(truth.boxes[: len(predictions)], predictions)
    scores["false_tracks"] = int(sum(not v for v in near_gt.values()))
    scores["tracks"] = len(near_gt)
    scores["moving_flag_accuracy"] = 100.0 * agree / pairs if pairs else float("nan")
    scores["moving_flag_pairs"] = pairs
    return scores


def timing_metrics(totals_ms: Iterable[float]) -> dict:
    values = np.asarray(list(totals_ms), dtype=np.float64)
    if not len(values):
        return {}
    return {"median_ms": float(np.median(values)), "p95_ms": float(np.percentile(values, 95)),
            "frames": len(values)}


def evaluate_run(truth: RunGroundTruth, poses: np.ndarray, is_kept,
                 tracks: Mapping[int, Sequence[tuple]], totals_ms: Sequence[float]) -> dict:
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


def evaluate_outputs(out_dir: str | os.PathLike[str], dataset: Iterable[Frame]) -> tuple[dict, int]:
    """Score the files of an earlier ``s2mat map`` run in ``out_dir`` against ``dataset``'s
    ground truth, without re-running: ``static_map.ply`` (+ sidecar), ``poses_kitti.txt``,
    ``tracks.jsonl``, ``timing.jsonl`` and ``config.yaml``. Frames without points are skipped
    as the run skipped them; a run that stopped early is scored on the frames it wrote.
    Returns the metrics and the number of frames scored. Raises
    :class:`~s2mat.errors.DatasetError` when a file is missing or unreadable.
    """
    from mapping.errors import MapFileError
    from mapping.static_map import StaticMap
    from s2mat.config import load_config
    from s2mat.datasets.poses import read_kitti_poses
    from s2mat.errors import DatasetError
    from s2mat.outputs import MAP_FILENAME, read_timing, read_tracks_jsonl

    out = Path(out_dir)
    if not out.is_dir():
        raise DatasetError(f"{out} is not a folder of s2mat map outputs")
    for name in (MAP_FILENAME, "poses_kitti.txt", "tracks.jsonl", "config.yaml"):
        if not (out / name).is_file():
            raise DatasetError(f"{out / name} is missing: {out} does not hold the outputs of s2mat map")
    try:
        static_map = StaticMap.load(out / MAP_FILENAME)
    except MapFileError as exc:
        raise DatasetError(str(exc)) from None
    config = load_config(out / "config.yaml")
    poses = read_kitti_poses(out / "poses_kitti.txt")
    try:
        records = read_tracks_jsonl(out / "tracks.jsonl")
        timing = read_timing(out / "timing.jsonl") if (out / "timing.jsonl").is_file() else []
    except (ValueError, KeyError) as exc:
        raise DatasetError(f"{out}: a track or timing line is not valid JSON ({exc})") from None
    truth = RunGroundTruth()
    tracks: dict[int, list[tuple[int, Box3D, bool]]] = {}
    for frame in dataset:
        if len(truth.gt_poses) >= len(poses):
            break
        if len(frame) == 0:
            continue
        position = len(truth.gt_poses)
        truth.add(frame, config.sensor.min_range, config.sensor.max_range)
        tracks[position] = [(int(r["id"]), Box3D(r["center"], r["size"], r["yaw"]), bool(r["moving"]))
                            for r in records.get(frame.index, [])]
    if len(truth.gt_poses) < len(poses):
        raise DatasetError(f"{out} holds {len(poses)} poses but the data set has only {len(truth.gt_poses)} frames "
                           "with points: is it the input of that run?")
    totals = [float(t["total"]) for t in timing if "total" in t]
    return evaluate_run(truth, poses, static_map.is_static, tracks, totals), len(poses)
