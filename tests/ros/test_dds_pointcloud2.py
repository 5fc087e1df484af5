"""Two real rclpy nodes exchange a PointCloud2 over DDS; the decoded points equal the sent ones."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat.types import Frame  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def ros_context():
    # An isolated domain per test process keeps parallel runs on one machine apart.
    os.environ.setdefault("ROS_DOMAIN_ID", str(40 + os.getpid() % 60))
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def test_pointcloud2_crosses_dds_between_two_nodes(ros_context):
    rng = np.random.default_rng(7)
    frame = Frame(points=rng.normal(size=(30_000, 3)) * 30, timestamp=42.5, intensity=rng.random(30_000),
                  times=np.linspace(0.0, 0.1, 30_000))
    sender = rclpy.create_node("s2mat_test_sender", context=ros_context)
    receiver = rclpy.create_node("s2mat_test_receiver", context=ros_context)
    received: list[PointCloud2] = []
    receiver.create_subscription(PointCloud2, "/s2mat_test/points", received.append, qos_profile_sensor_data)
    publisher = sender.create_publisher(PointCloud2, "/s2mat_test/points", qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(sender)
    executor.add_node(receiver)
    msg = pc2.from_frame(frame, frame_id="velodyne", backend="rclpy")
    deadline = time.monotonic() + 20.0
    while not received and time.monotonic() < deadline:
        publisher.publish(msg)  # sensor-data QoS is best effort: send until one arrives
        executor.spin_once(timeout_sec=0.2)
    executor.shutdown()
    sender.destroy_node()
    receiver.destroy_node()
    assert received, "no PointCloud2 arrived over DDS within 20 s"
    got = pc2.to_frame(received[0])
    assert received[0].header.frame_id == "velodyne"
    np.testing.assert_array_equal(got.points, frame.points)
    np.testing.assert_array_equal(got.intensity, frame.intensity)
    np.testing.assert_allclose(got.times, frame.times, atol=1e-7)
    assert got.timestamp == pytest.approx(42.5)
