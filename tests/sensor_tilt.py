"""A tilted sensor for tests: the rotation its scans are seen through."""

from __future__ import annotations

import numpy as np


def tilted(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """sensor_R_level of a sensor pitched about y and rolled about x: its scan is
    ``points @ tilted(...).T``, its world_T_sensor the level one's times R^T."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    pitch = np.array([[np.cos(p), 0.0, np.sin(p)], [0.0, 1.0, 0.0], [-np.sin(p), 0.0, np.cos(p)]])
    roll = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(r), -np.sin(r)], [0.0, np.sin(r), np.cos(r)]])
    return pitch @ roll
