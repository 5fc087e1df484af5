"""rosbag2 writing and reading with rosbags: mcap and sqlite3, bit-identical round trips."""

from __future__ import annotations

import numpy as np
import pytest

from s2mat import pointcloud2 as pc2
from s2mat.datasets import open_dataset
from s2mat.datasets.rosbag import BagWriter, write_pointcloud_bag
from s2mat.errors import DatasetError, OutputExistsError
from s2mat.messages import msg_class
from s2mat.types import Frame


def _frames(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [Frame(points=rng.normal(size=(200 + 10 * i, 3)) * 20, timestamp=100.0 + 0.1 * i, index=i,
                  intensity=rng.random(200 + 10 * i), times=np.linspace(0, 0.099, 200 + 10 * i))
            for i in range(n)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip_is_bit_identical(tmp_path, storage):
    frames = _frames()
    write_pointcloud_bag(tmp_path / "bag", frames, storage=storage)
    dataset = open_dataset(tmp_path / "bag")
    assert dataset.name == "rosbag2" and dataset.topic == "/points" and len(dataset) == 4
    for sent, got in zip(frames, dataset, strict=True):
        assert got.points.tobytes() == sent.points.tobytes()
        assert got.intensity.tobytes() == sent.intensity.tobytes()
        assert got.times.tobytes() == sent.times.tobytes()
        assert got.timestamp == pytest.approx(sent.timestamp, abs=1e-9)
    assert dataset[2].points.tobytes() == frames[2].points.tobytes()


def test_single_mcap_file_and_ground_truth_odometry(tmp_path):
    frames = _frames(3)
    with BagWriter(tmp_path / "bag") as bag:
        for f in frames:
            stamp_ns = round(f.timestamp * 1e9)
            bag.write("/points", pc2.from_frame(f), stamp_ns)
            bag.write("/ground_truth/odometry", _odometry(stamp_ns, x=f.index * 1.5), stamp_ns)
    mcap = next((tmp_path / "bag").glob("*.mcap"))
    dataset = open_dataset(mcap)
    poses = dataset.gt_poses()
    assert poses.shape == (3, 4, 4)
    np.testing.assert_allclose(poses[:, 0, 3], [0.0, 1.5, 3.0])
    assert dataset.has_ground_truth


def _odometry(stamp_ns, x):
    m = msg_class
    Time = m("builtin_interfaces/msg/Time")
    header = m("std_msgs/msg/Header")(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="map")
    pose = m("geometry_msgs/msg/Pose")(position=m("geometry_msgs/msg/Point")(x=x, y=0.0, z=0.0),
                                       orientation=m("geometry_msgs/msg/Quaternion")(x=0.0, y=0.0, z=0.0, w=1.0))
    pwc = m("geometry_msgs/msg/PoseWithCovariance")(pose=pose, covariance=np.zeros(36))
    zero = m("geometry_msgs/msg/Vector3")(x=0.0, y=0.0, z=0.0)
    twc = m("geometry_msgs/msg/TwistWithCovariance")(twist=m("geometry_msgs/msg/Twist")(linear=zero, angular=zero),
                                                     covariance=np.zeros(36))
    return m("nav_msgs/msg/Odometry")(header=header, child_frame_id="lidar", pose=pwc, twist=twc)


def test_bag_without_clouds_and_bag_with_two_cloud_topics_are_explained(tmp_path):
    with BagWriter(tmp_path / "odom_only") as bag:
        bag.write("/odom", _odometry(1, 0.0), 1)
    with pytest.raises(DatasetError, match=r"no sensor_msgs/msg/PointCloud2 topic \(topics: /odom"):
        open_dataset(tmp_path / "odom_only")
    frame = _frames(1)[0]
    with BagWriter(tmp_path / "two") as bag:
        bag.write("/front/points", pc2.from_frame(frame), 1)
        bag.write("/rear/points", pc2.from_frame(frame), 1)
    with pytest.raises(DatasetError, match="several PointCloud2 topics .*/front/points, /rear/points.*--topic"):
        open_dataset(tmp_path / "two")
    assert len(open_dataset(tmp_path / "two", topic="/rear/points")) == 1


def test_malformed_cloud_in_a_bag_is_dropped_and_logged(tmp_path, caplog):
    frames = _frames(3)
    with BagWriter(tmp_path / "bag") as bag:
        for f in frames:
            msg = pc2.from_frame(f)
            if f.index == 1:
                msg.data = msg.data[:-7]
            bag.write("/points", msg, round(f.timestamp * 1e9))
    got = list(open_dataset(tmp_path / "bag"))
    assert [len(f) for f in got] == [len(frames[0]), len(frames[2])]
    assert "dropped a malformed PointCloud2" in caplog.text and "shorter than row_step" in caplog.text


def test_writer_refuses_existing_output_and_leaves_nothing_on_error(tmp_path):
    write_pointcloud_bag(tmp_path / "bag", _frames(1))
    with pytest.raises(OutputExistsError):
        write_pointcloud_bag(tmp_path / "bag", _frames(1))
    with pytest.raises(RuntimeError), BagWriter(tmp_path / "broken") as bag:
        bag.write("/points", pc2.from_frame(_frames(1)[0]), 1)
        raise RuntimeError("interrupted")
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bag"]
