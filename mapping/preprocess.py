"""Scan preparation for odometry: drop invalid returns and correct motion distortion."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mapping.errors import ScanError
from mapping.geometry import norms


def check_scan(points: np.ndarray, mask: np.ndarray | None, times: np.ndarray | None) -> np.ndarray:
    """Validate shapes; returns the points as (N, 3) float64. Raises :class:`ScanError`."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ScanError(f"scan points must have shape (N, 3), got {pts.shape}")
    n = len(pts)
    for name, value in (("static_mask", mask), ("times", times)):
        if value is not None and np.asarray(value).reshape(-1).shape[0] != n:
            raise ScanError(f"scan {name} has {np.asarray(value).size} values for {n} points")
    return pts.astype(np.float64, copy=False)


def valid_mask(points: np.ndarray, min_range: float, max_range: float) -> np.ndarray:
    """Points (sensor frame, metres) that are finite and within [min_range, max_range]."""
    finite = np.isfinite(points).all(axis=1)
    r = norms(np.where(finite[:, None], points, 0.0))
    return finite & (r >= min_range) & (r <= max_range)


def deskew(points: np.ndarray, times: np.ndarray, delta: np.ndarray, period: float) -> np.ndarray:
    """Move each point to the sensor frame at the scan timestamp.

    ``times`` are per-point seconds relative to the timestamp, ``delta`` is the 4x4 motion of
    the sensor over the last ``period`` seconds (previous_T_current). Each point is mapped
    through the constant-velocity pose at its own time, interpolated on SE(3) per axis.
    """
    if period <= 0:
        return points
    s = (np.asarray(times, dtype=np.float64) / period)[:, None]
    rotvec = Rotation.from_matrix(delta[:3, :3]).as_rotvec()
    rot = Rotation.from_rotvec(s * rotvec[None, :])
    return rot.apply(points) + s * delta[:3, 3][None, :]
