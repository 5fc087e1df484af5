"""Spherical range image of one scan, used to decide which space the scan saw as free.

A beam that returns at range ``r`` saw every point on its way up to ``r`` as empty. Rather
than walking each of ~10^5 rays through the voxel grid, the test is turned around: a map
voxel is *seen through* when the scan's nearest return in the voxel's direction (over a small
pixel window, so beams just beside it also count) lies clearly behind it. That is one
projection per voxel, vectorised, and it is conservative at grazing angles: the window's
lowest beam on the road ends before a road voxel, so the road is not carved.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter

from mapping.geometry import norms


class RangeImage:
    """Nearest return per angular bin (sensor frame) of one scan.

    ``az_res``/``el_res`` are bin sizes in radians; ``window`` is the half width in pixels of
    the neighbourhood whose nearest return must lie behind a tested point. Pixels without a
    return never testify that space is free.
    """

    def __init__(self, points_sensor: np.ndarray, az_res: float, el_res: float, window: int) -> None:
        self.az_res = float(az_res)
        self.el_res = float(el_res)
        self.cols = int(np.ceil(2 * np.pi / self.az_res))
        pts = np.asarray(points_sensor, dtype=np.float64)
        row, col, rng = self._project(pts)
        if len(pts) == 0:
            self.row0 = 0
            self.nearest = np.zeros((0, self.cols), dtype=np.float32)
            return
        self.row0 = int(row.min())
        rows = int(row.max()) - self.row0 + 1
        img = np.full((rows, self.cols), np.inf, dtype=np.float32)
        np.minimum.at(img, (row - self.row0, col), rng.astype(np.float32))
        size = 2 * int(window) + 1
        nearest = minimum_filter(img, size=(size, size), mode=("nearest", "wrap"))
        nearest[np.isinf(img)] = 0.0
        self.nearest = nearest

    def _project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = norms(pts)
        az = np.arctan2(pts[:, 1], pts[:, 0])
        el = np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1]))
        col = (np.floor((az + np.pi) / self.az_res).astype(np.int64)) % self.cols
        row = np.floor((el + np.pi / 2) / self.el_res).astype(np.int64)
        return row, col, rng

    def seen_through(self, points_sensor: np.ndarray, margin: float, margin_ratio: float) -> np.ndarray:
        """(N,) bool: the scan's returns around each point lie more than
        ``margin + margin_ratio * range`` metres behind it (points in the sensor frame)."""
        pts = np.asarray(points_sensor, dtype=np.float64)
        if len(pts) == 0 or self.nearest.shape[0] == 0:
            return np.zeros(len(pts), dtype=bool)
        row, col, rng = self._project(pts)
        r = row - self.row0
        inside = (r >= 0) & (r < self.nearest.shape[0])
        behind = np.zeros(len(pts), dtype=np.float32)
        behind[inside] = self.nearest[r[inside], col[inside]]
        return inside & (behind > rng * (1.0 + margin_ratio) + margin)
