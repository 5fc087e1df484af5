"""The ``mapping`` node: odometry and the static map; leads the per-frame lockstep with ``perception``.

Subscribes: the input ``PointCloud2`` (sensor-data QoS) and the perception node's masks.
Publishes: ``/s2mat/odometry`` (``nav_msgs/Odometry``), ``/s2mat/path`` (``nav_msgs/Path``),
``/s2mat/static_map/updates`` (voxels new since the last update, every ``map_update_period`` s
of input time) and ``/s2mat/static_map`` (every kept voxel, every ``map_full_period`` s while
the topic has a subscriber; one that subscribes later gets it at the next frame), both
reliable + transient-local. All stamps are the input cloud's. The whole map grows with the
distance driven: the node takes a snapshot of it (a copy of the live voxels: 6.5 ms alone for
0.77M of them, 15-77 ms in the graph, where it runs beside the local-map update that holds the
GIL) and a thread of its own turns that into the message and publishes it, so frames go on
meanwhile.

Clouds are decoded as they arrive (the single-threaded executor runs that callback only while
no frame work is running, i.e. while this node waits for the perception node) and queued. The perception node gets the frame's preprocessed points from here
(``frame_points``): it neither receives the input cloud nor preprocesses it again. The path and the map of a frame are published during the next frame,
once its map query is answered (while the perception node detects), the path every
``path_period`` s of input time (its message grows with the run; it is kept serialized, so a
publication is one copy of its bytes, not a message object per pose). With ``timing_log`` each frame logs its time budget
(:mod:`s2mat_ros.timing`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from nav_msgs.msg import Odometry, Path
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from mapping.parallel import MAX_THREADS, name_os_thread
from mapping.static_map import StaticMap
from s2mat.config import S2MATConfig
from s2mat.errors import PointCloud2Error
from s2mat.loop_parts import FrameStart, MappingHalf
from s2mat.types import Frame
from s2mat_ros import outputs, wire
from s2mat_ros.frames import cloud_to_frame, guarded
from s2mat_ros.params import declare_config, declare_settings, input_qos
from s2mat_ros.timing import FrameClock

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
UPDATES = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
MAX_PATH = 100_000  # poses kept in the published path
# Share of a core the whole map's publication may take. On two cores at 10 Hz the frames need
# about 70 % of both, and a snapshot of 1.6M voxels that ran flat out made the frames beside it
# skip a cloud.
SNAPSHOT_SHARE = 0.2


@dataclass
class _InFlight:
    seq: int
    msg_stamp: Any
    frame_id: str
    start: FrameStart
    deadline: float
    pose: np.ndarray | None = None
    clock: FrameClock | None = None  # the frame's time budget (setting timing_log)
    waited: float = 0.0  # the mapping half's waited_ms when the frame began


def share_cores(config: S2MATConfig, cores: int | None = None) -> None:
    """In the graph the perception node works on one core while the static map integrates a
    frame: unless ``mapping.num_threads`` is set, the map's free-space tests get the other
    cores (at most MAX_THREADS; the answers do not depend on it). On two cores, two threads and the
    perception node overcommit the machine and cost more CPU per frame than one thread."""
    if config.mapping.num_threads is None:
        config.mapping.num_threads = max(1, min(MAX_THREADS, (cores or os.cpu_count() or 1) - 1))


class MappingNode(Node):
    """Thin wrapper of :class:`s2mat.loop_parts.MappingHalf`; see the package README for the protocol."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("mapping", **kwargs)
        self.settings = declare_settings(self)
        self.config = declare_config(self)
        share_cores(self.config)
        self.half = MappingHalf(self.config)
        self.world_frame = str(self.settings["world_frame"])
        # (frame, cloud header, monotonic time received, decode ms)
        self.pending: deque[tuple[Frame, Header, float, float]] = deque()
        self.current: _InFlight | None = None  # begun, waiting for perception's believed_dynamic mask
        self.registered: _InFlight | None = None  # registered, waiting for perception's dynamic mask
        # Messages about ``current`` that came before ``registered`` was finished: (handler, message).
        self._held: list[tuple[Any, PointCloud2]] = []
        self.seq = 0
        self.index = 0
        # overlapped: frames begun while the last one was being tracked
        self.stats = {"received": 0, "malformed": 0, "skipped": 0, "processed": 0, "aborted": 0, "resets": 0,
                      "overlapped": 0}
        self.path = outputs.PathRecord(self.world_frame, MAX_PATH)
        self._published_frame = 0  # the map's frame count at the last map update
        self._last_update: float | None = None
        self._last_full: float | None = None
        self._snapshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2mat-snapshot",
                                             initializer=name_os_thread)
        self._snapshot: Future | None = None  # the whole map being published
        # The whole map is owed (its period came; nobody subscribed yet, or the last one is still
        # being published): the header of the last finished frame, whose map it is.
        self._owed_whole: Header | None = None
        self._stop_snapshot = threading.Event()  # set: drop the whole map being published
        self._last_path: float | None = None
        self._due: tuple[Any, float] | None = None  # (stamp, seconds) of the last finished frame, to publish
        self._timing = bool(self.settings["timing_log"])
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(PointCloud2, self.settings["input_topic"], guarded(self, self._on_cloud), input_qos(self.settings),
                                 callback_group=group)
        self.create_subscription(PointCloud2, wire.MAP_QUERY, guarded(self, self._on_query), wire.INTERNAL_QOS, callback_group=group)
        self.create_subscription(PointCloud2, wire.BELIEVED_DYNAMIC, guarded(self, self._on_believed_dynamic), wire.INTERNAL_QOS,
                                 callback_group=group)
        self.create_subscription(PointCloud2, wire.DYNAMIC, guarded(self, self._on_dynamic), wire.INTERNAL_QOS, callback_group=group)
        self.pub_points = self.create_publisher(PointCloud2, wire.FRAME_POINTS, wire.INTERNAL_QOS)
        self.pub_start = self.create_publisher(PointCloud2, wire.FRAME_START, wire.INTERNAL_QOS)
        self.pub_evidence = self.create_publisher(PointCloud2, wire.MAP_EVIDENCE, wire.INTERNAL_QOS)
        self.pub_pose = self.create_publisher(PointCloud2, wire.POSE, wire.INTERNAL_QOS)
        self.pub_odometry = self.create_publisher(Odometry, "/s2mat/odometry", RELIABLE)
        self.pub_path = self.create_publisher(Path, "/s2mat/path", RELIABLE)
        self.pub_map = self.create_publisher(PointCloud2, "/s2mat/static_map", LATCHED)
        self.pub_updates = self.create_publisher(PointCloud2, "/s2mat/static_map/updates", UPDATES)
        # Timeouts run on the wall clock: under use_sim_time a paused /clock must not stall them.
        self.create_timer(0.1, guarded(self, self._check_timeout), callback_group=group, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"mapping node ready: input {self.settings['input_topic']}, "
                               f"world frame {self.world_frame}")

    # ------------------------------------------------------------------ input
    def _on_cloud(self, msg: PointCloud2) -> None:
        self.stats["received"] += 1
        t0 = time.perf_counter()
        try:
            frame = cloud_to_frame(msg, index=self.index)
        except PointCloud2Error as exc:
            self.stats["malformed"] += 1
            self.get_logger().warning(f"dropped a malformed PointCloud2 stamped {wire.stamp_ns(msg.header.stamp)} ns "
                                      f"on {self.settings['input_topic']}: {exc}")
            return
        self.index += 1
        self.pending.append((frame, msg.header, time.monotonic(), (time.perf_counter() - t0) * 1e3))
        limit = max(1, int(self.settings["max_pending"]))
        while len(self.pending) > limit:
            old = self.pending.popleft()[0]
            self.stats["skipped"] += 1
            self.get_logger().warning(f"skipped the cloud at {old.timestamp:.3f} s: the previous frame is still "
                                      "in flight (raise max_pending to queue more)")
        self._start_next()

    def _start_next(self) -> None:
        """Begin the next queued cloud, also while the last frame is tracked (once registered):
        its preprocessing and points then go out while perception tracks, and the map check
        waits for the last frame's finish. A cloud back in time waits for that finish."""
        while self.current is None and self.pending:
            overlap = self.registered is not None
            if overlap and self.pending[0][0].timestamp <= self.registered.start.timestamp:
                return  # it resets the map: once the registered frame is finished
            frame, cloud_header, received, decode_ms = self.pending.popleft()
            clock = FrameClock("mapping", self.seq + 1) if self._timing else None
            if clock is not None:  # both before the frame started (not part of its total)
                clock.add("queued", (time.monotonic() - received) * 1e3)
                clock.add("decode", decode_ms)
            t1 = time.perf_counter()
            waited = self.half.waited_ms
            try:
                start = self.half.begin(frame, overlap=overlap)
            except Exception as exc:  # noqa: BLE001 - a node never dies on input
                self.get_logger().error(f"frame at {frame.timestamp:.3f} s failed to start: {exc}")
                continue
            t2 = time.perf_counter()
            stamp = cloud_header.stamp
            if start.reset:
                self._on_reset(stamp)
            self.stats["overlapped"] += overlap
            self.seq += 1
            self.current = _InFlight(self.seq, stamp, cloud_header.frame_id, start,
                                     time.monotonic() + float(self.settings["lockstep_timeout"]), clock=clock,
                                     waited=waited)
            self.pub_points.publish(wire.frame_points(stamp, self.seq, start.points, start.times))
            t3 = time.perf_counter()
            self.pub_start.publish(wire.frame_start(stamp, self.seq, start.guess, start.use_map, start.reset))
            if clock is not None:
                clock.add("begin", (t2 - t1) * 1e3)
                clock.add("points", (t3 - t2) * 1e3)
                clock.add("wire", (time.perf_counter() - t3) * 1e3)

    def _on_reset(self, stamp: Any) -> None:
        self.stats["resets"] += 1
        self.path.clear()
        self._published_frame = 0
        self._last_update = self._last_full = self._last_path = None
        self._due = self._owed_whole = None
        self._settle_snapshot()  # the old map must not follow the empty one
        header = Header(stamp=stamp, frame_id=self.world_frame)
        self.pub_map.publish(outputs.cloud(header, np.zeros((0, 3))))

    # ------------------------------------------------------------------ lockstep
    def _current(self, msg: Any) -> _InFlight | None:
        """The current frame, if ``msg`` is about it."""
        cur = self.current
        return cur if cur is not None and wire.seq_of(msg) == cur.seq else None

    def _held_back(self, handler: Any, msg: PointCloud2) -> bool:
        """Hold a message about the current frame while the last frame is not finished (its
        map check and registration come after that finish); True when held."""
        if self.registered is None:
            return False
        self._held.append((handler, msg))
        return True

    def _on_query(self, msg: PointCloud2) -> None:
        cur = self._current(msg)
        if cur is None or self._held_back(self._on_query, msg):
            return
        t0 = time.perf_counter()
        free, occupied = self.half.evidence(wire.read_points(msg))
        self.pub_evidence.publish(wire.evidence(msg.header.stamp, cur.seq, free, occupied))
        if cur.clock is not None:
            cur.clock.add("evidence", (time.perf_counter() - t0) * 1e3)
        self._publish_due()  # the map is settled now; the perception node is still detecting

    def _on_believed_dynamic(self, msg: PointCloud2) -> None:
        cur = self._current(msg)
        if cur is None or self._held_back(self._on_believed_dynamic, msg):
            return
        t0 = time.perf_counter()
        mask = wire.read_mask(msg, len(cur.start.points))
        if mask is None or len(mask) != len(cur.start.points):
            self._abort(f"perception could not process the frame at {cur.start.timestamp:.3f} s"
                        + ("" if mask is None else f" (mask of {len(mask)} points for {len(cur.start.points)})"))
            return
        t1 = time.perf_counter()
        try:
            cur.pose = self.half.register(cur.start, mask)
        except Exception as exc:  # noqa: BLE001
            self._abort(f"registration failed at {cur.start.timestamp:.3f} s: {exc}")
            return
        t2 = time.perf_counter()
        cur.deadline = time.monotonic() + float(self.settings["lockstep_timeout"])
        self.registered, self.current = cur, None
        self.pub_pose.publish(wire.pose(cur.msg_stamp, cur.seq, cur.pose))
        t3 = time.perf_counter()
        header = Header(stamp=cur.msg_stamp, frame_id=self.world_frame)
        self.pub_odometry.publish(outputs.odometry(header, cur.frame_id, cur.pose))
        self.path.append(cur.msg_stamp, cur.pose)
        if cur.clock is not None:
            cur.clock.add("wire", (t1 - t0 + t3 - t2) * 1e3)
            cur.clock.add("register", (t2 - t1) * 1e3)
            cur.clock.add("outputs", (time.perf_counter() - t3) * 1e3)
        self._start_next()  # a queued cloud begins while perception tracks
        self._publish_due()  # when no map query came in this frame

    def _on_dynamic(self, msg: PointCloud2) -> None:
        cur = self.registered
        if cur is None or wire.seq_of(msg) != cur.seq:
            return
        t0 = time.perf_counter()
        mask = wire.read_mask(msg, len(cur.start.points))
        if cur.clock is not None:
            cur.clock.add("wire", (time.perf_counter() - t0) * 1e3)
        if mask is None or len(mask) != len(cur.start.points):
            self.get_logger().error(f"no dynamic mask for the frame at {cur.start.timestamp:.3f} s; "
                                    "mapping it as all static")
            mask = np.zeros(len(cur.start.points), dtype=bool)
        self._finish(cur, mask)

    def _finish(self, cur: _InFlight, dynamic: np.ndarray) -> None:
        t0 = time.perf_counter()
        try:
            self.half.finish(cur.start, cur.pose, dynamic)
            self._due = (cur.msg_stamp, cur.start.timestamp)
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"mapping the frame at {cur.start.timestamp:.3f} s failed: {exc}")
        self.stats["processed"] += 1
        self.registered = None
        if cur.clock is not None:
            cur.clock.add("finish", (time.perf_counter() - t0) * 1e3)
            before = cur.clock.ms.get("queued", 0.0) + cur.clock.ms.get("decode", 0.0)
            cur.clock.add("idle", cur.clock.total() - sum(cur.clock.ms.values()) + before)
            # Of the phases above, the time spent waiting for the map's background work (a part of the
            # step, not of the node).
            cur.clock.add("map_wait", self.half.waited_ms - cur.waited)
            self.get_logger().info(cur.clock.line())
        held, self._held = self._held, []
        for handler, msg in held:  # the current frame's messages that waited for this finish
            handler(msg)
        self._start_next()

    def _abort(self, why: str) -> None:
        """Drop the current frame (not registered)."""
        self.get_logger().warning(f"{why}; frame dropped")
        self.stats["aborted"] += 1
        self.current = None
        self._held.clear()
        self._start_next()

    def _check_timeout(self) -> None:
        if self.current is None and self.registered is None:
            self._publish_due()  # no next frame came: the last frame's path and map go out now
            self._publish_whole()  # a subscriber that came since gets the whole map now
            return
        reg = self.registered
        if reg is not None and time.monotonic() >= reg.deadline:
            self.get_logger().error(f"no dynamic mask within {self.settings['lockstep_timeout']} s for the frame "
                                    f"at {reg.start.timestamp:.3f} s; mapping it as all static")
            self._finish(reg, np.zeros(len(reg.start.points), dtype=bool))
        cur = self.current
        if cur is not None and self.registered is None and time.monotonic() >= cur.deadline:
            self._abort(f"no answer from perception within {self.settings['lockstep_timeout']} s "
                        f"for the frame at {cur.start.timestamp:.3f} s")

    # ------------------------------------------------------------------ map and path
    def _publish_due(self) -> None:
        """The path and the map of the last finished frame, when due. Called in the next frame once
        its map query is answered (the map's background integration is over and the perception node
        is still detecting), or after its registration; the time counts in that frame's budget as
        ``publish``."""
        if self._due is None:
            return
        (stamp, t), self._due = self._due, None
        t0 = time.perf_counter()
        try:
            if self._last_path is None or t - self._last_path >= float(self.settings["path_period"]):
                self.pub_path.publish(self.path.serialized())
                self._last_path = t
            self._publish_map(stamp, t)
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"publishing the map of the frame at {t:.3f} s failed: {exc}")
        if self.current is not None and self.current.clock is not None:
            self.current.clock.add("publish", (time.perf_counter() - t0) * 1e3)

    def _publish_map(self, stamp: Any, t: float) -> None:
        """Voxels new since the last update every ``map_update_period`` s of input time, and the
        whole map every ``map_full_period`` s (throttled: never the whole map every frame)."""
        header = Header(stamp=stamp, frame_id=self.world_frame)
        if self._last_update is None or t - self._last_update >= float(self.settings["map_update_period"]):
            static_map = self.half.map
            fresh = static_map.kept_since(self._published_frame)
            self._published_frame = static_map.frames
            self.pub_updates.publish(outputs.cloud(header, fresh))
            self._last_update = t
        if self._owed_whole is not None or self._last_full is None \
                or t - self._last_full >= float(self.settings["map_full_period"]):
            self._owed_whole = header  # the map of this frame, not of the frame it fell due at
            self._last_full = t
            self._publish_whole()

    def _publish_whole(self) -> None:
        """Start publishing the whole map owed, unless the topic has no subscriber (the map is
        the largest message by far: no work for nobody; one that subscribes later gets it at
        the next frame, or within a timer tick when input has stopped) or the last whole map
        is still being published."""
        if self._owed_whole is None or self.pub_map.get_subscription_count() == 0:
            return
        if self._snapshot is None or self._snapshot.done():
            header, self._owed_whole = self._owed_whole, None
            self._snapshot = self._snapshots.submit(self._publish_snapshot, header, self.half.map.snapshot())

    def _publish_snapshot(self, header: Header, snapshot: StaticMap) -> None:
        """Publish every kept voxel of ``snapshot`` (on the snapshot thread). It pauses after each
        part of the map, so it takes at most SNAPSHOT_SHARE of a core from the frames."""
        try:
            msg = outputs.cloud(header, self._paced(snapshot.kept_parts(0)))
            if not self._stop_snapshot.is_set():  # else dropped: a reset, or the node stops
                self.pub_map.publish(msg)
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"publishing the whole map failed: {exc}")

    def _paced(self, parts: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """``parts``, pausing after each so that making it and taking it into the message take
        at most SNAPSHOT_SHARE of a core; they end early when the snapshot is dropped."""
        start = time.perf_counter()
        for part in parts:
            yield part
            if self._stop_snapshot.wait((time.perf_counter() - start) * (1 / SNAPSHOT_SHARE - 1)):
                return
            start = time.perf_counter()

    def _settle_snapshot(self) -> None:
        """Drop the whole map being published, if any, and wait until its thread is done."""
        if self._snapshot is not None:
            self._stop_snapshot.set()
            self._snapshot.result()
            self._stop_snapshot.clear()
            self._snapshot = None

    def destroy_node(self) -> None:
        if hasattr(self, "_snapshots"):  # not when the node failed to start
            self._settle_snapshot()
            self._snapshots.shutdown()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Console script ``s2mat_mapping``."""
    from s2mat_ros.graph import spin_nodes

    spin_nodes([MappingNode], args)


if __name__ == "__main__":
    main()
