"""rclpy message classes by type name, and stamps."""

from __future__ import annotations

import importlib
from typing import Any


def message_class(msgtype: str) -> Any:
    """The rclpy class of ``pkg/msg/Name``; raises ``LookupError`` when the package is missing."""
    package, kind, name = msgtype.split("/")
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError):
        raise LookupError(f"message type {msgtype} is not installed (pip package ros-{package.replace('_', '-')})") from None


def to_time_msg(nanoseconds: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=int(nanoseconds // 1_000_000_000), nanosec=int(nanoseconds % 1_000_000_000))
