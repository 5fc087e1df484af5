"""Shared pieces of the graph tests: domains, the graph and replay as subprocesses, a listener node."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import yaml
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import String

from s2mat import pointcloud2 as pc2
from s2mat_ros.dds import use_large_data_profile
from s2mat_ros.outputs import pose_matrix

REPO = Path(__file__).resolve().parents[2]



def domain_id(offset: int) -> int:
    """A DDS domain per test and per test process, so parallel runs never cross."""
    return 110 + (os.getpid() * 7 + offset) % 100


def ros_env(domain: int) -> dict[str, str]:
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                PYTHONUNBUFFERED="1")


def write_params(path: Path, **settings: Any) -> Path:
    """A ROS 2 params file with the node settings given (configuration keys as dotted names too)."""
    params: dict[str, Any] = {}
    for key, value in settings.items():
        node = params
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def start_graph(params: Path, domain: int, log: Path, *, processes: bool = True, sim_time: bool = False
                ) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "s2mat", "ros", "up", "--params", str(params)]
    cmd += ["--processes"] if processes else []
    cmd += ["--sim-time"] if sim_time else []
    return subprocess.Popen(cmd, env=ros_env(domain), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_replay(bag: Path, domain: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "s2mat", "replay", str(bag), *args], env=ros_env(domain),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def node_stats(text: str, node: str) -> dict[str, int]:
    """The counts a node logs when it shuts down (``stats: {...}``)."""
    # The stats are one flat JSON object; two processes' lines may run together in the log.
    found = re.findall(rf"\[{node}\]: stats: (\{{[^{{}}]*\}})", text)
    return json.loads(found[-1]) if found else {}


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """Ctrl-C the process group (the node processes too); kill what is left after ``timeout``."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


LATCHED = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Listener:
    """A node in the test collecting the graph's outputs with their stamps."""

    def __init__(self, domain: int, whole_map: bool = True) -> None:
        os.environ["ROS_DOMAIN_ID"] = str(domain)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        use_large_data_profile()  # the test publishes full scans, like the graph's own processes
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("s2mat_test_listener", context=self.context)
        self.odometry: list[tuple[int, np.ndarray]] = []  # (stamp ns, 4x4)
        self.tracks: list[tuple[int, dict]] = []  # (stamp ns, JSON record)
        self.track_arrival: list[tuple[int, float]] = []  # (stamp ns, wall time received)
        self.maps: list[PointCloud2] = []
        self.updates: list[PointCloud2] = []
        self.paths: list[PathMsg] = []
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Odometry, "/s2mat/odometry", self._on_odometry, reliable)
        self.node.create_subscription(String, "/s2mat/tracks/list", self._on_tracks, reliable)
        self.node.create_subscription(PathMsg, "/s2mat/path", self.paths.append, reliable)
        if whole_map:
            self.subscribe_whole_map()
        self.node.create_subscription(PointCloud2, "/s2mat/static_map/updates", self.updates.append, LATCHED)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def subscribe_whole_map(self) -> None:
        self.node.create_subscription(PointCloud2, "/s2mat/static_map", self.maps.append, LATCHED)

    def _on_odometry(self, msg: Odometry) -> None:
        self.odometry.append((pc2_stamp(msg.header.stamp), pose_matrix(msg.pose.pose)))

    def _on_tracks(self, msg: String) -> None:
        record = json.loads(msg.data)
        stamp = record["stamp"]["sec"] * 1_000_000_000 + record["stamp"]["nanosec"]
        self.tracks.append((stamp, record))
        self.track_arrival.append((stamp, time.time()))

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return done()

    def wait_for_graph(self, timeout: float = 60.0) -> bool:
        """Until the graph's output publishers and input subscriptions are discovered."""
        def ready() -> bool:
            n = self.node
            # The mapping node reads the input; the perception node gets each frame's points from it.
            return (n.count_publishers("/s2mat/odometry") >= 1 and n.count_publishers("/s2mat/tracks/list") >= 1
                    and n.count_subscribers("/points") >= 1
                    and n.count_subscribers("/s2mat/internal/frame_points") >= 1)
        return self.spin_until(ready, timeout)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def pc2_stamp(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def map_points(msg: PointCloud2) -> np.ndarray:
    return pc2.xyz(pc2.decode(msg))
