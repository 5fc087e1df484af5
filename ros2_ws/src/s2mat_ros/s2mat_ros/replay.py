"""Replay a rosbag2 into a live ROS 2 graph: raw serialized messages at recorded timing, with ``/clock``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from s2mat.datasets.rosbag import open_reader
from s2mat.errors import DatasetError
from s2mat_ros.messages import message_class, to_time_msg

log = logging.getLogger(__name__)

CLOCK_PERIOD_NS = 10_000_000  # /clock at 100 Hz of bag time, and with every message


@dataclass
class ReplayOptions:
    """What to play and how fast. ``start`` and ``duration`` are seconds of bag time."""

    rate: float = 1.0
    loop: bool = False
    start: float = 0.0
    duration: float | None = None
    topics: Sequence[str] | None = None
    clock: bool = True
    delay: float = 0.0  # wall seconds to wait after creating publishers, so subscribers discover them
    wait_for: dict[str, int] = field(default_factory=dict)  # topic -> matched subscriptions to wait for
    wait_timeout: float = 60.0  # wall seconds to wait for them at most

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if self.start < 0 or (self.duration is not None and self.duration <= 0) or self.delay < 0:
            raise ValueError("start and delay must be >= 0 and duration > 0")


class BagPlayer:
    """Publishes the messages of a bag through ``node`` at bag timing scaled by ``rate``.

    Messages are forwarded as the serialized bytes stored in the bag (no decode/encode).
    Publishers are reliable with a deep queue, so both reliable and best-effort
    subscribers receive them; ``/tf_static`` is transient-local as usual.
    """

    def __init__(self, node: Node, bag: str | Path, options: ReplayOptions | None = None) -> None:
        self.node = node
        self.bag = Path(bag)
        self.options = options or ReplayOptions()
        reader = open_reader(self.bag)
        try:
            connections = list(reader.connections)
            self.start_ns, self.end_ns = reader.start_time, reader.end_time
        finally:
            reader.close()
        wanted = set(self.options.topics) if self.options.topics else None
        missing = set(self.options.wait_for) - {c.topic for c in connections if wanted is None or c.topic in wanted}
        if missing:
            raise DatasetError(f"{self.bag}: cannot wait for subscribers of {', '.join(sorted(missing))}: "
                               "the replay does not publish it")
        if wanted:
            unknown = wanted - {c.topic for c in connections}
            if unknown:
                have = ", ".join(sorted({c.topic for c in connections}))
                raise DatasetError(f"{self.bag}: no topic {', '.join(sorted(unknown))} (have: {have})")
        self.connections = [c for c in connections if wanted is None or c.topic in wanted]
        self.publishers: dict[str, Any] = {}
        for conn in self.connections:
            if conn.topic in self.publishers:
                continue
            durability = DurabilityPolicy.TRANSIENT_LOCAL if conn.topic == "/tf_static" else DurabilityPolicy.VOLATILE
            qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=durability)
            self.publishers[conn.topic] = node.create_publisher(message_class(conn.msgtype), conn.topic, qos)
        self.clock_publisher = None
        if self.options.clock:
            from rosgraph_msgs.msg import Clock

            self.clock_publisher = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        self.published = 0

    def wait_for_subscribers(self) -> None:
        """Block until every ``wait_for`` topic has its number of matched subscriptions, so no
        message is published before the receivers' data path exists; raises ``TimeoutError``."""
        deadline = time.monotonic() + self.options.wait_timeout
        for topic, count in self.options.wait_for.items():
            while self.publishers[topic].get_subscription_count() < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic} has {self.publishers[topic].get_subscription_count()} of "
                                       f"{count} subscriptions after {self.options.wait_timeout:g} s")
                time.sleep(0.05)

    def drain(self, timeout: float) -> bool:
        """Wait at most ``timeout`` wall seconds until the reliable subscribers acknowledged every
        message published, so a replay that exits right after its last message loses none of
        them; False when some were still unacknowledged then."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout
        publishers = [*self.publishers.values(), *([self.clock_publisher] if self.clock_publisher else [])]
        for publisher in publishers:
            left = max(0.0, deadline - time.monotonic())
            if not publisher.wait_for_all_acked(Duration(nanoseconds=round(left * 1e9))):
                return False
        return True

    @property
    def window(self) -> tuple[int, int]:
        """First and last bag time played, nanoseconds."""
        first = self.start_ns + round(self.options.start * 1e9)
        last = self.end_ns if self.options.duration is None else first + round(self.options.duration * 1e9)
        return first, min(last, self.end_ns)

    def _publish_clock(self, bag_ns: int) -> None:
        if self.clock_publisher is not None:
            from rosgraph_msgs.msg import Clock

            self.clock_publisher.publish(Clock(clock=to_time_msg(bag_ns)))

    def play_once(self, on_progress: Callable[[int], None] | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> int:
        """Play the window once; returns the number of messages published."""
        first, last = self.window
        reader = open_reader(self.bag)
        count = 0
        try:
            wall0 = time.monotonic()
            next_clock = first
            topics = {c.topic for c in self.connections}
            connections = [c for c in reader.connections if c.topic in topics]
            for conn, bag_ns, raw in reader.messages(connections=connections, start=first, stop=last + 1):
                target = wall0 + (bag_ns - first) * 1e-9 / self.options.rate
                # Sleep until the message is due, ticking /clock meanwhile.
                while True:
                    now = time.monotonic()
                    if should_stop():
                        return count
                    clock_due = wall0 + (next_clock - first) * 1e-9 / self.options.rate
                    if self.clock_publisher is not None and next_clock < bag_ns and clock_due <= now:
                        self._publish_clock(next_clock)
                        next_clock += CLOCK_PERIOD_NS
                        continue
                    if now >= target:
                        break
                    wake = min(target, clock_due) if self.clock_publisher is not None else target
                    time.sleep(max(0.0, min(wake - now, 0.05)))
                if self.clock_publisher is not None and bag_ns >= next_clock:
                    self._publish_clock(bag_ns)
                    next_clock = bag_ns + CLOCK_PERIOD_NS
                self.publishers[conn.topic].publish(bytes(raw))
                count += 1
                self.published += 1
                if on_progress is not None:
                    on_progress(bag_ns - first)
        finally:
            reader.close()
        return count

    def play(self, on_progress: Callable[[int], None] | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> int:
        """Play the window once, or until ``should_stop`` when looping (time jumps back each loop)."""
        time.sleep(self.options.delay)
        self.wait_for_subscribers()
        total = self.play_once(on_progress, should_stop)
        while self.options.loop and not should_stop():
            total += self.play_once(on_progress, should_stop)
        return total
