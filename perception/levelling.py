"""The perception frame: the sensor frame turned so that the near ground is level.

Clustering and detection read heights in their own frame: the cut above the road that keeps
canopies out of clusters (``clustering.max_z``), the heights of boxes and the ground under
them. A sensor pitched or rolled on its mount, or by a braking car, tilts all of them: at 2
degrees the road 30 m ahead is a metre higher or lower than for a level sensor. The ground
fit measures the tilt on the ground within ``TILT_RADIUS`` (:attr:`GroundModel.tilt`);
perception works in the frame turned by it, as the scans of a level sensor would be.

The tilt comes from the frame before (one ground fit per frame): each frame's fit, in the frame
turned by the tilt known so far, measures what is left, and the estimate follows it with
``SMOOTHING`` per frame (the first measurement is taken whole). The frame is turned once the
estimate reaches ``LEVEL_FROM`` degrees (a level sensor's near ground leans by a few tenths of
a degree where a sidewalk stands higher on one side, and its scans are used as they are), and
stays turned until the estimate falls below ``LEVEL_UNTIL``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

SMOOTHING = 0.3  # share of each frame's measured ground normal in the estimate
LEVEL_FROM = 0.5  # degrees of tilt from which the frame is turned
LEVEL_UNTIL = 0.3  # degrees below which a turned frame goes back to the sensor's


def lean_deg(normal: np.ndarray) -> float:
    """Degrees between the unit vector ``normal`` and +z."""
    return float(np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))))


def _rotation_to_up(normal: np.ndarray) -> np.ndarray:
    """The 3x3 rotation that turns the unit vector ``normal`` onto +z about the axis normal x z."""
    axis = np.cross(normal, [0.0, 0.0, 1.0])
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, float(normal[2]))).as_matrix()


class Levelling:
    """The rotation from the sensor frame to the perception frame, updated frame by frame."""

    def __init__(self) -> None:
        self.normal = np.array([0.0, 0.0, 1.0])  # the near ground's normal, sensor frame
        self.rotation = np.eye(3)  # perception_R_sensor
        self.turned = False
        self.measured = False  # a tilt was measured since the start (or the last reset)

    @property
    def lean(self) -> float:
        """Degrees the estimated near ground leans in the sensor frame."""
        return lean_deg(self.normal)

    def to_perception(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) sensor-frame points in the perception frame (same dtype)."""
        if not self.turned:
            return points
        return points @ self.rotation.T.astype(points.dtype)

    def world_from_perception(self, world_T_sensor: np.ndarray) -> np.ndarray:
        """world_T_perception of a 4x4 world_T_sensor."""
        if not self.turned:
            return world_T_sensor
        sensor_T_perception = np.eye(4)
        sensor_T_perception[:3, :3] = self.rotation.T
        return world_T_sensor @ sensor_T_perception

    def update(self, tilt: tuple[float, float]) -> None:
        """Take the grades ``tilt`` (dz/dx, dz/dy) of the near ground measured in the current
        perception frame; (0, 0) where the fit could not measure them, or grades that are not
        finite, change nothing."""
        if tilt == (0.0, 0.0) or not np.all(np.isfinite(tilt)):
            return
        measured = np.array([-tilt[0], -tilt[1], 1.0])
        measured = self.rotation.T @ (measured / np.linalg.norm(measured))  # in the sensor frame
        # The first measurement is taken whole: smoothing from level would leave a sensor
        # mounted 8 degrees down 5.6 degrees off after one frame and 1.4 after five.
        normal = measured if not self.measured else (1.0 - SMOOTHING) * self.normal + SMOOTHING * measured
        self.measured = True
        self.normal = normal / np.linalg.norm(normal)
        self.turned = self.lean >= (LEVEL_UNTIL if self.turned else LEVEL_FROM)
        self.rotation = _rotation_to_up(self.normal) if self.turned else np.eye(3)
