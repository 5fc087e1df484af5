"""Frame-level types of s2mat: what readers yield and the pipeline consumes.

Conventions: points are ``(N, 3) float32`` in the sensor frame, metres. A pose is a 4x4
``world_T_sensor`` matrix (float64); the world frame is the first sensor pose. Timestamps
are seconds; per-point ``times`` are seconds relative to the frame ``timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from perception.types import Box3D, Detection, ObjectClass, Track, TrackState

__all__ = [
    "Box3D",
    "CameraModel",
    "Detection",
    "Frame",
    "FrameGroundTruth",
    "GroundTruthBox",
    "ObjectClass",
    "PointLabel",
    "StepResult",
    "Track",
    "TrackState",
]


class PointLabel(IntEnum):
    """Per-point label produced by the pipeline."""

    UNKNOWN = 0
    GROUND = 1
    STATIC = 2
    DYNAMIC = 3


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera: intrinsics ``K`` (3x3), image size, and ``camera_T_lidar`` (4x4)."""

    K: np.ndarray
    width: int
    height: int
    camera_T_lidar: np.ndarray

    def project(self, points_lidar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project (N, 3) LiDAR-frame points; returns pixel coordinates (N, 2) and a mask of
        points in front of the camera and inside the image."""
        pts = np.asarray(points_lidar, dtype=np.float64)
        cam = pts @ self.camera_T_lidar[:3, :3].T + self.camera_T_lidar[:3, 3]
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam @ self.K.T)[:, :2] / z[:, None]
        inside = (z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < self.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.height)
        return uv, inside


@dataclass(frozen=True)
class GroundTruthBox:
    """A ground-truth object in one frame, in the world frame."""

    instance_id: int
    object_class: ObjectClass
    box: Box3D
    velocity: np.ndarray  # (3,) m/s, world frame
    moving: bool


@dataclass
class FrameGroundTruth:
    """What a dataset knows about a frame beyond the measurement. Every field is optional."""

    pose: np.ndarray | None = None  # 4x4 world_T_sensor
    semantic: np.ndarray | None = None  # (N,) uint16 SemanticKITTI class ids
    instance: np.ndarray | None = None  # (N,) uint16 instance ids, 0 = none
    moving: np.ndarray | None = None  # (N,) bool, point belongs to a moving object
    boxes: list[GroundTruthBox] = field(default_factory=list)


@dataclass
class Frame:
    """One LiDAR sweep, with optional camera data and ground truth."""

    points: np.ndarray
    timestamp: float
    index: int = 0
    intensity: np.ndarray | None = None  # (N,) float32
    times: np.ndarray | None = None  # (N,) float32 seconds relative to ``timestamp``
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB
    camera: CameraModel | None = None
    ground_truth: FrameGroundTruth | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.points)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"Frame points must have shape (N, 3), got {pts.shape}")
        self.points = np.ascontiguousarray(pts, dtype=np.float32)
        n = len(self.points)
        for name in ("intensity", "times"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float32).reshape(-1)
                if len(value) != n:
                    raise ValueError(f"Frame {name} has {len(value)} values for {n} points")
                setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.points)

    def select(self, mask: np.ndarray) -> Frame:
        """A copy holding only the points where ``mask`` is true (per-point fields follow)."""
        gt = self.ground_truth
        if gt is not None:
            gt = FrameGroundTruth(
                pose=gt.pose,
                semantic=None if gt.semantic is None else gt.semantic[mask],
                instance=None if gt.instance is None else gt.instance[mask],
                moving=None if gt.moving is None else gt.moving[mask],
                boxes=gt.boxes,
            )
        return Frame(
            points=self.points[mask],
            timestamp=self.timestamp,
            index=self.index,
            intensity=None if self.intensity is None else self.intensity[mask],
            times=None if self.times is None else self.times[mask],
            image=self.image,
            camera=self.camera,
            ground_truth=gt,
        )


@dataclass
class StepResult:
    """What one frame of the S2MAT loop produced. Boxes and velocities are in the world frame."""

    index: int
    timestamp: float
    pose: np.ndarray  # 4x4 world_T_sensor
    labels: np.ndarray  # (N,) uint8 PointLabel, aligned with the frame's input points
    tracks: list[Track]  # reported tracks (confirmed road users)
    detections: list[Detection]
    timing: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    annotations: list[dict] = field(default_factory=list)  # commonsense annotations made this frame

    @property
    def dynamic_mask(self) -> np.ndarray:
        return self.labels == PointLabel.DYNAMIC
