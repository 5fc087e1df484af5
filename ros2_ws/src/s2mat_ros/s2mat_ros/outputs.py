"""Output messages of the nodes: odometry, path poses, clouds, track markers and the track list.

Stamps are always the input cloud's stamp; poses, map and tracks are in the world frame.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Quaternion, Vector3
from nav_msgs.msg import Odometry
from scipy.spatial.transform import Rotation
from std_msgs.msg import ColorRGBA, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from perception.types import Track
from s2mat import pointcloud2 as pc2
from s2mat.outputs import track_record

# One colour per class, RGB 0..1; moving tracks are drawn opaque, stationary ones faint.
CLASS_COLOURS = {"car": (0.1, 0.5, 1.0), "pedestrian": (1.0, 0.3, 0.2), "cyclist": (1.0, 0.8, 0.1),
                 "other": (0.7, 0.7, 0.7)}
MARKER_NAMESPACES = ("boxes", "ids", "velocity", "labels")


def _quaternion(rotation: np.ndarray) -> Quaternion:
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def _yaw_quaternion(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=float(np.sin(yaw / 2)), w=float(np.cos(yaw / 2)))


def odometry(header: Header, child_frame: str, world_T_sensor: np.ndarray) -> Odometry:
    """``nav_msgs/Odometry`` of the sensor pose (pose only; twist left zero)."""
    msg = Odometry(header=header, child_frame_id=child_frame)
    t = world_T_sensor[:3, 3]
    msg.pose.pose.position = Point(x=float(t[0]), y=float(t[1]), z=float(t[2]))
    msg.pose.pose.orientation = _quaternion(world_T_sensor[:3, :3])
    return msg


def _pose_layout(name_length: int, start: int) -> np.dtype:
    """CDR layout of a ``geometry_msgs/PoseStamped`` whose ``frame_id`` takes ``name_length``
    bytes (NUL included), as a sequence element beginning ``start`` bytes into the stream:
    ``sec``, ``nanosec``, the string's length and bytes, zero padding to 8, then 7 float64."""
    at = -(-(start + 12 + name_length) // 8) * 8 - start  # the first float64, 8-aligned in the stream
    return np.dtype({"names": ["sec", "nanosec", "length", "frame_id", "position", "orientation"],
                     "formats": ["<i4", "<u4", "<u4", f"S{name_length}", ("<f8", 3), ("<f8", 4)],
                     "offsets": [0, 4, 8, 12, at, at + 24], "itemsize": at + 56})


class PathRecord:
    """The ``nav_msgs/Path`` of a run (its last ``limit`` poses), kept as the CDR bytes that a
    publisher sends (``publisher.publish(path.serialized())``): adding a pose costs the same at
    any length of the run, and a publication is one copy of the bytes. Built as messages, a
    path costs about 2.3 microseconds of held GIL per pose at each publication: 90 ms a second
    after an hour at 10 Hz.

    With one ``frame_id``, every pose is laid out alike, as it begins on a multiple of 8 bytes
    (each ends on a float64); only the first may begin 4 bytes past one, after the path's head."""

    def __init__(self, frame_id: str, limit: int) -> None:
        self.frame_id, self.limit = frame_id, int(limit)
        self._name = frame_id.encode() + b"\0"
        self._head = 12 + len(self._name) + (-len(self._name) % 4)  # stamp, frame_id, to the count
        self._dtype = _pose_layout(len(self._name), 0)
        self._first = _pose_layout(len(self._name), (self._head + 4) % 8)
        self.clear()

    def clear(self) -> None:
        """Forget every pose."""
        self._poses = np.zeros(64, self._dtype)  # zeros: the padding stays zero
        self._start = self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def append(self, stamp: Any, world_T_sensor: np.ndarray) -> None:
        """Add the pose stamped ``stamp`` (``builtin_interfaces/Time``); the oldest beyond
        ``limit`` is dropped."""
        if self._end == len(self._poses):  # full: the last poses move to a buffer twice their number
            kept = self._poses[max(self._start, self._end - self.limit + 1):self._end]
            self._poses = np.zeros(min(max(2 * len(kept), 64), 2 * self.limit), self._dtype)
            self._poses[:len(kept)] = kept
            self._start, self._end = 0, len(kept)
        pose = self._poses[self._end]  # a view: setting its fields writes the buffer
        pose["sec"], pose["nanosec"] = stamp.sec, stamp.nanosec
        pose["length"], pose["frame_id"] = len(self._name), self._name[:-1]
        pose["position"] = world_T_sensor[:3, 3]
        pose["orientation"] = Rotation.from_matrix(world_T_sensor[:3, :3]).as_quat()
        self._end += 1
        self._start = max(self._start, self._end - self.limit)

    def serialized(self) -> bytes:
        """The serialized ``nav_msgs/Path`` (little-endian CDR), stamped as its last pose."""
        poses = self._poses[self._start:self._end]
        stamp = (poses[-1]["sec"], poses[-1]["nanosec"]) if len(poses) else (0, 0)
        head = bytearray(4 + self._head + 4)
        head[1] = 1  # the encapsulation: CDR, little-endian
        struct.pack_into("<iII", head, 4, *stamp, len(self._name))
        head[16:16 + len(self._name)] = self._name
        struct.pack_into("<I", head, 4 + self._head, len(poses))
        parts = [head]
        if len(poses) and self._first != self._dtype:
            first = np.zeros(1, self._first)
            for name in self._dtype.names:
                first[name] = poses[:1][name]
            parts.append(first.view(np.uint8))
            poses = poses[1:]
        return b"".join([*parts, poses.view(np.uint8)])


def pose_matrix(pose: Any) -> np.ndarray:
    """4x4 matrix of a ``geometry_msgs/Pose``."""
    out = np.eye(4)
    q = pose.orientation
    out[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    out[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return out


_XYZ = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4")])


def cloud(header: Header, xyz: np.ndarray | Iterable[np.ndarray]) -> Any:
    """A ``PointCloud2`` with float32 x, y, z: the (N, 3) rows of ``xyz`` as they are, or of each
    of its parts in turn. Each part is copied once, into the message's data, and the message
    is not copied again, so a generator of parts can pause between them and leave nothing
    for the end but the publication."""
    msg = pc2.encode(np.empty(0, _XYZ), frame_id=header.frame_id, backend="rclpy")
    msg.header = header
    dense = True
    for part in [xyz] if isinstance(xyz, np.ndarray) else xyz:
        rows = np.ascontiguousarray(np.asarray(part).reshape(-1, 3), dtype="<f4")
        dense = dense and bool(np.isfinite(rows).all())
        msg.data.frombytes(rows.reshape(-1).view(np.uint8))
    msg.width, msg.row_step, msg.is_dense = len(msg.data) // _XYZ.itemsize, len(msg.data), dense
    return msg


def track_list(header: Header, tracks: Sequence[Track], world_T_sensor: np.ndarray | None = None) -> String:
    """The machine-readable track list: one JSON object per message (a JSON line):
    ``{"stamp": {"sec", "nanosec"}, "frame_id", "tracks": [track records as in tracks.jsonl]}``,
    plus ``"sensor_pose"`` (world_T_sensor, 4x4 nested lists) when given (the annotator node
    needs it to place the camera)."""
    record = {"stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
              "frame_id": header.frame_id, "tracks": [track_record(t) for t in tracks]}
    if world_T_sensor is not None:
        record["sensor_pose"] = [[float(v) for v in row] for row in np.asarray(world_T_sensor, dtype=np.float64)]
    return String(data=json.dumps(record, separators=(",", ":")))


def _colour(track: Track) -> ColorRGBA:
    r, g, b = CLASS_COLOURS.get(track.object_class.value, CLASS_COLOURS["other"])
    return ColorRGBA(r=r, g=g, b=b, a=0.8 if track.moving else 0.35)


def track_markers(header: Header, tracks: Sequence[Track]) -> MarkerArray:
    """Boxes, id texts, velocity arrows and class labels; a DELETEALL first clears the last frame's."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for track in tracks:
        box, tid = track.box, int(track.track_id)
        centre = Point(x=float(box.center[0]), y=float(box.center[1]), z=float(box.center[2]))
        colour = _colour(track)
        cube = Marker(header=header, ns="boxes", id=tid, type=Marker.CUBE, action=Marker.ADD, color=colour)
        cube.pose.position, cube.pose.orientation = centre, _yaw_quaternion(box.yaw)
        cube.scale = Vector3(x=float(box.size[0]), y=float(box.size[1]), z=float(box.size[2]))
        top = Point(x=centre.x, y=centre.y, z=centre.z + 0.5 * float(box.size[2]) + 0.4)
        text = Marker(header=header, ns="ids", id=tid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                      text=str(tid), color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0))
        text.pose.position, text.scale.z = top, 0.8
        label = Marker(header=header, ns="labels", id=tid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                       text=f"{track.object_class.value} {np.linalg.norm(track.velocity[:2]):.1f} m/s",
                       color=ColorRGBA(r=colour.r, g=colour.g, b=colour.b, a=1.0))
        label.pose.position, label.scale.z = Point(x=top.x, y=top.y, z=top.z + 0.8), 0.6
        arrow = Marker(header=header, ns="velocity", id=tid, type=Marker.ARROW, action=Marker.ADD, color=colour)
        v = np.asarray(track.velocity, dtype=float)
        arrow.points = [centre, Point(x=centre.x + float(v[0]), y=centre.y + float(v[1]),
                                      z=centre.z + float(v[2]) if len(v) > 2 else centre.z)]
        arrow.scale = Vector3(x=0.15, y=0.3, z=0.3)
        markers += [cube, text, label, arrow]
    return MarkerArray(markers=markers)
