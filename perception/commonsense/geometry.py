"""The geometry token: what LiDAR tracking knows about an object, as a small feature vector.

Fields, in order (``GEOMETRY_FIELDS``): box length, width and height in metres, ground
speed in m/s, and heading change (absolute yaw rate) in rad/s. The token lets the
annotator tell a parked car from a moving one, which a single image often cannot.
"""

from __future__ import annotations

import numpy as np

GEOMETRY_FIELDS: tuple[str, ...] = ("length", "width", "height", "speed", "heading_change")
GEOMETRY_DIM = len(GEOMETRY_FIELDS)


def geometry_vector(length: float, width: float, height: float, speed: float, heading_change: float = 0.0) -> np.ndarray:
    """One (5,) float32 geometry token from box size (m), speed (m/s) and yaw rate (rad/s)."""
    return np.array([length, width, height, speed, abs(heading_change)], dtype=np.float32)


def geometry_from_track(size: np.ndarray, velocity: np.ndarray, yaw_rate: float = 0.0) -> np.ndarray:
    """Geometry token of a tracked box: ``size`` (l, w, h) m, ``velocity`` (3,) m/s, yaw rate rad/s."""
    size = np.asarray(size, dtype=np.float64).reshape(3)
    speed = float(np.linalg.norm(np.asarray(velocity, dtype=np.float64)[:2]))
    return geometry_vector(size[0], size[1], size[2], speed, yaw_rate)


def normalise_geometry(geometry: np.ndarray) -> np.ndarray:
    """(K, 5) raw tokens -> (K, 5) network inputs: log-compressed sizes and speed, clipped yaw rate."""
    g = np.asarray(geometry, dtype=np.float32)
    if g.ndim != 2 or g.shape[1] != GEOMETRY_DIM:
        raise ValueError(f"geometry must have shape (K, {GEOMETRY_DIM}) with fields {GEOMETRY_FIELDS}, got {g.shape}")
    g = np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0)
    out = np.empty_like(g)
    out[:, :3] = np.log1p(np.clip(g[:, :3], 0.0, 50.0))
    out[:, 3] = np.log1p(np.clip(g[:, 3], 0.0, 60.0))
    out[:, 4] = np.clip(np.abs(g[:, 4]), 0.0, 3.0)
    return out
