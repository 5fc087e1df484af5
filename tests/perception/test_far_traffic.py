"""Far traffic by height: simulated street scans, checked against the simulator's semantic labels."""

from __future__ import annotations

import numpy as np
import pytest

from perception.far_traffic import far_points, low_far_objects
from perception.ground import fit_ground
from s2mat.config import preset
from s2mat.sim import simulate
from s2mat.sim.materials import BUILDING, MOVING_CAR, POLE, TRUNK, VEGETATION
from tests.sensor_tilt import seen_through, tilted

ANCHORS = (BUILDING, VEGETATION, TRUNK, POLE)  # the far structure registration holds on to


@pytest.fixture(scope="module")
def street_scans():
    """(finite points, semantic ids) of simulated street scans."""
    scans = []
    for frame in simulate("street", sensor="hdl64", frames=30, seed=3, columns=1024, camera=False):
        keep = np.isfinite(frame.points).all(axis=1)
        scans.append((frame.points[keep], frame.ground_truth.semantic[keep]))
    return scans


def _far_scans(scans, pitch_deg=0.0):
    """(points, ground model, far non-ground indices, semantic ids) of ``scans`` as a sensor
    pitched by ``pitch_deg`` degrees sees them."""
    config = preset("hdl64")
    rotation = tilted(pitch_deg)
    out = []
    for points, semantic in scans:
        points = seen_through(points, rotation)
        ground = fit_ground(points, config.ground)
        out.append((points, ground, far_points(points, ground.mask, config.detection.far_free_range), semantic))
    return out


@pytest.fixture(scope="module")
def far_scans(street_scans):
    return _far_scans(street_scans)


def _above(points, ground, far):
    """Height of the ``far`` points above the ground model's planes."""
    return points[far, 2] - ground.height_at(points[far, :2])


def _shares(scans, height):
    """Shares of the far moving cars' points and of the far anchors' points in low objects."""
    clustering = preset("hdl64").clustering
    counts = np.zeros(4, dtype=np.int64)  # cars, cars taken, anchors, anchors taken
    for points, ground, far, semantic in scans:
        low = np.zeros(len(points), dtype=bool)
        taken = low_far_objects(points, far, _above(points, ground, far), clustering, height)
        assert np.isin(taken, far).all()
        low[taken] = True
        cars = far[semantic[far] == MOVING_CAR]
        anchors = far[np.isin(semantic[far], ANCHORS)]
        counts += [len(cars), low[cars].sum(), len(anchors), low[anchors].sum()]
    print(f"far moving cars: {counts[1]} of {counts[0]} points taken; anchors: {counts[3]} of {counts[2]}")
    return counts[1] / counts[0], counts[3] / counts[2], counts


def test_far_cars_are_low_objects_and_structure_is_not(far_scans):
    cars, anchors, counts = _shares(far_scans, preset("hdl64").detection.far_object_height)
    assert counts[0] > 500 and counts[2] > 5000
    assert cars >= 0.9
    assert anchors <= 0.1


@pytest.mark.parametrize("pitch_deg", [-2.0, 2.0])
def test_a_pitched_sensor_still_tells_far_cars_from_structure(street_scans, pitch_deg):
    """At 60 m a pitch of 2 degrees moves the road 2 m up or down in the sensor frame: the far
    ground must follow the sensor's tilt measured on the near ground, and the canopy cut must
    stand on that ground, or far cars look tall and far structure low. The level scans' bounds
    hold."""
    cars, anchors, _ = _shares(_far_scans(street_scans[::3], pitch_deg), preset("hdl64").detection.far_object_height)
    assert cars >= 0.9
    assert anchors <= 0.1


def test_a_taller_limit_takes_more_and_zero_takes_nothing(far_scans):
    height = preset("hdl64").detection.far_object_height
    cars, anchors, _ = _shares(far_scans, height)
    _, more_anchors, _ = _shares(far_scans, height + 2.0)
    assert more_anchors > anchors
    points, ground, far, _ = far_scans[0]
    clustering = preset("hdl64").clustering
    assert len(low_far_objects(points, far, _above(points, ground, far), clustering, 0.0)) == 0
    assert len(low_far_objects(points, far[:0], _above(points, ground, far[:0]), clustering, height)) == 0
    unknown = low_far_objects(points, far, np.full(len(far), np.nan), clustering, height)
    assert len(unknown) == 0  # without a ground height nothing is called low
    # A stray return hundreds of kilometres away neither joins a group nor blows up the grid.
    stray = np.vstack([points, [[1.0e6, -3.0e5, -1.0]]]).astype(points.dtype)
    with_stray = low_far_objects(stray, np.append(far, len(points)), np.append(_above(points, ground, far), 0.5),
                                 clustering, height)
    assert np.array_equal(with_stray, low_far_objects(points, far, _above(points, ground, far), clustering, height))


def test_far_points_are_the_non_ground_points_beyond_the_reach(far_scans):
    points, ground, far, _ = far_scans[0]
    reach = np.hypot(points[:, 0].astype(np.float64), points[:, 1].astype(np.float64))
    clear = np.abs(reach - 40.0) > 1e-3  # (float32 rounding at the edge itself)
    expected = np.flatnonzero(~ground.mask & (reach >= 40.0))
    assert np.array_equal(np.intersect1d(far, np.flatnonzero(clear)), np.intersect1d(expected, np.flatnonzero(clear)))
    assert len(far) > 1000
    assert len(far_points(points, ground.mask.astype(np.uint8), 40.0)) == len(far)  # a 0/1 mask is a mask
    assert len(far_points(points, ground.mask, 0.0)) == 0
