"""Odometry: registration accuracy on real scans, motion along a ray-cast street, bad input."""

from __future__ import annotations

import logging

import numpy as np
import open3d as o3d
import pytest
from raycast_scene import street_scans
from scipy.spatial.transform import Rotation

from mapping.config import OdometryConfig
from mapping.errors import ScanError
from mapping.odometry import Odometry


def _read_ply(path) -> np.ndarray:
    return np.asarray(o3d.io.read_point_cloud(str(path)).points, dtype=np.float32)


def test_registration_recovers_reference_transform_of_real_pair(registration_pair_dir):
    folder = registration_pair_dir
    target = _read_ply(folder / "target.ply")
    source = _read_ply(folder / "source.ply")
    reference = np.loadtxt(folder / "T_target_source.txt")
    # the pair spans a few tens of metres: a quarter-metre local map suits it
    odo = Odometry(OdometryConfig(voxel_size=0.25), max_range=100.0)
    odo.step(target, timestamp=0.0)  # the world frame is the target scan
    pose = odo.step(source, timestamp=0.1)
    error = np.linalg.inv(reference) @ pose
    assert np.linalg.norm(error[:3, 3]) < 0.05
    assert np.degrees(Rotation.from_matrix(error[:3, :3]).magnitude()) < 0.2


def test_odometry_follows_a_simulated_street_with_traffic():
    sim = pytest.importorskip("s2mat.sim", reason="the simulator is not available")
    seq = sim.simulate("street", sensor="hdl64", frames=12, seed=1, camera=False, columns=1024)
    odo = Odometry(OdometryConfig(), max_range=100.0)
    gt = []
    for frame in seq:
        odo.step(frame.points, timestamp=frame.timestamp)
        gt.append(frame.ground_truth.pose)
    est = np.asarray(odo.poses)
    gt = np.asarray(gt)
    travelled = np.linalg.norm(gt[-1, :3, 3] - gt[0, :3, 3])
    assert travelled > 5.0
    # drift below 2 % of the distance travelled, heading within half a degree
    assert np.linalg.norm(est[-1, :3, 3] - gt[-1, :3, 3]) < 0.02 * travelled
    rel = np.linalg.inv(gt[-1]) @ est[-1]
    assert np.degrees(Rotation.from_matrix(rel[:3, :3]).magnitude()) < 0.5


def test_local_map_only_receives_points_marked_static():
    scans = street_scans(frames=2)
    odo = Odometry(OdometryConfig(voxel_size=0.5), max_range=80.0)
    odo.register(scans[0].points, timestamp=0.0)
    odo.update_map(np.zeros(len(scans[0].points), dtype=bool))
    assert odo.local_map.empty
    odo.update_map(scans[0].labels == 0)
    assert not odo.local_map.empty


def test_empty_and_all_nan_scans_are_skipped_with_a_log_line(caplog):
    scans = street_scans(frames=3)
    odo = Odometry(OdometryConfig(voxel_size=0.5), max_range=80.0)
    first = odo.step(scans[0].points, timestamp=0.0)
    with caplog.at_level(logging.WARNING, logger="mapping.odometry"):
        assert np.array_equal(odo.step(np.empty((0, 3), np.float32), timestamp=0.1), first)
        nan_scan = np.full((500, 3), np.nan, dtype=np.float32)
        assert np.array_equal(odo.step(nan_scan, timestamp=0.15), first)
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 2
    assert odo.last_scan is None
    odo.update_map()  # nothing to insert after a skipped scan
    # NaN points mixed into a good scan are dropped, the scan still registers
    noisy = scans[1].points.copy()
    noisy[::7] = np.nan
    pose = odo.step(noisy, timestamp=0.2)
    assert odo.last_scan is not None and odo.last_scan.registered
    assert abs(pose[0, 3] - scans[1].pose[0, 3]) < 0.1


def test_time_going_backwards_resets_and_long_gap_drops_velocity(caplog):
    scans = street_scans(frames=4)
    odo = Odometry(OdometryConfig(voxel_size=0.5, max_time_gap=0.5), max_range=80.0)
    for s in scans[:3]:
        odo.step(s.points, timestamp=s.timestamp)
    with caplog.at_level(logging.WARNING, logger="mapping.odometry"):
        odo.step(scans[3].points, timestamp=5.0)  # 4.8 s gap
        assert np.allclose(odo.predict(5.1), odo.pose, atol=0.5)
        pose = odo.step(scans[0].points, timestamp=0.0)  # back in time
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "gap" in messages and "resetting" in messages
    assert np.allclose(pose, np.eye(4)) and len(odo.local_map) > 0


def test_mismatched_mask_raises_scan_error():
    odo = Odometry(OdometryConfig(), max_range=80.0)
    with pytest.raises(ScanError, match="static_mask"):
        odo.register(np.zeros((10, 3), np.float32), static_mask=np.ones(3, bool))
    with pytest.raises(ScanError, match="voxels group 5 points"):
        odo.register(np.zeros((10, 3), np.float32), voxels=odo.scan_voxels(np.ones((5, 3))))


def test_voxels_grouped_ahead_register_the_same_poses():
    scans = street_scans(frames=6, depart_frame=3)
    plain, ahead = (Odometry(OdometryConfig(), max_range=80.0) for _ in range(2))
    for i, scan in enumerate(scans):
        static = scan.labels != 2
        voxels = ahead.scan_voxels(scan.points)
        expected = plain.step(scan.points, static, timestamp=0.1 * i)
        pose = ahead.register(scan.points, static, timestamp=0.1 * i, voxels=voxels)
        ahead.update_map(static)
        assert np.array_equal(pose, expected)
    assert plain.last_scan.registered and len(plain.local_map) == len(ahead.local_map) > 0
