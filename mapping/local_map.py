"""Local map for registration: world-frame points of static structure near the sensor."""

from __future__ import annotations

import numpy as np
import small_gicp

from mapping.voxel_keys import point_keys


class LocalMap:
    """A voxel hash of world-frame points, at most ``max_points_per_voxel`` per voxel, cropped
    to ``radius`` metres around the sensor. Only points the caller marks static are inserted.

    The registration target (small_gicp cloud with covariances and its k-d tree) is built
    lazily and cached until the map changes.
    """

    def __init__(self, voxel_size: float, max_points_per_voxel: int, radius: float,
                 num_threads: int = 1, target_resolution: float | None = None) -> None:
        self.voxel_size = float(voxel_size)
        self.max_points_per_voxel = int(max_points_per_voxel)
        self.radius = float(radius)
        self.num_threads = int(num_threads)
        self.target_resolution = target_resolution
        self.points = np.empty((0, 3), dtype=np.float64)
        self._target: tuple[small_gicp.PointCloud, small_gicp.KdTree] | None = None

    def __len__(self) -> int:
        return len(self.points)

    @property
    def empty(self) -> bool:
        """True when the map holds no points."""
        return len(self.points) == 0

    def clear(self) -> None:
        """Remove every point."""
        self.points = np.empty((0, 3), dtype=np.float64)
        self._target = None

    def insert(self, points_world: np.ndarray, sensor_position: np.ndarray) -> None:
        """Add (N, 3) world-frame points, keep the voxel budget, crop around the sensor."""
        merged = np.concatenate([self.points, np.asarray(points_world, dtype=np.float64)])
        if len(merged) == 0:
            return
        keys = point_keys(merged, self.voxel_size)
        order = np.argsort(keys, kind="stable")  # older points first within a voxel
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        group = np.cumsum(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) - 1
        rank = np.arange(len(order)) - starts[group]
        kept = merged[np.sort(order[rank < self.max_points_per_voxel])]
        near = np.sum((kept - sensor_position[None, :]) ** 2, axis=1) <= self.radius**2
        self.points = kept[near]
        self._target = None

    def target(self) -> tuple[small_gicp.PointCloud, small_gicp.KdTree]:
        """The registration target: cloud with per-point covariances and its k-d tree."""
        if self._target is None:
            if self.target_resolution:
                self._target = small_gicp.preprocess_points(
                    self.points, self.target_resolution, num_neighbors=10, num_threads=self.num_threads)
            else:
                cloud = small_gicp.PointCloud(self.points)
                tree = small_gicp.KdTree(cloud, num_threads=self.num_threads)
                small_gicp.estimate_covariances(cloud, tree, num_neighbors=10,
                                                num_threads=self.num_threads)
                self._target = (cloud, tree)
        return self._target
