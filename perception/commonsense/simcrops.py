"""Labelled crops from simulated (or any ground-truth-annotated) camera frames.

Takes frames shaped like ``s2mat.types.Frame`` (``.image``, ``.camera`` with ``project()``,
``.timestamp``, ``.ground_truth.pose`` world_T_sensor and ``.ground_truth.boxes`` in the
world frame) and writes the folder layout of :mod:`perception.commonsense.dataset`. Each
visible ground-truth box becomes one crop of its projected 3D box; its label is the box's
class and moving flag, and its geometry token is the box size, speed and yaw rate (from the
same instance's yaw in the previous frame). Boxes mostly hidden behind a nearer box, too
small, or cut by the image border are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from perception.commonsense.dataset import CROPS_DIR, CropRecord, write_crop_dataset
from perception.commonsense.geometry import geometry_vector

MIN_SIDE_PX = 6
MAX_OCCLUDED = 0.4
MARGIN = 0.08


def _box_corners(center: np.ndarray, size: np.ndarray, yaw: float) -> np.ndarray:
    """(8, 3) corners of an upright box (centre of the volume, size l/w/h, yaw about +z)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    local = signs * (np.asarray(size, dtype=np.float64) / 2.0)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return local @ rot.T + np.asarray(center, dtype=np.float64)


def project_box(frame: Any, box: Any) -> tuple[np.ndarray, float] | None:
    """Pixel rectangle (x1, y1, x2, y2) of a world-frame ground-truth box in the frame's image, and its depth."""
    sensor_T_world = np.linalg.inv(np.asarray(frame.ground_truth.pose, dtype=np.float64))
    return box_rect_in_image(frame.camera, box.center, box.size, box.yaw, sensor_T_world)


def box_rect_in_image(camera: Any, center: np.ndarray, size: np.ndarray, yaw: float,
                      sensor_T_frame: np.ndarray | None = None) -> tuple[np.ndarray, float] | None:
    """Image rectangle (x1, y1, x2, y2) in pixels of an upright box, and its median camera depth (m).

    The box (centre m, size l/w/h m, yaw rad) lives in a frame that ``sensor_T_frame`` (4x4)
    maps into the LiDAR frame (identity: the box is in the LiDAR frame; for world-frame
    tracks pass ``inv(world_T_sensor)``). ``camera`` is an ``s2mat.types.CameraModel``.
    ``None`` when a corner is behind the camera, the box is under ``MIN_SIDE_PX`` pixels, or
    less than 70 % of it is inside the image.
    """
    cam = camera
    transform = np.eye(4) if sensor_T_frame is None else np.asarray(sensor_T_frame, dtype=np.float64)
    corners = _box_corners(center, size, yaw)
    local = corners @ transform[:3, :3].T + transform[:3, 3]
    cam_pts = local @ cam.camera_T_lidar[:3, :3].T + cam.camera_T_lidar[:3, 3]
    if np.any(cam_pts[:, 2] <= 0.5):
        return None
    uv, _ = cam.project(local)
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    full = max((x2 - x1) * (y2 - y1), 1e-6)
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, cam.width), min(y2, cam.height)
    if cx2 - cx1 < MIN_SIDE_PX or cy2 - cy1 < MIN_SIDE_PX or (cx2 - cx1) * (cy2 - cy1) < 0.7 * full:
        return None
    return np.array([cx1, cy1, cx2, cy2]), float(np.median(cam_pts[:, 2]))


def crop_image(image: np.ndarray, rect: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """The pixels of ``rect`` (x1, y1, x2, y2) grown by ``margin`` of its size, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in rect)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
    c, d = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
    return np.ascontiguousarray(image[b:d, a:c])


def _overlap_fraction(rect: np.ndarray, other: np.ndarray) -> float:
    ix = max(0.0, min(rect[2], other[2]) - max(rect[0], other[0]))
    iy = max(0.0, min(rect[3], other[3]) - max(rect[1], other[1]))
    return ix * iy / max((rect[2] - rect[0]) * (rect[3] - rect[1]), 1e-6)


def crops_from_frames(frames: Iterable[Any], every: int = 1) -> tuple[list[np.ndarray], list[CropRecord]]:
    """Crops and labels of every visible ground-truth object in ``frames`` (every ``every``-th frame)."""
    crops: list[np.ndarray] = []
    records: list[CropRecord] = []
    last_yaw: dict[int, tuple[float, float]] = {}
    for n, frame in enumerate(frames):
        gt = getattr(frame, "ground_truth", None)
        if frame.image is None or frame.camera is None or gt is None or gt.pose is None:
            continue
        yaw_rates = {}
        for obj in gt.boxes:
            prev = last_yaw.get(obj.instance_id)
            rate = 0.0
            if prev is not None and frame.timestamp > prev[1]:
                rate = float(np.angle(np.exp(1j * (obj.box.yaw - prev[0])))) / (frame.timestamp - prev[1])
            yaw_rates[obj.instance_id] = rate
            last_yaw[obj.instance_id] = (obj.box.yaw, frame.timestamp)
        if n % every:
            continue
        visible = [(obj, *p) for obj in gt.boxes if (p := project_box(frame, obj.box)) is not None]
        for obj, rect, depth in visible:
            nearer = [r for o, r, dep in visible if o is not obj and dep < depth]
            if any(_overlap_fraction(rect, r) > MAX_OCCLUDED for r in nearer):
                continue
            crop = crop_image(frame.image, rect)
            name = f"{CROPS_DIR}/{len(crops):06d}.png"
            speed = float(np.linalg.norm(np.asarray(obj.velocity, dtype=np.float64)[:2]))
            geo = geometry_vector(*obj.box.size, speed, yaw_rates[obj.instance_id])
            cls = getattr(obj.object_class, "value", obj.object_class)
            crops.append(crop)
            records.append(CropRecord(name, str(cls), bool(obj.moving), geo,
                                      {"instance": int(obj.instance_id), "frame": int(getattr(frame, "index", n))}))
    return crops, records


def write_crops_from_frames(frames: Iterable[Any], out: str | Path, every: int = 1) -> int:
    """Write the crops of ``frames`` as a labelled-crop folder at ``out``; returns the crop count."""
    crops, records = crops_from_frames(frames, every=every)
    write_crop_dataset(out, crops, records)
    return len(crops)
