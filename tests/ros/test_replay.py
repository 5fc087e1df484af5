"""``s2mat replay`` as a real subprocess publishing a bag over DDS to a subscriber in the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat.datasets.rosbag import write_pointcloud_bag  # noqa: E402
from s2mat.types import Frame  # noqa: E402

pytestmark = pytest.mark.ros


def _collect(bag, args, domain, seconds=30.0):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("s2mat_replay_listener", context=context)
    clouds, clocks = [], []
    # Reliable (replay publishes reliably): a best-effort listener lost clouds on a loaded machine.
    node.create_subscription(PointCloud2, "/points", lambda m: clouds.append((time.monotonic(), m)),
                             QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(Clock, "/clock", lambda m: clocks.append(pc2.stamp_to_sec(m.clock)), 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    proc = subprocess.Popen([sys.executable, "-m", "s2mat", "replay", str(bag), "--delay", "0.5", "--wait-for", "/points", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    for _ in range(20):
        executor.spin_once(timeout_sec=0.05)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    return proc.returncode, out, err, clouds, clocks


def test_replay_forwards_every_cloud_at_recorded_timing_with_clock(tmp_path):
    rng = np.random.default_rng(2)
    frames = [Frame(points=rng.normal(size=(2000, 3)), timestamp=50.0 + 0.2 * i, index=i) for i in range(6)]
    write_pointcloud_bag(tmp_path / "bag", frames)
    rc, out, err, clouds, clocks = _collect(tmp_path / "bag", ["--rate", "2"], domain=40 + os.getpid() % 50)
    assert rc == 0, err
    assert "published 6 messages" in out
    assert len(clouds) == 6
    for (_, msg), frame in zip(clouds, frames, strict=True):
        np.testing.assert_array_equal(pc2.to_frame(msg).points, frame.points)
    # 0.2 s of bag time between clouds at rate 2 is 0.1 s of wall time.
    gaps = np.diff([t for t, _ in clouds])
    assert np.median(gaps) == pytest.approx(0.1, abs=0.05)
    assert clocks and min(clocks) >= 50.0 - 1e-6 and max(clocks) == pytest.approx(51.0, abs=1e-6)
    assert np.all(np.diff(clocks) >= 0)


def test_replay_of_a_missing_topic_is_an_error(tmp_path):
    write_pointcloud_bag(tmp_path / "bag", [Frame(points=np.zeros((3, 3)), timestamp=1.0)])
    result = subprocess.run([sys.executable, "-m", "s2mat", "replay", str(tmp_path / "bag"), "--topics", "/nope",
                             "--delay", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no topic /nope (have: /points)" in result.stderr


def test_replay_waiting_for_a_topic_it_does_not_publish_is_an_error(tmp_path):
    write_pointcloud_bag(tmp_path / "bag", [Frame(points=np.zeros((3, 3)), timestamp=1.0)])
    result = subprocess.run([sys.executable, "-m", "s2mat", "replay", str(tmp_path / "bag"), "--wait-for", "/odom:1",
                             "--delay", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot wait for subscribers of /odom" in result.stderr
