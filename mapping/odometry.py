"""LiDAR odometry: scan-to-local-map registration on static points.

Per frame: clean the scan, deskew it with the constant-velocity model, predict the pose,
register the downsampled static points against the local Gaussian voxel map (VGICP,
small_gicp) with an adaptive correspondence threshold, and keep the correction statistics. The caller then decides which
points are static and calls :meth:`Odometry.update_map`; only those enter the local map.
Poses are 4x4 ``world_T_sensor``; the world frame is the first sensor pose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import small_gicp
from scipy.spatial.transform import Rotation

from mapping.adaptive_threshold import AdaptiveThreshold
from mapping.config import OdometryConfig
from mapping.errors import ScanError
from mapping.local_map import LocalMap
from mapping.parallel import resolve_threads
from mapping.preprocess import check_scan, deskew, valid_mask
from mapping.scan_voxels import ScanVoxels

log = logging.getLogger(__name__)


@dataclass
class RegisteredScan:
    """The last scan as odometry saw it.

    ``points`` are the deskewed sensor-frame points (N, 3) float64 aligned with the input
    (invalid ones are NaN), ``valid`` marks finite in-range points, ``voxels`` groups the valid
    points (same values) for downsampling, ``pose`` is ``world_T_sensor`` and ``registered``
    says whether registration ran (False for the first frame, a reset, or a fallback to the
    motion guess).
    """

    points: np.ndarray
    valid: np.ndarray
    voxels: ScanVoxels
    pose: np.ndarray
    timestamp: float
    registered: bool


class Odometry:
    """Scan-to-local-map odometry whose local map only holds points the caller marks static."""

    def __init__(self, config: OdometryConfig | None = None, max_range: float = 100.0) -> None:
        self.config = config or OdometryConfig()
        self.max_range = float(max_range)
        self.voxel_size = self.config.voxel_size or self.max_range / 100.0
        self.threads = resolve_threads(self.config.num_threads)
        # Each point's covariance comes from its own neighbours: the same on any number of
        # threads, so the machine's cores estimate them whatever ``num_threads`` says.
        self.covariance_threads = resolve_threads(None)
        self.local_map = LocalMap(self.voxel_size, self.config.local_map_horizon)
        self.threshold = AdaptiveThreshold(self.config.initial_threshold, self.config.min_motion_th,
                                           self.max_range)
        self.poses: list[np.ndarray] = []
        self.last_scan: RegisteredScan | None = None
        self._pose = np.eye(4)
        self._delta = np.eye(4)  # previous_T_current over the last frame
        self._period = 0.0
        self._timestamp: float | None = None
        self._frames_since_insert = 0

    @property
    def pose(self) -> np.ndarray:
        """Latest 4x4 world_T_sensor."""
        return self._pose.copy()

    def reset(self) -> None:
        """Forget map, motion and poses; the next frame starts a new world frame."""
        self.local_map.clear()
        self.threshold.reset()
        self._pose = np.eye(4)
        self._delta = np.eye(4)
        self._period = 0.0
        self._timestamp = None
        self.last_scan = None

    def predict(self, timestamp: float) -> np.ndarray:
        """Constant-velocity guess of world_T_sensor at ``timestamp`` (the last pose if no
        motion is known yet)."""
        if self._timestamp is None or self._period <= 0 or timestamp <= self._timestamp:
            return self.pose
        return self._pose @ _scale_motion(self._delta, (timestamp - self._timestamp) / self._period)

    def scan_voxels(self, points: np.ndarray) -> ScanVoxels:
        """The grouping of a scan's valid points into registration voxels: the part of
        :meth:`register` that needs no static mask, so a caller can run it ahead (for example
        while the mask is being decided) and pass it to :meth:`register` as ``voxels``. It
        holds a copy of the points (the local-map update reads them after registration)."""
        pts = np.array(check_scan(points, None, None), dtype=np.float64)
        return ScanVoxels(pts, valid_mask(pts, self.config.min_range, self.max_range), 0.5 * self.voxel_size)

    def register(self, points: np.ndarray, static_mask: np.ndarray | None = None,
                 times: np.ndarray | None = None, timestamp: float = 0.0,
                 voxels: ScanVoxels | None = None) -> np.ndarray:
        """Estimate the pose of one scan.

        ``points`` (N, 3) sensor frame, metres; ``static_mask`` (N,) marks points allowed to
        drive registration (None: all); ``times`` (N,) seconds relative to ``timestamp``;
        ``voxels``: :meth:`scan_voxels` of the same ``points`` if already computed (not used
        when the scan is deskewed: deskewing moves the points). Returns 4x4 world_T_sensor.
        An empty or all-invalid scan is skipped (the previous pose is returned and logged); a
        timestamp that goes backwards resets odometry; a gap longer than ``max_time_gap``
        drops the velocity guess.
        """
        pts = check_scan(points, static_mask, times)
        if voxels is not None and voxels.points.shape != pts.shape:
            raise ScanError(f"voxels group {len(voxels.points)} points, the scan has {len(pts)}")
        timestamp = float(timestamp)
        if self._timestamp is not None:
            dt = timestamp - self._timestamp
            if dt <= 0:
                log.warning("odometry: timestamp %.6f s is not after the previous %.6f s; "
                            "resetting odometry (new world frame)", timestamp, self._timestamp)
                self.reset()
            elif dt > self.config.max_time_gap:
                log.warning("odometry: %.3f s gap before timestamp %.6f s exceeds max_time_gap "
                            "%.3f s; dropping the constant-velocity guess", dt, timestamp,
                            self.config.max_time_gap)
                self._delta = np.eye(4)
                self._period = dt

        valid = valid_mask(pts, self.config.min_range, self.max_range)
        n_valid = int(valid.sum())
        if n_valid < self.config.min_points:
            log.warning("odometry: scan at %.6f s has %d valid points of %d (min_points %d); "
                        "skipped", timestamp, n_valid, len(pts), self.config.min_points)
            self.last_scan = None
            return self.pose

        dt = 0.0 if self._timestamp is None else timestamp - self._timestamp
        # Motion guess: the last frame's motion, scaled to this frame's time step.
        delta = _scale_motion(self._delta, dt / self._period) if self._period > 0 and dt > 0 else np.eye(4)
        if times is not None and self.config.deskew and dt > 0:
            scan = np.full_like(pts, np.nan)
            t = np.asarray(times, dtype=np.float64).reshape(-1)
            scan[valid] = deskew(pts[valid], t[valid], delta, dt)
            voxels = None
        elif n_valid == len(pts):
            scan = pts if pts is not points else pts.copy()  # the scan is kept: never the caller's array
        else:
            scan = np.full_like(pts, np.nan)
            scan[valid] = pts[valid]

        guess = self._pose @ delta
        use = valid if static_mask is None else valid & np.asarray(static_mask, bool).reshape(-1)
        if voxels is None:  # (otherwise the same voxels: the scan's valid points are the input's)
            voxels = ScanVoxels(scan, valid, 0.5 * self.voxel_size)
        registered = False
        new_pose = guess
        if self.local_map.empty:
            new_pose = guess if self.poses else np.eye(4)
        elif use.sum() < self.config.min_points:
            log.warning("odometry: only %d static points at %.6f s; using the motion guess",
                        int(use.sum()), timestamp)
        else:
            new_pose, registered = self._align(voxels, use, guess)

        if registered:
            self.threshold.update(np.linalg.inv(guess) @ new_pose)
        if self._timestamp is not None and dt > 0:
            self._delta = np.linalg.inv(self._pose) @ new_pose
            self._period = dt
        self._pose = new_pose
        self._timestamp = timestamp
        self.poses.append(new_pose.copy())
        self.last_scan = RegisteredScan(scan, valid, voxels, new_pose.copy(), timestamp, registered)
        return self.pose

    def update_map(self, static_mask: np.ndarray | None = None) -> None:
        """Insert the static points of the last registered scan into the local map.

        ``static_mask`` (N,) is aligned with the points given to :meth:`register` (None: all
        valid points are static).
        """
        scan = self.last_scan
        if scan is None:
            return
        keep = scan.valid.copy()
        if static_mask is not None:
            mask = np.asarray(static_mask, dtype=bool).reshape(-1)
            if len(mask) != len(keep):
                raise ScanError(f"static_mask has {len(mask)} values for {len(keep)} points")
            keep &= mask
        self._frames_since_insert += 1
        if not self.local_map.empty and self._frames_since_insert < self.config.map_update_every:
            return
        self._frames_since_insert = 0
        cloud = self._cloud(scan.voxels, ~keep)
        if cloud.size():
            self.local_map.insert(cloud, scan.pose)

    def step(self, points: np.ndarray, static_mask: np.ndarray | None = None,
             times: np.ndarray | None = None, timestamp: float = 0.0) -> np.ndarray:
        """Register a scan and insert its static points: :meth:`register` then :meth:`update_map`."""
        pose = self.register(points, static_mask, times, timestamp)
        self.update_map(static_mask)
        return pose

    def _cloud(self, voxels: ScanVoxels, leave_out: np.ndarray) -> small_gicp.PointCloud:
        """Downsampled cloud (voxels of half the local map's) with covariances of the scan's valid
        points not in ``leave_out``."""
        cloud = small_gicp.PointCloud(voxels.centroids(leave_out))
        if cloud.size():
            tree = small_gicp.KdTree(cloud, num_threads=self.covariance_threads)
            small_gicp.estimate_covariances(cloud, tree, num_neighbors=10, num_threads=self.covariance_threads)
        return cloud

    def _align(self, voxels: ScanVoxels, mask: np.ndarray, guess: np.ndarray) -> tuple[np.ndarray, bool]:
        cfg = self.config
        source = self._cloud(voxels, ~mask)
        sigma = self.threshold.sigma
        result = small_gicp.align(self.local_map.voxels, source, init_T_target_source=guess,
                                  max_correspondence_distance=3.0 * sigma,
                                  num_threads=self.threads, max_iterations=cfg.max_iterations)
        if result.num_inliers < min(cfg.min_points, source.size() // 4):
            log.warning("odometry: registration found %d correspondences of %d points; using the "
                        "motion guess", result.num_inliers, source.size())
            return guess, False
        return np.asarray(result.T_target_source), True


def _scale_motion(delta: np.ndarray, factor: float) -> np.ndarray:
    """The motion ``delta`` (4x4) scaled in time by ``factor`` (constant velocity)."""
    if abs(factor - 1.0) < 1e-9:
        return delta.copy()
    out = np.eye(4)
    out[:3, :3] = Rotation.from_rotvec(Rotation.from_matrix(delta[:3, :3]).as_rotvec() * factor).as_matrix()
    out[:3, 3] = delta[:3, 3] * factor
    return out
