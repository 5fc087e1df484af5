"""The per-frame exchange between the mapping and perception nodes (see the package README).

Every internal message is a ``sensor_msgs/PointCloud2`` used as a typed array carrier: its
``header.stamp`` is the stamp of the input cloud, ``header.frame_id`` is the frame's sequence
number given by the mapping node (stamps repeat when a replay loops; sequence numbers do not),
and its fields hold the arrays. No custom message package is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from s2mat import pointcloud2 as pc2

PREFIX = "/s2mat/internal"
FRAME_POINTS = f"{PREFIX}/frame_points"  # mapping -> perception: the valid points, deskewed, and their times
FRAME_START = f"{PREFIX}/frame_start"  # mapping -> perception: guess pose, use_map, reset
MAP_QUERY = f"{PREFIX}/map_query"  # perception -> mapping: world points to check
MAP_EVIDENCE = f"{PREFIX}/map_evidence"  # mapping -> perception: free and occupied counts
BELIEVED_DYNAMIC = f"{PREFIX}/believed_dynamic"  # perception -> mapping: mask over valid points
POSE = f"{PREFIX}/pose"  # mapping -> perception: registered world_T_sensor
DYNAMIC = f"{PREFIX}/dynamic"  # perception -> mapping: mask over valid points kept out of the maps

# Reliable and deep: a lost internal message would stall one frame until the timeout.
INTERNAL_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)

_START = np.dtype([("guess", "<f8", (16,)), ("use_map", "u1"), ("reset", "u1"), ("missing", "u1")])
_POSE = np.dtype([("pose", "<f8", (16,))])
_POINTS = np.dtype([("x", "<f8"), ("y", "<f8"), ("z", "<f8")])
_EVIDENCE = np.dtype([("free", "<i4"), ("occupied", "<i4")])
_BITS = np.dtype([("bits", "u1")])


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _blob(array: np.ndarray, stamp: Any, seq: int) -> Any:
    msg = pc2.encode(array, frame_id=str(seq), backend="rclpy")
    msg.header.stamp = stamp
    return msg


def seq_of(msg: Any) -> int:
    return int(msg.header.frame_id)


@dataclass
class StartMsg:
    seq: int
    guess: np.ndarray
    use_map: bool
    reset: bool
    missing: bool = False


def frame_start(stamp: Any, seq: int, guess: np.ndarray, use_map: bool, reset: bool) -> Any:
    row = np.zeros(1, dtype=_START)
    row["guess"][0] = np.asarray(guess, dtype=np.float64).reshape(16)
    row["use_map"], row["reset"] = use_map, reset
    return _blob(row, stamp, seq)


def read_frame_start(msg: Any) -> StartMsg:
    row = pc2.decode(msg)[0]
    return StartMsg(seq_of(msg), np.array(row["guess"], dtype=np.float64).reshape(4, 4), bool(row["use_map"]),
                    bool(row["reset"]))


def frame_points(stamp: Any, seq: int, points: np.ndarray, times: np.ndarray | None) -> Any:
    """The frame's valid points as the mapping half preprocessed them ((M, 3) sensor frame, metres,
    deskewed to the frame time with the guess; float32 x, y, z) and their per-point times
    (float32 seconds relative to the stamp, field ``time``) when the cloud has them."""
    names = ("x", "y", "z") + (() if times is None else ("time",))
    arr = np.empty(len(points), dtype=np.dtype([(n, "<f4") for n in names]))
    arr["x"], arr["y"], arr["z"] = points[:, 0], points[:, 1], points[:, 2]
    if times is not None:
        arr["time"] = times
    return _blob(arr, stamp, seq)


def read_frame_points(msg: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(points (M, 3) float32, times (M,) float32 or None)`` of a :func:`frame_points` message."""
    arr = pc2.decode(msg)
    points = np.empty((len(arr), 3), dtype=np.float32)
    points[:, 0], points[:, 1], points[:, 2] = arr["x"], arr["y"], arr["z"]
    times = np.array(arr["time"], dtype=np.float32) if "time" in (arr.dtype.names or ()) else None
    return points, times


def pose(stamp: Any, seq: int, world_T_sensor: np.ndarray) -> Any:
    row = np.zeros(1, dtype=_POSE)
    row["pose"][0] = np.asarray(world_T_sensor, dtype=np.float64).reshape(16)
    return _blob(row, stamp, seq)


def read_pose(msg: Any) -> np.ndarray:
    return np.array(pc2.decode(msg)[0]["pose"], dtype=np.float64).reshape(4, 4)


def points(stamp: Any, seq: int, xyz: np.ndarray) -> Any:
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    arr = np.zeros(len(xyz), dtype=_POINTS)
    arr["x"], arr["y"], arr["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    return _blob(arr, stamp, seq)


def read_points(msg: Any) -> np.ndarray:
    arr = pc2.decode(msg)
    return np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)


def evidence(stamp: Any, seq: int, free: np.ndarray, occupied: np.ndarray) -> Any:
    arr = np.zeros(len(free), dtype=_EVIDENCE)
    arr["free"], arr["occupied"] = free, occupied
    return _blob(arr, stamp, seq)


def read_evidence(msg: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = pc2.decode(msg)
    return arr["free"].astype(np.int64), arr["occupied"].astype(np.int64)


def mask(stamp: Any, seq: int, values: np.ndarray | None) -> Any:
    """A boolean mask over the frame's valid points, 8 to a byte (``np.packbits``, first point in
    the high bit); ``None`` says the frame cannot be processed (zero width, ``is_dense`` false)."""
    packed = np.zeros(0, dtype=np.uint8) if values is None else np.packbits(np.asarray(values, dtype=bool))
    msg = _blob(packed.view(_BITS), stamp, seq)
    msg.is_dense = values is not None
    return msg


def read_mask(msg: Any, count: int) -> np.ndarray | None:
    """The (count,) bool mask of a :func:`mask` message, or ``None`` for "cannot be processed".
    A message of another size gives a mask of ``8 * bytes`` values (the caller's length check fails)."""
    if not msg.is_dense:
        return None
    bits = pc2.decode(msg)["bits"]
    if len(bits) != (count + 7) // 8:
        return np.unpackbits(bits).astype(bool)
    return np.unpackbits(bits, count=count).astype(bool)
