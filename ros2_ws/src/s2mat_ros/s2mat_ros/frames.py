"""Input clouds to frames: malformed clouds are reported as :class:`s2mat.errors.PointCloud2Error`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from s2mat import pointcloud2 as pc2
from s2mat.errors import PointCloud2Error
from s2mat.types import Frame


def cloud_to_frame(msg: Any, index: int = 0) -> Frame:
    """The frame of an input ``PointCloud2``; raises ``PointCloud2Error`` for a cloud that cannot be
    decoded, has no points, or has no finite point. Clouds with some non-finite points are kept
    (the loop's preprocessing drops those points, as offline)."""
    frame = pc2.to_frame(msg, index=index)
    if len(frame) == 0:
        raise PointCloud2Error("the cloud has no points")
    x, y, z = frame.points.T
    finite = np.isfinite(x)  # per column: a reduction along a length-3 axis is over ten times slower
    finite &= np.isfinite(y)
    finite &= np.isfinite(z)
    if not finite.any():
        raise PointCloud2Error(f"none of the {len(frame)} points has finite x, y, z")
    return frame


def guarded(node: Any, callback: Callable[..., None]) -> Callable[..., None]:
    """``callback`` with every exception logged on ``node`` instead of ending the executor."""

    def run(*args: Any) -> None:
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - a node never dies on input
            node.get_logger().error(f"{getattr(callback, '__name__', 'callback')} failed: {type(exc).__name__}: {exc}")

    return run
