"""Local map for registration: Gaussian voxels of static structure near the sensor."""

from __future__ import annotations

import small_gicp


class LocalMap:
    """World-frame Gaussian voxel map (mean and covariance per voxel, small_gicp) that the
    scan is registered against (VGICP). Only points the caller marks static are inserted.
    Voxels not touched for ``horizon`` insertions are dropped, which bounds the map to the
    sensor's surroundings.
    """

    def __init__(self, voxel_size: float, horizon: int = 100) -> None:
        self.voxel_size = float(voxel_size)
        self.horizon = int(horizon)
        self.clear()

    def __len__(self) -> int:
        return self.voxels.size()

    @property
    def empty(self) -> bool:
        """True when the map holds no voxels."""
        return self.voxels.size() == 0

    def clear(self) -> None:
        """Remove every voxel."""
        self.voxels = small_gicp.GaussianVoxelMap(self.voxel_size)
        self.voxels.set_lru(horizon=self.horizon, clear_cycle=10)

    def insert(self, cloud: small_gicp.PointCloud, world_T_sensor) -> None:
        """Add a sensor-frame cloud with covariances (from ``small_gicp.preprocess_points``)."""
        self.voxels.insert(cloud, world_T_sensor)
