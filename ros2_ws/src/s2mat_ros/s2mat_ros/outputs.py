"""Output messages of the nodes: odometry, path poses, clouds, track markers and the track list.

Stamps are always the input cloud's stamp; poses, map and tracks are in the world frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, PoseStamped, Quaternion, Vector3
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


def pose_stamped(header: Header, world_T_sensor: np.ndarray) -> PoseStamped:
    msg = PoseStamped(header=header)
    t = world_T_sensor[:3, 3]
    msg.pose.position = Point(x=float(t[0]), y=float(t[1]), z=float(t[2]))
    msg.pose.orientation = _quaternion(world_T_sensor[:3, :3])
    return msg


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
