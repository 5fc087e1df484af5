"""Object-level types shared by detection and tracking.

All boxes live in one Cartesian frame chosen by the caller (the world frame inside the
pipeline, the camera frame for KITTI detections). Units are metres, radians and seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class ObjectClass(str, Enum):
    """Coarse object classes used by detection, tracking and annotation."""

    CAR = "car"
    PEDESTRIAN = "pedestrian"
    CYCLIST = "cyclist"
    OTHER = "other"


class TrackState(str, Enum):
    """Track lifecycle: tentative until confirmed by hits, coasting while unmatched."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    COASTING = "coasting"
    DELETED = "deleted"


@dataclass(frozen=True)
class Box3D:
    """An upright box: centre (x, y, z) of the box volume, size (length, width, height), yaw about +z."""

    center: np.ndarray
    size: np.ndarray
    yaw: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", np.asarray(self.center, dtype=np.float64).reshape(3))
        object.__setattr__(self, "size", np.asarray(self.size, dtype=np.float64).reshape(3))
        object.__setattr__(self, "yaw", float(self.yaw))

    def corners_xy(self) -> np.ndarray:
        """The four ground-plane corners, (4, 2), counter-clockwise."""
        half_l, half_w = self.size[0] / 2.0, self.size[1] / 2.0
        local = np.array([[half_l, half_w], [-half_l, half_w], [-half_l, -half_w], [half_l, -half_w]])
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return local @ np.array([[c, s], [-s, c]]) + self.center[:2]

    def contains(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Boolean mask of the (N, 3) points inside the box grown by ``margin`` metres."""
        d = np.asarray(points, dtype=np.float64) - self.center
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        local_x = c * d[:, 0] + s * d[:, 1]
        local_y = -s * d[:, 0] + c * d[:, 1]
        half = self.size / 2.0 + margin
        return (np.abs(local_x) <= half[0]) & (np.abs(local_y) <= half[1]) & (np.abs(d[:, 2]) <= half[2])


def box_arrays(boxes: list[Box3D]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The boxes as :func:`boxes_contain` takes them: centres (B, 3), cosines and sines of
    their yaws (B,) and sizes (B, 3), float64. Each cosine and sine is taken of its own yaw,
    as :meth:`Box3D.contains` takes it."""
    return (np.array([b.center for b in boxes], dtype=np.float64).reshape(-1, 3),
            np.array([np.cos(b.yaw) for b in boxes], dtype=np.float64),
            np.array([np.sin(b.yaw) for b in boxes], dtype=np.float64),
            np.array([b.size for b in boxes], dtype=np.float64).reshape(-1, 3))


def boxes_contain(boxes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], points: np.ndarray, margin: float,
                  which: np.ndarray | None = None, rows: np.ndarray | None = None) -> np.ndarray:
    """:meth:`Box3D.contains` of many boxes (as :func:`box_arrays` gives them) at once, with
    the same arithmetic per point. With ``which`` (M,), whether each of the (M, 3) ``points``
    (or the ``rows`` (M,) of them) lies in box ``which[i]`` grown by ``margin``; without, the
    (B, M) table of every box against every point of the (1, M, 3) ``points``."""
    centre, c, s, size = boxes
    half = size / 2.0 + margin
    if which is None:
        d = points - centre[:, None, :]
        c, s, half = c[:, None], s[:, None], half[:, None, :]
        local_x = c * d[..., 0] + s * d[..., 1]
        local_y = -s * d[..., 0] + c * d[..., 1]
        return (np.abs(local_x) <= half[..., 0]) & (np.abs(local_y) <= half[..., 1]) & (np.abs(d[..., 2]) <= half[..., 2])
    # Point by point, a column at a time (no (M, 3) temporaries: a scan's points in the boxes
    # of its moving tracks take this every frame).
    points = np.asarray(points)
    dx, dy, dz = (np.subtract(points[:, a] if rows is None else points[:, a].take(rows), centre[:, a].take(which),
                              dtype=np.float64) for a in range(3))
    c, s = c.take(which), s.take(which)
    local_x = c * dx
    local_x += s * dy
    local_y = c * dy
    local_y -= s * dx  # -s dx + c dy, the same rounding
    inside = np.abs(local_x) <= half[:, 0].take(which)
    inside &= np.abs(local_y) <= half[:, 1].take(which)
    inside &= np.abs(dz) <= half[:, 2].take(which)
    return inside


@dataclass
class Detection:
    """One detected object in one frame."""

    box: Box3D
    score: float = 1.0
    object_class: ObjectClass = ObjectClass.OTHER
    point_indices: np.ndarray | None = None  # indices into the frame's points, when from LiDAR
    dynamic_candidate: bool = False  # occupies space the static map has seen free
    seen_box: Box3D | None = None  # box of the part the sensor saw, when ``box``'s footprint was grown from it


@dataclass
class Track:
    """The tracker's public view of one object."""

    track_id: int
    object_class: ObjectClass
    box: Box3D
    velocity: np.ndarray  # (3,) metres per second in the tracking frame
    moving: bool
    state: TrackState
    covariance: np.ndarray = field(default_factory=lambda: np.eye(2))  # position covariance (x, y)
    score: float = 1.0
    age: int = 0  # frames since birth
    hits: int = 0  # frames with an associated detection
    point_indices: np.ndarray | None = None  # indices into the current frame's points, if matched

    @property
    def speed(self) -> float:
        return float(np.linalg.norm(self.velocity[:2]))
