"""The ``annotator`` node: commonsense annotations of the perception node's confirmed tracks.

Subscribes: ``/s2mat/tracks/list`` (the JSON track list, with the sensor pose), the current
scan's ``/s2mat/points/static`` and ``/s2mat/points/dynamic`` (world frame; the LiDAR view of
a track is rendered from the points inside its box), and optionally a camera:
``camera_topic`` (``sensor_msgs/Image``, rgb8/bgr8/rgba8/bgra8/mono8) and
``camera_info_topic`` (``sensor_msgs/CameraInfo``), both on sensor-data QoS. The camera's
extrinsic ``camera_T_lidar`` (16 numbers, row-major 4x4) is a parameter, since TF messages
are not among the ROS 2 wheels; while it is empty the node uses LiDAR views only.

A frame whose track list and clouds are complete waits for its camera image while a camera is
live: until an image within ``camera_max_offset`` of its stamp arrives, an image later than
that shows none will, or ``camera_wait`` wall seconds pass (then it gets LiDAR views). Frames
are annotated in the order they complete, so the executor's callback order (clouds before a
camera image that arrived with them) never costs a frame its camera view.

Publishes ``/s2mat/annotations`` (``std_msgs/String``, reliable): one JSON object per newly
annotated track, as a line of ``annotations.jsonl`` of ``s2mat map`` plus the input
``stamp``. The per-track cache and the choice of view are :class:`s2mat.annotate.TrackAnnotator`'s.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from typing import Any

import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from s2mat import pointcloud2 as pc2
from s2mat.annotate import TrackAnnotator, assign_box_points, track_from_record
from s2mat.types import CameraModel, Frame
from s2mat_ros import wire
from s2mat_ros.frames import guarded
from s2mat_ros.params import ANNOTATOR_SETTINGS, declare_config, declare_settings

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
ANNOTATIONS_TOPIC = "/s2mat/annotations"
PENDING = 16  # frames kept while their track list and clouds come together
IMAGES = 30  # recent camera images kept for matching by stamp

#: Settings of the annotator node itself (not part of the s2mat configuration), with defaults.

_CHANNELS = {"rgb8": (3, None), "bgr8": (3, [2, 1, 0]), "rgba8": (4, [0, 1, 2]), "bgra8": (4, [2, 1, 0]),
             "mono8": (1, None)}


def image_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a ``sensor_msgs/Image``; raises ``ValueError`` for an encoding
    other than rgb8/bgr8/rgba8/bgra8/mono8 or a ``data`` shorter than ``height * step``."""
    if msg.encoding not in _CHANNELS:
        raise ValueError(f"image encoding {msg.encoding!r} is not one of {', '.join(_CHANNELS)}")
    channels, order = _CHANNELS[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if h <= 0 or w <= 0 or step < w * channels or len(data) < h * step:
        raise ValueError(f"image of {w}x{h} {msg.encoding} with step {step} has {len(data)} bytes of data")
    pixels = data[: h * step].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels if order is None else pixels[:, :, order])


class AnnotatorNode(Node):
    """Thin wrapper of :class:`s2mat.annotate.TrackAnnotator` (the model loads at start)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("annotator", **kwargs)
        self.settings = declare_settings(self, ANNOTATOR_SETTINGS)
        self.config = declare_config(self)
        self.annotator = TrackAnnotator(self.config.annotator)
        self.camera_T_lidar = self._extrinsic(self.settings["camera_T_lidar"])
        self.camera_info: tuple[np.ndarray, int, int] | None = None
        self.images: deque[tuple[int, Any]] = deque(maxlen=IMAGES)
        self.pending: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.waiting: deque[tuple[int, dict[str, Any], float]] = deque()  # complete frames, monotonic deadline
        self.frames = 0
        self.stats = {"lists": 0, "malformed": 0, "annotated_frames": 0, "annotations": 0, "camera_views": 0,
                      "images": 0, "camera_infos": 0}
        self._warned_extrinsic = False
        self.create_subscription(String, self.settings["tracks_topic"], guarded(self, self._on_tracks), RELIABLE)
        self.create_subscription(PointCloud2, "/s2mat/points/static", guarded(self, lambda m: self._on_cloud("static", m)),
                                 RELIABLE)
        self.create_subscription(PointCloud2, "/s2mat/points/dynamic",
                                 guarded(self, lambda m: self._on_cloud("dynamic", m)), RELIABLE)
        self.create_subscription(Image, self.settings["camera_topic"], guarded(self, self._on_image),
                                 qos_profile_sensor_data)
        self.create_subscription(CameraInfo, self.settings["camera_info_topic"], guarded(self, self._on_camera_info),
                                 qos_profile_sensor_data)
        self.pub = self.create_publisher(String, ANNOTATIONS_TOPIC, RELIABLE)
        # Wall-clock timer (also under use_sim_time) ending the wait of frames whose image never comes.
        self.create_timer(0.05, guarded(self, self._flush), clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"annotator node ready: tracks {self.settings['tracks_topic']}, camera "
                               f"{self.settings['camera_topic'] if self.camera_T_lidar is not None else 'off'}")

    def _extrinsic(self, values: Any) -> np.ndarray | None:
        values = list(values or [])
        if len(values) <= 1:
            return None
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (16,) or not np.isfinite(arr).all():
            self.get_logger().error(f"camera_T_lidar must be 16 finite numbers (row-major 4x4), got {len(values)}; "
                                    "camera views are off")
            return None
        return arr.reshape(4, 4)

    # ------------------------------------------------------------------ inputs
    def _on_image(self, msg: Image) -> None:
        self.stats["images"] += 1
        self.images.append((wire.stamp_ns(msg.header.stamp), msg))
        self._flush()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.stats["camera_infos"] += 1
        K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        if msg.width <= 0 or msg.height <= 0 or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            self.get_logger().warning(f"ignored a camera_info of {msg.width}x{msg.height} with K {K.ravel().tolist()}")
            return
        if self.camera_info is None:
            self.get_logger().info(f"camera calibration received: {msg.width}x{msg.height}")
        self.camera_info = (K, int(msg.width), int(msg.height))
        self._flush()

    def _slot(self, key: int) -> dict[str, Any]:
        slot = self.pending.setdefault(key, {})
        while len(self.pending) > PENDING:
            self.pending.popitem(last=False)
        return slot

    def _on_tracks(self, msg: String) -> None:
        self.stats["lists"] += 1
        try:
            record = json.loads(msg.data)
            stamp = record["stamp"]
            key = int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"])
            tracks = [track_from_record(t) for t in record["tracks"]]
            pose = np.asarray(record["sensor_pose"], dtype=np.float64).reshape(4, 4)
            if not np.isfinite(pose).all():
                raise ValueError("sensor_pose is not finite")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.stats["malformed"] += 1
            self.get_logger().warning(f"dropped a malformed track list on {self.settings['tracks_topic']}: "
                                      f"{type(exc).__name__}: {exc}")
            return
        slot = self._slot(key)
        slot.update(tracks=tracks, pose=pose, stamp=stamp)
        self._try(key)

    def _on_cloud(self, kind: str, msg: PointCloud2) -> None:
        key = wire.stamp_ns(msg.header.stamp)
        try:
            xyz = pc2.xyz(pc2.decode(msg)).astype(np.float64)
        except Exception as exc:  # noqa: BLE001 - a bad cloud is logged and dropped
            self.stats["malformed"] += 1
            self.get_logger().warning(f"dropped a malformed {kind} cloud stamped {key} ns: {exc}")
            xyz = np.zeros((0, 3))
        self._slot(key)[kind] = xyz[np.isfinite(xyz).all(axis=1)]
        self._try(key)

    # ------------------------------------------------------------------ one frame
    def _camera(self, key: int) -> tuple[np.ndarray | None, CameraModel | None]:
        if not self.images:
            return None, None
        if self.camera_T_lidar is None:
            if not self._warned_extrinsic:
                self._warned_extrinsic = True
                self.get_logger().warning("camera images arrive but camera_T_lidar is not set; using LiDAR views")
            return None, None
        if self.camera_info is None:
            return None, None
        offset, msg = min(((abs(stamp - key), m) for stamp, m in self.images), key=lambda item: item[0])
        if offset > float(self.settings["camera_max_offset"]) * 1e9:
            return None, None
        try:
            image = image_to_rgb(msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropped a camera image: {exc}")
            return None, None
        K, width, height = self.camera_info
        if image.shape[:2] != (height, width):
            self.get_logger().warning(f"camera image is {image.shape[1]}x{image.shape[0]} but camera_info says "
                                      f"{width}x{height}; image not used")
            return None, None
        return image, CameraModel(K=K, width=width, height=height, camera_T_lidar=self.camera_T_lidar)

    def _image_due(self, key: int) -> bool:
        """Whether the camera image (or camera_info) of the frame stamped ``key`` ns may still
        arrive: a camera is live and configured, no image is near the stamp, none is later."""
        if self.camera_T_lidar is None or not self.images:
            return False
        tolerance = float(self.settings["camera_max_offset"]) * 1e9
        stamps = [stamp for stamp, _ in self.images]
        if any(abs(stamp - key) <= tolerance for stamp in stamps):
            return self.camera_info is None
        return max(stamps) < key + tolerance

    def _try(self, key: int) -> None:
        slot = self.pending.get(key)
        if slot is None or not {"tracks", "static", "dynamic"} <= slot.keys():
            return
        del self.pending[key]
        self.waiting.append((key, slot, time.monotonic() + float(self.settings["camera_wait"])))
        self._flush()

    def _flush(self) -> None:
        """Annotate the complete frames, in order, whose camera image is in or no longer due."""
        while self.waiting:
            key, slot, deadline = self.waiting[0]
            if self._image_due(key) and time.monotonic() < deadline:
                return
            self.waiting.popleft()
            self._annotate(key, slot)

    def _annotate(self, key: int, slot: dict[str, Any]) -> None:
        pose, tracks = slot["pose"], slot["tracks"]
        world = np.concatenate([slot["static"], slot["dynamic"]])
        assign_box_points(tracks, world)
        sensor = (world - pose[:3, 3]) @ pose[:3, :3]  # world -> sensor frame
        image, camera = self._camera(key)
        frame = Frame(points=sensor, timestamp=key * 1e-9, index=self.frames, image=image, camera=camera)
        self.frames += 1
        try:
            records = self.annotator.step(frame, tracks, frame.points, pose)
        except Exception as exc:  # noqa: BLE001 - a node never dies on input
            self.get_logger().error(f"annotation failed on the frame stamped {key} ns: {type(exc).__name__}: {exc}")
            return
        self.stats["annotated_frames"] += bool(records)
        for record in records:
            self.stats["annotations"] += 1
            self.stats["camera_views"] += record["view"] == "camera"
            self.pub.publish(String(data=json.dumps({"stamp": slot["stamp"], **record}, separators=(",", ":"))))


def main(args: list[str] | None = None) -> None:
    """Console script ``s2mat_annotator``."""
    from s2mat_ros.graph import spin_nodes

    spin_nodes([AnnotatorNode], args)


if __name__ == "__main__":
    main()
