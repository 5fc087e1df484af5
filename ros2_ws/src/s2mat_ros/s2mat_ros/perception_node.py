"""The ``perception`` node: ground, map-aware detection and tracking, following the mapping node's lead.

Subscribes: the mapping node's frame points (the valid points of the input cloud as the
mapping half preprocessed them), frame starts, map evidence and poses; it does not read the
input cloud itself. Publishes, stamped with the input cloud's stamp, in the world frame: ``/s2mat/tracks`` (``visualization_msgs/MarkerArray``:
boxes, ids, velocity arrows, class labels), ``/s2mat/tracks/list`` (``std_msgs/String``, one
JSON object per frame with the sensor pose, see :func:`s2mat_ros.outputs.track_list`), ``/s2mat/points/static`` and
``/s2mat/points/dynamic`` (the current scan's static and dynamic points, ``PointCloud2``).

The outputs are published after the ``dynamic`` mask has gone back, while the mapping node
grows its maps; markers and scan points only while someone subscribes to them. With
``timing_log`` each frame logs its time budget (:mod:`s2mat_ros.timing`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from mapping.geometry import transform32
from s2mat import pointcloud2 as pc2
from s2mat.errors import PointCloud2Error
from s2mat.loop_parts import EvidenceQuery, FrameStart, PerceptionHalf
from s2mat.types import Frame, PointLabel
from s2mat_ros import outputs, wire
from s2mat_ros.frames import guarded
from s2mat_ros.params import declare_config, declare_settings
from s2mat_ros.timing import FrameClock

RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
POINTS_WAIT = 1.0  # wall seconds a frame start waits for its points (sent just before it)
POINTS_KEPT = 4  # frames whose unclaimed points are kept (a frame start lost or timed out leaves them)


class _Timeout(Exception):
    pass


class PerceptionNode(Node):
    """Thin wrapper of :class:`s2mat.loop_parts.PerceptionHalf`; see the package README for the protocol.

    Frame work runs in the ``frame_start`` callback, which waits for the mapping node's answers
    (frame points, map evidence, pose). Those arrive on a second node, ``perception_inbox``, with
    an executor of its own that the waiting callback spins itself: the thread that waits takes
    the reply, with no hand-off between executor threads, so any executor runs this node.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("perception", **kwargs)
        self.settings = declare_settings(self)
        self.config = declare_config(self)
        self.half = PerceptionHalf(self.config)
        self.world_frame = str(self.settings["world_frame"])
        self.timeout = float(self.settings["lockstep_timeout"])
        self.replies: dict[tuple[str, int], Any] = {}
        self.stats = {"received": 0, "malformed": 0, "processed": 0, "missing": 0, "timeouts": 0}
        self._timing = bool(self.settings["timing_log"])
        self._clock: FrameClock | None = None  # the frame in work's time budget
        self.inbox = rclpy.create_node("perception_inbox", context=self.context)
        self.inbox_executor = SingleThreadedExecutor(context=self.context)
        self.inbox_executor.add_node(self.inbox)
        for kind, topic in (("points", wire.FRAME_POINTS), ("evidence", wire.MAP_EVIDENCE), ("pose", wire.POSE)):
            self.inbox.create_subscription(PointCloud2, topic, guarded(self, lambda m, k=kind: self._reply(k, m)),
                                           wire.INTERNAL_QOS)
        self.create_subscription(PointCloud2, wire.FRAME_START, guarded(self, self._on_start), wire.INTERNAL_QOS)
        self.pub_query = self.create_publisher(PointCloud2, wire.MAP_QUERY, wire.INTERNAL_QOS)
        self.pub_believed = self.create_publisher(PointCloud2, wire.BELIEVED_DYNAMIC, wire.INTERNAL_QOS)
        self.pub_dynamic = self.create_publisher(PointCloud2, wire.DYNAMIC, wire.INTERNAL_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, "/s2mat/tracks", RELIABLE)
        self.pub_list = self.create_publisher(String, "/s2mat/tracks/list", RELIABLE)
        self.pub_static = self.create_publisher(PointCloud2, "/s2mat/points/static", RELIABLE)
        self.pub_dynamic_points = self.create_publisher(PointCloud2, "/s2mat/points/dynamic", RELIABLE)
        self.get_logger().info("perception node ready: frames from the mapping node")

    # ------------------------------------------------------------------ replies
    def _reply(self, kind: str, msg: PointCloud2) -> None:
        seq = wire.seq_of(msg)
        self.replies[(kind, seq)] = msg
        # Unclaimed replies of old frames go; frame points (~2 MB each) after a few frames.
        for key in [k for k in self.replies if k[1] < seq - (POINTS_KEPT if k[0] == "points" else 100)]:
            del self.replies[key]

    def _wait(self, predicate: Any, timeout: float | None = None) -> Any:
        """Spin the inbox until ``predicate()`` gives a value; raises ``_Timeout`` after ``timeout`` s
        (default ``lockstep_timeout``) or when the context shuts down."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            value = predicate()
            if value is not None:
                return value
            left = deadline - time.monotonic()
            if left <= 0 or not self.context.ok():
                raise _Timeout
            self.inbox_executor.spin_once(timeout_sec=min(left, 0.1))

    def destroy_node(self) -> None:
        if hasattr(self, "inbox_executor"):  # not when the node failed to start
            self.inbox_executor.shutdown()
            self.inbox.destroy_node()
        super().destroy_node()

    # ------------------------------------------------------------------ one frame
    def _on_start(self, msg: PointCloud2) -> None:
        start = wire.read_frame_start(msg)
        stamp, seq = msg.header.stamp, start.seq
        clock = self._clock = FrameClock("perception", seq) if self._timing else None
        try:
            t0 = time.perf_counter()
            got = self._wait(lambda: self.replies.pop(("points", seq), None), POINTS_WAIT)
            t1 = time.perf_counter()
            points, times = wire.read_frame_points(got)
            if clock is not None:
                clock.add("wait_points", (t1 - t0) * 1e3)
                clock.add("decode", (time.perf_counter() - t1) * 1e3)
        except (_Timeout, PointCloud2Error, ValueError) as exc:
            if isinstance(exc, _Timeout):
                self.stats["missing"] += 1
                self.get_logger().warning(f"no frame points for the frame stamped {wire.stamp_ns(stamp)} ns "
                                          "arrived here; frame skipped")
            else:
                self.stats["malformed"] += 1
                self.get_logger().warning(f"malformed frame points stamped {wire.stamp_ns(stamp)} ns: {exc}")
            self.pub_believed.publish(wire.mask(stamp, seq, None))
            return
        self.stats["received"] += 1
        timestamp = pc2.stamp_to_sec(stamp)  # the frame time, as decoding the input cloud gives it
        frame = Frame(points=points, timestamp=timestamp, times=times)
        try:
            self._process(frame, start, stamp)
        except _Timeout:
            self.stats["timeouts"] += 1
            self.get_logger().error(f"the mapping node did not answer within {self.timeout} s "
                                    f"(frame at {frame.timestamp:.3f} s); frame dropped")
        except Exception as exc:  # noqa: BLE001 - a node never dies on input
            self.get_logger().error(f"perception failed on the frame at {frame.timestamp:.3f} s: {exc}")
            self.pub_believed.publish(wire.mask(stamp, seq, None))

    def _ask(self, stamp: Any, seq: int, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        self.replies.pop(("evidence", seq), None)
        self.pub_query.publish(wire.points(stamp, seq, points_world))
        answer = wire.read_evidence(self._wait(lambda: self.replies.pop(("evidence", seq), None)))
        if self._clock is not None:
            self._clock.add("evidence_wait", (time.perf_counter() - t0) * 1e3)
        return answer

    def _process(self, frame: Frame, start: wire.StartMsg, stamp: Any) -> None:
        """One frame; ``frame`` holds the valid points, already preprocessed by the mapping half."""
        seq, clock = start.seq, self._clock
        t0 = time.perf_counter()
        every = np.ones(len(frame), dtype=bool)
        fs = FrameStart(timestamp=frame.timestamp, guess=start.guess, use_map=start.use_map, reset=start.reset,
                        valid=every, raw=frame.points, points=frame.points, times=frame.times)
        t1 = time.perf_counter()
        query = EvidenceQuery(self.config.mapping.voxel_size, lambda pts: self._ask(stamp, seq, pts))
        detected = self.half.detect(frame, fs, query)
        t2 = time.perf_counter()
        self.pub_believed.publish(wire.mask(stamp, seq, detected.believed_dynamic))
        t3 = time.perf_counter()
        pose = wire.read_pose(self._wait(lambda: self.replies.pop(("pose", seq), None)))
        t4 = time.perf_counter()
        tracked = self.half.track(detected, pose)
        t5 = time.perf_counter()
        self.pub_dynamic.publish(wire.mask(stamp, seq, tracked.dynamic))
        t6 = time.perf_counter()
        self.stats["processed"] += 1
        header = Header(stamp=stamp, frame_id=self.world_frame)
        self.pub_list.publish(outputs.track_list(header, tracked.tracks, pose))
        if self.pub_markers.get_subscription_count():
            self.pub_markers.publish(outputs.track_markers(header, tracked.tracks))
        if self.pub_static.get_subscription_count() or self.pub_dynamic_points.get_subscription_count():
            world = transform32(frame.points, pose)  # the scan as detection saw it (deskewed), world frame
            labels = tracked.labels
            static = (labels == PointLabel.STATIC) | (labels == PointLabel.GROUND)
            self.pub_static.publish(outputs.cloud(header, world[static]))
            self.pub_dynamic_points.publish(outputs.cloud(header, world[labels == PointLabel.DYNAMIC]))
        if clock is not None:
            ms = {"prepare": t1 - t0, "detect": t2 - t1 - clock.ms.get("evidence_wait", 0.0) * 1e-3,
                  "wire": t3 - t2 + t6 - t5, "wait_pose": t4 - t3, "track": t5 - t4,
                  "outputs": time.perf_counter() - t6}
            for name, seconds in ms.items():
                clock.add(name, seconds * 1e3)
            self.get_logger().info(clock.line())


def main(args: list[str] | None = None) -> None:
    """Console script ``s2mat_perception``."""
    from s2mat_ros.graph import spin_nodes

    spin_nodes([PerceptionNode], args)


if __name__ == "__main__":
    main()
