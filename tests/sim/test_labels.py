"""Labels agree with geometry: moving points lie in their object's box at their own time, nothing
static is labelled moving, and the ids follow SemanticKITTI."""

from __future__ import annotations

import numpy as np
import pytest

from s2mat.sim import SCENARIOS, simulate
from s2mat.sim import materials as mat


def _world_points(seq, frame):
    """Each point moved into the world with the true sensor pose at its own firing time."""
    times, inverse = np.unique(frame.times, return_inverse=True)
    poses = seq.sensor_pose_at(frame.timestamp + times.astype(np.float64))
    rot, trans = poses[inverse, :3, :3], poses[inverse, :3, 3]
    return np.einsum("nij,nj->ni", rot, frame.points.astype(np.float64)) + trans


def _check_frame(seq, frame) -> tuple[int, int]:
    gt = frame.ground_truth
    world = _world_points(seq, frame)
    agent_ids = {a.instance_id for a in seq.world.agents}
    # Every point of an agent (moving or not) lies in that agent's box at the point's time.
    for inst in np.unique(gt.instance[gt.instance > 0]):
        sel = np.flatnonzero(gt.instance == inst)
        for t in np.unique(frame.times[sel]):
            at_t = sel[frame.times[sel] == t]
            box = seq.object_box_at(int(inst), frame.timestamp + float(t))
            inside = box.box.contains(world[at_t], margin=0.12)  # range noise is 2-3 cm (1 sigma)
            assert inside.all(), f"{(~inside).sum()} points of object {inst} outside its box at t={t}"
            # The moving flag is the object's own motion at that time.
            assert (gt.moving[at_t] == box.moving).all()
        if int(inst) not in agent_ids:  # parked cars are static geometry
            assert not gt.moving[sel].any()
    # Stuff (road, buildings, vegetation, ...) is never moving and moving ids match the flag.
    assert not gt.moving[gt.instance == 0].any()
    assert np.array_equal(gt.moving, gt.semantic >= 252)
    assert set(np.unique(gt.semantic[gt.moving])) <= {mat.MOVING_CAR, mat.MOVING_PERSON, mat.MOVING_BICYCLIST}
    return int(gt.moving.sum()), len(frame)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_moving_points_lie_in_their_boxes_and_static_points_are_never_moving(scenario):
    seq = simulate(scenario, sensor="os1-64", frames=12, seed=5, columns=256, camera=False)
    moving = total = 0
    for index in (0, 6, 11):
        m, n = _check_frame(seq, seq[index])
        moving, total = moving + m, total + n
    assert moving > 0, f"{scenario}: no moving points at all"


def test_labels_hold_without_motion_distortion():
    seq = simulate("street", sensor="vlp16", frames=3, seed=2, columns=512, camera=False, motion_distortion=False)
    frame = seq[2]
    assert np.all(frame.times == 0)
    _check_frame(seq, frame)


def test_semantic_classes_of_a_street_are_the_semantickitti_ones(street):
    classes = set(np.unique(street[4].ground_truth.semantic))
    for expected in (mat.ROAD, mat.SIDEWALK, mat.BUILDING, mat.VEGETATION, mat.TRUNK, mat.CAR, mat.LANE_MARKING):
        assert expected in classes


def test_points_are_in_the_sensor_frame_and_times_span_one_sweep(street):
    frame = street[3]
    rng = np.linalg.norm(frame.points, axis=1)
    assert rng.min() >= street.preset.min_range - 0.1 and rng.max() <= street.preset.max_range + 0.1
    # The road is about one mounting height below the sensor.
    road = frame.points[frame.ground_truth.semantic == mat.ROAD]
    assert abs(np.median(road[:, 2]) + street.preset.mounting_height) < 0.1
    assert 0.0 <= frame.times.min() and frame.times.max() < street.period
    assert frame.times.max() > 0.9 * street.period


def test_boxes_are_world_frame_and_match_the_first_pose(street):
    poses = street.gt_poses()
    assert np.allclose(poses[0], np.eye(4))
    frame = street[5]
    assert np.allclose(frame.ground_truth.pose, poses[5])
    moving = [b for b in frame.ground_truth.boxes if b.moving]
    assert moving and all(np.linalg.norm(b.velocity) > 0.1 for b in moving)
    # A box's velocity is its centre's displacement over time.
    box = moving[0]
    later = street.object_box_at(box.instance_id, frame.timestamp + 0.1)
    assert np.allclose((later.box.center - box.box.center) / 0.1, box.velocity, atol=0.3)
