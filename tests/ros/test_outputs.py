"""Output clouds carry the points they are given, whole or in parts, through DDS serialization."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat_ros import outputs  # noqa: E402
from s2mat_ros.messages import to_time_msg  # noqa: E402

pytestmark = pytest.mark.ros


def _points(msg) -> np.ndarray:
    msg = deserialize_message(serialize_message(msg), PointCloud2)
    return pc2.xyz(pc2.decode(msg).reshape(-1))


def test_a_cloud_made_of_parts_is_the_cloud_of_their_rows():
    rng = np.random.default_rng(3)
    parts = [rng.normal(size=(n, 3)) * 40 for n in (5, 0, 1000, 17)]
    header = Header(stamp=to_time_msg(7_500_000_000), frame_id="map")
    msg = outputs.cloud(header, (part for part in parts))  # a generator, as the whole map's
    whole = outputs.cloud(header, np.concatenate(parts))
    expected = np.concatenate(parts).astype(np.float32)
    np.testing.assert_array_equal(_points(msg), expected)
    np.testing.assert_array_equal(_points(whole), expected)
    assert (msg.width, msg.height, msg.row_step) == (len(expected), 1, len(expected) * 12)
    assert msg.is_dense and msg.header.frame_id == "map" and msg.header.stamp.sec == 7


def test_a_cloud_with_a_nan_part_is_not_dense_and_an_empty_one_is_valid():
    header = Header(frame_id="map")
    parts = [np.ones((4, 3)), np.array([[0.0, np.nan, 1.0]])]
    assert not outputs.cloud(header, iter(parts)).is_dense
    empty = outputs.cloud(header, iter([]))
    assert empty.width == 0 and len(_points(empty)) == 0


@pytest.mark.parametrize("frame_id", ["map", "odom", "world_frame", ""])  # both alignments of the poses
def test_the_path_record_serializes_the_path_of_its_last_poses(frame_id):
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(5)
    for count, limit in ((0, 4), (1, 4), (2, 4), (11, 4), (300, 100)):
        record = outputs.PathRecord(frame_id, limit)
        expected = Path(header=Header(frame_id=frame_id))
        for i in range(count):
            T = np.eye(4)
            T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
            T[:3, 3] = rng.normal(size=3) * 100
            header = Header(stamp=to_time_msg(100_000_000 * i + 7), frame_id=frame_id)
            record.append(header.stamp, T)
            expected.header = header
            expected.poses.append(PoseStamped(header=header, pose=outputs.odometry(header, "", T).pose.pose))
        got = deserialize_message(record.serialized(), Path)
        assert len(record) == len(got.poses) == min(count, limit)
        assert got == Path(header=expected.header, poses=expected.poses[-limit:])
