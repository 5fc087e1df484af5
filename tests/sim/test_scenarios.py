"""Each scenario stages what it promises, judged from the simulator's own ground truth."""

from __future__ import annotations

import numpy as np

from s2mat.sim import simulate
from s2mat.types import ObjectClass


def _track(seq, agent, times):
    boxes = [seq.object_box_at(agent.instance_id, t) for t in times]
    return np.array([b.box.center for b in boxes]), np.array([b.box.yaw for b in boxes]), np.array([b.moving for b in boxes])


def test_crowd_has_ten_or_more_walkers_near_the_sensor_and_they_are_seen():
    seq = simulate("crowd", sensor="os1-64", frames=10, seed=0, columns=512, camera=False)
    frame = seq[5]
    sensor = frame.ground_truth.pose[:3, 3]
    near = [b for b in frame.ground_truth.boxes if b.object_class == ObjectClass.PEDESTRIAN
            and np.linalg.norm(b.box.center[:2] - sensor[:2]) < 20.0]
    assert len(near) >= 10
    seen = set(np.unique(frame.ground_truth.instance)) & {b.instance_id for b in near}
    assert len(seen) >= 8  # some may hide behind others


def test_parked_car_drives_off_and_a_walker_stops_and_stands():
    seq = simulate("parked-departure", sensor="vlp16", frames=30, seed=0, columns=360, camera=False)
    times = np.arange(30) * seq.period
    car, walker = seq.world.agents[0], seq.world.agents[1]
    assert car.object_class == ObjectClass.CAR and walker.object_class == ObjectClass.PEDESTRIAN
    c_pos, _, c_moving = _track(seq, car, times)
    assert not c_moving[0] and c_moving[-1]
    assert np.linalg.norm(c_pos[-1] - c_pos[0]) > 1.0
    w_pos, _, w_moving = _track(seq, walker, times)
    assert w_moving[0] and not w_moving[-1]
    assert np.linalg.norm(w_pos[-1] - w_pos[-5]) < 1e-6  # standing still at the end
    # The parked car is labelled static while parked and moving once it drives.
    first, last = seq[0], seq[29]
    assert not first.ground_truth.moving[first.ground_truth.instance == car.instance_id].any()
    assert first.ground_truth.moving[first.ground_truth.instance == walker.instance_id].all()
    assert last.ground_truth.moving[last.ground_truth.instance == car.instance_id].all()
    assert not last.ground_truth.moving[last.ground_truth.instance == walker.instance_id].any()


def test_intersection_traffic_turns():
    seq = simulate("intersection", sensor="vlp16", frames=60, seed=0, columns=360, camera=False)
    times = np.linspace(0.0, 6.0, 30)
    turns = 0
    for agent in seq.world.agents:
        if agent.object_class == ObjectClass.CAR:
            _, yaw, _ = _track(seq, agent, times)
            turned = abs(np.angle(np.exp(1j * (yaw[-1] - yaw[0]))))
            turns += turned > np.pi / 3
    assert turns >= 3


def test_camera_image_shows_the_objects_the_lidar_sees(street):
    frame = street[4]
    image = frame.image.astype(int)
    assert image.shape == (frame.camera.height, frame.camera.width, 3)
    # Project moving points into the image: the pixels there are not sky.
    pts = frame.points[frame.ground_truth.moving]
    uv, inside = frame.camera.project(pts)
    assert inside.sum() > 20
    px = uv[inside].astype(int)
    sky_blue = (image[px[:, 1], px[:, 0], 2] > image[px[:, 1], px[:, 0], 0] + 30)
    assert sky_blue.mean() < 0.3
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200


def test_no_two_people_share_space_and_the_crowd_keeps_everyone():
    from s2mat.sim.scenarios import PEOPLE_APART, SCENARIOS, build

    times = np.arange(0.0, 7.0, 0.1)
    for name in SCENARIOS:
        for seed in range(4):
            people = [a for a in build(name, seed, 7.0).agents if a.object_class == ObjectClass.PEDESTRIAN]
            xy = np.stack([a.trajectory.pose(times)[0][:, :2] for a in people])
            apart = np.linalg.norm(xy[:, None] - xy[None], axis=3)[np.triu_indices(len(people), 1)]
            assert apart.min() >= PEOPLE_APART, (name, seed)
            if name == "crowd":
                assert len(people) == 19  # 12 sidewalk walkers, 3 standing, 4 crossing the road
