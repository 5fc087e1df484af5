"""A tilted sensor for tests: the rotation its scans are seen through."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def tilted(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """sensor_R_level of a sensor pitched about y and rolled about x: its scan is
    ``points @ tilted(...).T``, its world_T_sensor the level one's times R^T."""
    return Rotation.from_euler("YX", [pitch_deg, roll_deg], degrees=True).as_matrix()


def seen_through(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(N, 3) ``points`` as the sensor turned by ``rotation`` (:func:`tilted`) sees them, same dtype."""
    return (points.astype(np.float64) @ rotation.T).astype(points.dtype)
