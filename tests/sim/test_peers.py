"""Peers consume the simulator's output unchanged: KISS-ICP on the KITTI folder, DUFOMap on the
DynamicMap folder, rosbags on the bag."""

from __future__ import annotations

import numpy as np
import pytest

from s2mat.datasets.kitti import read_bin
from s2mat.datasets.pcd import read_pcd


def test_kiss_icp_tracks_the_true_trajectory_from_the_kitti_output(tmp_path):
    kiss = pytest.importorskip("kiss_icp.kiss_icp")
    from kiss_icp.config import KISSConfig

    from s2mat.datasets import open_dataset
    from s2mat.sim import simulate

    # 1024 columns: KISS-ICP needs the horizontal density of a real 64-beam sensor to lock on.
    out = simulate("street", sensor="hdl64", frames=8, seed=3, columns=1024, camera=False).write(tmp_path / "kitti")

    config = KISSConfig()
    config.data.max_range = 100.0
    config.data.deskew = False
    config.mapping.voxel_size = 1.0
    odometry = kiss.KissICP(config)
    scans = sorted((out / "velodyne").glob("*.bin"))
    for scan in scans:
        odometry.register_frame(read_bin(scan)[:, :3].astype(np.float64), np.array([]))
    estimate = np.asarray(odometry.last_pose)
    truth = open_dataset(out).gt_poses()[-1]
    travelled = np.linalg.norm(truth[:3, 3])
    assert travelled > 4.0
    # The sweeps are motion-distorted (no deskew here), so allow a few per cent of the path.
    assert np.linalg.norm(estimate[:3, 3] - truth[:3, 3]) < 0.03 * travelled


def test_dufomap_finds_the_moving_points_of_the_dynamicmap_output(street, written):
    dufomap_mod = pytest.importorskip("dufomap")
    folder = written["dynamicmap"]
    mapper = dufomap_mod.dufomap(0.2, 0.2, 1, num_threads=2)
    for path in sorted((folder / "pcd").glob("*.pcd")):
        cloud, header = read_pcd(path)
        xyz = np.column_stack([cloud["x"], cloud["y"], cloud["z"]])
        mapper.run(xyz, header.viewpoint, cloud_transform=False)
    mapper.oncePropagateCluster(if_propagate=True, if_cluster=False)
    gt, header = read_pcd(folder / "gt_cloud.pcd")
    xyz = np.column_stack([gt["x"], gt["y"], gt["z"]])
    found = mapper.segment(xyz, header.viewpoint, cloud_transform=False).astype(bool)
    dynamic = gt["intensity"] == 1
    # DUFOMap should keep nearly all static points and flag a good share of the moving ones.
    static_kept = 1.0 - found[~dynamic].mean()
    dynamic_found = found[dynamic].mean()
    assert static_kept > 0.95, static_kept
    assert dynamic_found > 0.3, dynamic_found


def test_rosbags_reads_every_topic_of_the_bag(written):
    from rosbags.highlevel import AnyReader

    from s2mat.messages import typestore

    with AnyReader([written["rosbag"]], default_typestore=typestore()) as reader:
        topics = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
        assert topics["/points"] == ("sensor_msgs/msg/PointCloud2", 8)
        assert topics["/camera/image_raw"] == ("sensor_msgs/msg/Image", 8)
        assert topics["/camera/camera_info"] == ("sensor_msgs/msg/CameraInfo", 8)
        assert topics["/ground_truth/odometry"] == ("nav_msgs/msg/Odometry", 8)
        conn = next(c for c in reader.connections if c.topic == "/points")
        _, _, raw = next(reader.messages(connections=[conn]))
        msg = reader.deserialize(raw, conn.msgtype)
        assert [f.name for f in msg.fields] == ["x", "y", "z", "intensity", "time", "ring"]
