"""The perception frame follows the near ground's tilt: simulated street scans turned as a
pitched and rolled sensor would see them."""

from __future__ import annotations

import numpy as np
import pytest

from perception.ground import fit_ground
from perception.levelling import LEVEL_FROM, Levelling, lean_deg
from s2mat.config import preset
from s2mat.sim import simulate
from tests.sensor_tilt import seen_through, tilted


@pytest.fixture(scope="module")
def scans():
    return [f.points[np.isfinite(f.points).all(axis=1)]
            for f in simulate("street", sensor="hdl64", frames=12, seed=1, columns=1024, camera=False)]


def follow(scans, rotation):
    """A Levelling fed the ground fits of ``scans`` seen through ``rotation``, as the loop feeds it."""
    config = preset("hdl64").ground
    levelling = Levelling()
    for points in scans:
        levelling.update(fit_ground(levelling.to_perception(seen_through(points, rotation)), config).tilt)
    return levelling


@pytest.mark.parametrize(("pitch", "roll"), [(2.0, 0.0), (-2.0, 1.0), (0.0, -3.0), (-8.0, 0.0)])
def test_a_tilted_sensor_is_levelled(scans, pitch, roll):
    rotation = tilted(pitch, roll)
    levelling = follow(scans, rotation)
    up = levelling.rotation @ rotation @ np.array([0.0, 0.0, 1.0])  # the road's normal, perception frame
    error = lean_deg(up)
    print(f"pitch {pitch:+.0f}, roll {roll:+.0f} degrees: perception frame off level by {error:.3f} degrees")
    assert levelling.turned
    assert error < 0.2


def test_the_first_measured_tilt_is_taken_whole(scans):
    """A sensor mounted 8 degrees down is level after its first frame, not after a second."""
    rotation = tilted(-8.0)
    levelling = follow(scans[:1], rotation)
    up = levelling.rotation @ rotation @ np.array([0.0, 0.0, 1.0])
    error = lean_deg(up)
    print(f"after one frame: off level by {error:.3f} degrees")
    assert levelling.turned and error < 0.3


def test_a_level_sensor_keeps_its_own_frame(scans):
    levelling = follow(scans, np.eye(3))
    lean = levelling.lean
    print(f"level sensor: near ground leans {lean:.3f} degrees")
    assert lean < LEVEL_FROM and not levelling.turned
    points = scans[0]
    assert levelling.to_perception(points) is points
    pose = np.eye(4)
    assert levelling.world_from_perception(pose) is pose


def test_perception_frame_round_trip(scans):
    """Points turned into the perception frame and placed with world_T_perception land where
    the sensor-frame points placed with world_T_sensor do."""
    levelling = follow(scans[:4], tilted(2.0, 1.0))
    world_T_sensor = np.eye(4)
    world_T_sensor[:3, 3] = [5.0, -2.0, 0.3]
    points = scans[0][:1000]
    turned = levelling.to_perception(points).astype(np.float64)
    world_T_perception = levelling.world_from_perception(world_T_sensor)
    a = turned @ world_T_perception[:3, :3].T + world_T_perception[:3, 3]
    b = points.astype(np.float64) @ world_T_sensor[:3, :3].T + world_T_sensor[:3, 3]
    assert np.abs(a - b).max() < 1e-4
