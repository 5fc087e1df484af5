"""Record the graph's outputs into a rosbag2 (written with ``rosbags``), as serialized by DDS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from s2mat.datasets.rosbag import BagWriter
from s2mat_ros.dds import use_large_data_profile
from s2mat_ros.messages import message_class

# Output topics of the graph and their types.
OUTPUT_TOPICS: dict[str, str] = {
    "/s2mat/odometry": "nav_msgs/msg/Odometry",
    "/s2mat/path": "nav_msgs/msg/Path",
    "/s2mat/tracks": "visualization_msgs/msg/MarkerArray",
    "/s2mat/tracks/list": "std_msgs/msg/String",
    "/s2mat/points/static": "sensor_msgs/msg/PointCloud2",
    "/s2mat/points/dynamic": "sensor_msgs/msg/PointCloud2",
    "/s2mat/static_map": "sensor_msgs/msg/PointCloud2",
    "/s2mat/static_map/updates": "sensor_msgs/msg/PointCloud2",
}
LATCHED_TOPICS = {"/s2mat/static_map", "/s2mat/static_map/updates"}


class Recorder:
    """Subscribes to ``topics`` through ``node`` and appends every message, still serialized, to
    ``writer`` with the node clock's receive time (the bag time; sim time under ``use_sim_time``)."""

    def __init__(self, node: Node, writer: BagWriter, topics: Sequence[str] | None = None) -> None:
        self.node, self.writer = node, writer
        self.counts: dict[str, int] = {}
        for topic in topics or list(OUTPUT_TOPICS):
            msgtype = OUTPUT_TOPICS.get(topic)
            if msgtype is None:
                raise ValueError(f"unknown output topic {topic}; known: {', '.join(OUTPUT_TOPICS)}")
            durability = DurabilityPolicy.TRANSIENT_LOCAL if topic in LATCHED_TOPICS else DurabilityPolicy.VOLATILE
            qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=durability)
            node.create_subscription(message_class(msgtype), topic, self._callback(topic, msgtype), qos, raw=True)
            self.counts[topic] = 0

    def _callback(self, topic: str, msgtype: str) -> Any:
        def write(data: bytes) -> None:
            self.writer.write_raw(topic, msgtype, bytes(data), self.node.get_clock().now().nanoseconds)
            self.counts[topic] += 1

        return write


def record(out: Path, topics: Sequence[str] | None = None, duration: float | None = None,
           args: list[str] | None = None, overwrite: bool = False) -> dict[str, int]:
    """Record until Ctrl-C (or ``duration`` wall seconds); the bag is complete either way."""
    import time

    import rclpy

    use_large_data_profile()
    rclpy.init(args=args)
    node = rclpy.create_node("s2mat_recorder")
    try:
        with BagWriter(out, overwrite=overwrite) as writer:
            recorder = Recorder(node, writer, topics)
            end = None if duration is None else time.monotonic() + duration
            try:
                while rclpy.ok() and (end is None or time.monotonic() < end):
                    rclpy.spin_once(node, timeout_sec=0.1)
            except KeyboardInterrupt:
                pass
        return recorder.counts
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def main(args: list[str] | None = None) -> None:
    """Console script ``s2mat_record OUT_BAG``."""
    import sys

    argv = sys.argv[1:] if args is None else args
    plain = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if len(plain) != 1:
        raise SystemExit("usage: s2mat_record OUT_BAG [--ros-args ...]")
    counts = record(Path(plain[0]), args=sys.argv if args is None else ["s2mat_record", *args])
    print(f"recorded {sum(counts.values())} messages into {plain[0]}")
