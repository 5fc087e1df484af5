"""ROS 2 message types for bag files, from the ``rosbags`` type store (no ROS install needed)."""

from __future__ import annotations

from functools import cache
from typing import Any

from rosbags.typesys import Stores, get_typestore

# s2mat talks to ROS 2 Kilted nodes; its message definitions are the ones bags are written with.
STORE = Stores.ROS2_KILTED


@cache
def typestore() -> Any:
    """The shared rosbags type store."""
    return get_typestore(STORE)


def msg_class(msgtype: str) -> Any:
    """The rosbags class of ``msgtype`` (e.g. ``"sensor_msgs/msg/PointCloud2"``)."""
    return typestore().types[msgtype]
