"""Scan preparation for odometry: drop invalid returns and correct motion distortion."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mapping.errors import ScanError
from mapping.geometry import squared_norms


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
    r2 = squared_norms(points)
    return np.isfinite(r2) & (r2 >= min_range * min_range) & (r2 <= max_range * max_range)


def deskew(points: np.ndarray, times: np.ndarray, delta: np.ndarray, period: float) -> np.ndarray:
    """Move each point to the sensor frame at the scan timestamp.

    ``times`` are per-point seconds relative to the timestamp, ``delta`` is the 4x4 motion of
    the sensor over the last ``period`` seconds (previous_T_current). Each point is mapped
    through the constant-velocity pose at its own time: the rotation ``s * rotvec`` about the
    motion's axis (Rodrigues' formula, vectorised) and the translation ``s * t``, with
    ``s = time / period``. Computed in the points' float type (float32 stays float32).
    """
    pts = np.asarray(points)
    if period <= 0:
        return pts
    dtype = pts.dtype if pts.dtype in (np.float32, np.float64) else np.float64
    pts = pts.astype(dtype, copy=False)
    s = np.asarray(times).astype(dtype, copy=False) * dtype.type(1.0 / period)
    rotvec = Rotation.from_matrix(delta[:3, :3]).as_rotvec()
    move = delta[:3, 3].astype(dtype)
    angle = float(np.linalg.norm(rotvec))
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    if angle < 1e-12:
        return pts + s[:, None] * move
    ux, uy, uz = (rotvec / angle).astype(dtype)
    theta = s * dtype.type(angle)
    cos, sin = np.cos(theta), np.sin(theta)
    along = (ux * x + uy * y + uz * z) * (1 - cos)  # (u . p)(1 - cos)
    out = np.empty_like(pts)
    out[:, 0] = x * cos + (uy * z - uz * y) * sin + ux * along + s * move[0]
    out[:, 1] = y * cos + (uz * x - ux * z) * sin + uy * along + s * move[1]
    out[:, 2] = z * cos + (ux * y - uy * x) * sin + uz * along + s * move[2]
    return out
