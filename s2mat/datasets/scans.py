"""A folder of scans, one file a frame: ``.pcd``, ``.ply`` or KITTI ``.bin``.

The DynamicMap benchmark layout (``pcd/NNNNNN.pcd`` in world coordinates with the sensor pose
in ``VIEWPOINT``, plus ``gt_cloud.pcd``) is read as a scan folder with ground-truth poses;
its points are returned in the sensor frame like every other reader's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2mat.datasets.base import IndexedDataset
from s2mat.datasets.gt_boxes import BOXES_FILENAME, read_boxes
from s2mat.datasets.kitti import read_bin
from s2mat.datasets.pcd import read_pcd, read_pcd_header
from s2mat.datasets.ply import read_ply
from s2mat.errors import CorruptFileError, DatasetError
from s2mat.types import Frame, FrameGroundTruth

SCAN_SUFFIXES = (".pcd", ".ply", ".bin")
DYNAMICMAP_GT = "gt_cloud.pcd"


def scan_files(folder: Path) -> list[Path]:
    """The scan files of ``folder``, sorted; raises when the folder mixes formats."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SCAN_SUFFIXES)
    kinds = sorted({p.suffix.lower() for p in files})
    if len(kinds) > 1:
        counts = ", ".join(f"{sum(p.suffix.lower() == k for p in files)} {k}" for k in kinds)
        raise DatasetError(f"{folder}: the folder mixes scan formats ({counts}); keep one format per folder")
    return files


def _structured_xyz(cloud: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    names = cloud.dtype.names or ()
    missing = [a for a in "xyz" if a not in names]
    if missing:
        raise CorruptFileError(f"{path}: no {', '.join(missing)} field (fields: {', '.join(names)})")
    xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=1).astype(np.float32)
    for name in ("intensity", "scalar_intensity", "reflectivity", "i"):
        if name in names:
            return xyz, cloud[name].astype(np.float32)
    return xyz, None


class ScanFolderDataset(IndexedDataset):
    """Scans in one folder, ordered by file name; 10 Hz timestamps unless told otherwise."""

    name = "scan-folder"

    def __init__(self, path: str | os.PathLike[str], frame_rate: float = 10.0) -> None:
        super().__init__(Path(path))
        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: not a folder")
        self.dynamicmap = (self.path / "pcd").is_dir()
        self.scan_dir = self.path / "pcd" if self.dynamicmap else self.path
        if self.dynamicmap:
            self.name = "dynamicmap"
        self.files = scan_files(self.scan_dir)
        if not self.files:
            raise DatasetError(f"{self.scan_dir}: no .pcd, .ply or .bin scans")
        self.frame_rate = frame_rate
        boxes_file = self.path / BOXES_FILENAME
        self._boxes = read_boxes(boxes_file) if boxes_file.is_file() else None
        self._poses: np.ndarray | None = None
        self._first_inv: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        suffix = path.suffix.lower()
        if suffix == ".bin":
            table = read_bin(path)
            return table[:, :3], table[:, 3], None
        if suffix == ".pcd":
            cloud, header = read_pcd(path)
            xyz, intensity = _structured_xyz(cloud, path)
            return xyz, intensity, header.viewpoint
        xyz, intensity = _structured_xyz(read_ply(path), path)
        return xyz, intensity, None

    def _world_from_first(self) -> np.ndarray:
        if self._first_inv is None:
            _, _, first = self._load(self.files[0])
            self._first_inv = np.linalg.inv(first)
        return self._first_inv

    def _read(self, index: int) -> Frame:
        path = self.files[index]
        xyz, intensity, viewpoint = self._load(path)
        frame = Frame(points=xyz, intensity=intensity, timestamp=index / self.frame_rate, index=index)
        if self.dynamicmap:
            # DynamicMap frames are in world coordinates: bring them back into the sensor frame.
            sensor_T_world = np.linalg.inv(viewpoint)
            frame.points = (xyz @ sensor_T_world[:3, :3].T + sensor_T_world[:3, 3]).astype(np.float32)
            pose = self._world_from_first() @ viewpoint
            frame.ground_truth = FrameGroundTruth(pose=pose, boxes=(self._boxes or {}).get(index, []))
        elif self._boxes is not None:
            frame.ground_truth = FrameGroundTruth(boxes=self._boxes.get(index, []))
        return frame

    def gt_poses(self) -> np.ndarray | None:
        if not self.dynamicmap:
            return None
        if self._poses is None:
            first_inv = self._world_from_first()
            self._poses = np.stack([first_inv @ read_pcd_header(p).viewpoint for p in self.files])
        return self._poses
