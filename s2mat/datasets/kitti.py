"""KITTI odometry / SemanticKITTI sequence folders.

Layout: ``velodyne/NNNNNN.bin`` (float32 x y z intensity), optional ``labels/NNNNNN.label``
(uint32: semantic class in the low 16 bits, instance in the high 16), ``poses.txt`` (camera
poses, KITTI convention), ``calib.txt`` (``Tr`` = cam0_T_velodyne, ``P2``), ``times.txt``,
``image_2/NNNNNN.png`` and ``boxes.jsonl`` (s2mat's ground-truth boxes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2mat.datasets.base import IndexedDataset
from s2mat.datasets.gt_boxes import BOXES_FILENAME, read_boxes
from s2mat.datasets.poses import read_kitti_poses
from s2mat.errors import CorruptFileError, DatasetError
from s2mat.types import CameraModel, Frame, FrameGroundTruth

# SemanticKITTI classes of moving objects (moving-car ... moving-other-vehicle).
MOVING_CLASSES = np.arange(252, 260)


def read_bin(path: Path) -> np.ndarray:
    """``(N, 4) float32`` x y z intensity of a KITTI ``.bin`` scan."""
    size = path.stat().st_size
    if size % 16:
        raise CorruptFileError(f"{path}: {size} bytes is not a whole number of 16-byte points (truncated .bin?)")
    return np.fromfile(path, dtype="<f4").reshape(-1, 4)


def write_bin(path: Path, points: np.ndarray, intensity: np.ndarray | None = None) -> None:
    """Write a KITTI ``.bin`` scan (x y z intensity as little-endian float32)."""
    table = np.zeros((len(points), 4), dtype="<f4")
    table[:, :3] = points
    if intensity is not None:
        table[:, 3] = intensity
    table.tofile(path)


def read_calib(path: Path) -> dict[str, np.ndarray]:
    """The named matrices of a KITTI ``calib.txt`` (``Tr`` and ``P0``..``P3`` as 3x4)."""
    out: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if ":" not in line:
            continue
        key, values = line.split(":", 1)
        try:
            numbers = np.array([float(v) for v in values.split()])
        except ValueError:
            raise CorruptFileError(f"{path}:{lineno}: calibration {key.strip()!r} has a non-numeric value") from None
        if numbers.size != 12:
            raise CorruptFileError(f"{path}:{lineno}: calibration {key.strip()!r} needs 12 numbers, has {numbers.size}")
        out[key.strip()] = numbers.reshape(3, 4)
    return out


def _homogeneous(m34: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :] = m34
    return out


class KittiDataset(IndexedDataset):
    """A KITTI odometry or SemanticKITTI sequence folder."""

    name = "kitti"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(Path(path))
        velodyne = self.path / "velodyne"
        self.scans = sorted(velodyne.glob("*.bin"))
        if not self.scans:
            raise DatasetError(f"{velodyne}: no .bin scans")
        calib_file = self.path / "calib.txt"
        calib = read_calib(calib_file) if calib_file.is_file() else {}
        self.cam_T_lidar = _homogeneous(calib["Tr"]) if "Tr" in calib else np.eye(4)
        self.camera_P2 = calib.get("P2")
        self._poses = self._load_poses()
        times_file = self.path / "times.txt"
        if times_file.is_file():
            try:
                self.timestamps = np.loadtxt(times_file, dtype=np.float64, ndmin=1)
            except ValueError:
                raise CorruptFileError(f"{times_file}: times must be one number per line") from None
            if len(self.timestamps) != len(self.scans):
                raise CorruptFileError(f"{times_file}: {len(self.timestamps)} times for {len(self.scans)} scans")
        else:
            self.timestamps = np.arange(len(self.scans), dtype=np.float64) * 0.1
        boxes_file = self.path / BOXES_FILENAME
        self._boxes = read_boxes(boxes_file) if boxes_file.is_file() else None
        self._labels_dir = self.path / "labels"
        self._images_dir = self.path / "image_2"

    def _load_poses(self) -> np.ndarray | None:
        pose_file = self.path / "poses.txt"
        if not pose_file.is_file():
            return None
        cam_poses = read_kitti_poses(pose_file)
        if len(cam_poses) != len(self.scans):
            raise CorruptFileError(f"{pose_file}: {len(cam_poses)} poses for {len(self.scans)} scans")
        lidar_T_cam = np.linalg.inv(self.cam_T_lidar)
        poses = lidar_T_cam @ cam_poses @ self.cam_T_lidar
        return np.linalg.inv(poses[0]) @ poses  # the world frame is the first sensor pose

    def __len__(self) -> int:
        return len(self.scans)

    def gt_poses(self) -> np.ndarray | None:
        return self._poses

    @property
    def has_ground_truth(self) -> bool:
        return self._poses is not None or self._labels_dir.is_dir() or self._boxes is not None

    def _read(self, index: int) -> Frame:
        scan = self.scans[index]
        table = read_bin(scan)
        frame = Frame(points=table[:, :3], intensity=table[:, 3], timestamp=float(self.timestamps[index]), index=index)
        image_file = self._images_dir / f"{scan.stem}.png"
        if image_file.is_file() and self.camera_P2 is not None:
            from PIL import Image

            with Image.open(image_file) as img:
                frame.image = np.asarray(img.convert("RGB"))
            K = self.camera_P2[:, :3]
            cam2_T_cam0 = np.eye(4)
            cam2_T_cam0[:3, 3] = np.linalg.solve(K, self.camera_P2[:, 3])
            frame.camera = CameraModel(K=K, width=frame.image.shape[1], height=frame.image.shape[0],
                                       camera_T_lidar=cam2_T_cam0 @ self.cam_T_lidar)
        gt = FrameGroundTruth(pose=None if self._poses is None else self._poses[index])
        label_file = self._labels_dir / f"{scan.stem}.label"
        if label_file.is_file():
            labels = np.fromfile(label_file, dtype="<u4")
            if len(labels) != len(frame):
                raise CorruptFileError(f"{label_file}: {len(labels)} labels for {len(frame)} points in {scan.name}")
            gt.semantic = (labels & 0xFFFF).astype(np.uint16)
            gt.instance = (labels >> 16).astype(np.uint16)
            gt.moving = np.isin(gt.semantic, MOVING_CLASSES)
        if self._boxes is not None:
            gt.boxes = self._boxes.get(index, [])
        if gt.pose is not None or gt.semantic is not None or self._boxes is not None:
            frame.ground_truth = gt
        return frame
