"""rosbag2 (``.mcap`` and ``.db3``) reading and writing with ``rosbags``; no ROS install needed."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from s2mat import pointcloud2
from s2mat.datasets.base import IndexedDataset
from s2mat.datasets.gt_boxes import BOXES_FILENAME, read_boxes
from s2mat.errors import DatasetError, OutputExistsError, PointCloud2Error
from s2mat.messages import typestore
from s2mat.types import CameraModel, Frame, FrameGroundTruth

log = logging.getLogger(__name__)

POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
ODOMETRY = "nav_msgs/msg/Odometry"
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
Storage = Literal["mcap", "sqlite3"]
_PARTNER_WINDOW_NS = 500_000_000  # how long after a cloud its pose and image may still arrive


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (``metadata.yaml``) or a single ``.mcap`` / ``.db3`` file."""
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or (
        path.is_file() and path.suffix in (".mcap", ".db3")
    )


def open_reader(path: Path) -> Any:
    from rosbags.highlevel import AnyReader

    reader = AnyReader([path], default_typestore=typestore())
    try:
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for a broken bag
        raise DatasetError(f"{path}: cannot open as a rosbag2 ({type(exc).__name__}: {exc})") from None
    return reader


def pose_from_odometry(msg: Any) -> np.ndarray:
    """4x4 pose of a ``nav_msgs/Odometry`` message."""
    from scipy.spatial.transform import Rotation

    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    pose[:3, 3] = [p.x, p.y, p.z]
    return pose


class RosbagDataset(IndexedDataset):
    """Frames of one ``PointCloud2`` topic of a rosbag2, with optional ground truth.

    Ground-truth poses come from a ``nav_msgs/Odometry`` topic whose name contains
    ``ground_truth``, matched to clouds by header stamp; camera frames from the one
    ``Image`` + ``CameraInfo`` pair, matched by stamp; boxes from ``boxes.jsonl`` in the
    bag folder. Malformed clouds are logged and skipped.
    """

    name = "rosbag2"

    def __init__(self, path: str | os.PathLike[str], topic: str | None = None) -> None:
        super().__init__(Path(path))
        reader = open_reader(self.path)
        try:
            clouds = {c.topic: c for c in reader.connections if c.msgtype == POINTCLOUD2}
            if not clouds:
                listing = ", ".join(f"{c.topic} ({c.msgtype})" for c in reader.connections) or "none"
                raise DatasetError(f"{self.path}: the bag has no sensor_msgs/msg/PointCloud2 topic (topics: {listing})")
            if topic is None:
                if len(clouds) > 1:
                    raise DatasetError(
                        f"{self.path}: the bag has several PointCloud2 topics ({', '.join(sorted(clouds))}); "
                        "choose one with --topic"
                    )
                topic = next(iter(clouds))
            elif topic not in clouds:
                raise DatasetError(f"{self.path}: no PointCloud2 topic {topic!r} (have: {', '.join(sorted(clouds))})")
            self.topic = topic
            self._count = sum(c.msgcount for c in reader.connections if c.topic == topic)
            self._gt_topic = next((c.topic for c in reader.connections
                                   if c.msgtype == ODOMETRY and "ground_truth" in c.topic), None)
            images = [c.topic for c in reader.connections if c.msgtype == IMAGE]
            infos = [c.topic for c in reader.connections if c.msgtype == CAMERA_INFO]
            self._camera_topics = (images[0], infos[0]) if len(images) == 1 and len(infos) == 1 else None
            self.duration = (reader.end_time - reader.start_time) * 1e-9 if self._count else 0.0
        finally:
            reader.close()
        boxes_file = (self.path if self.path.is_dir() else self.path.parent) / BOXES_FILENAME
        self._boxes = read_boxes(boxes_file) if boxes_file.is_file() else None
        self._gt_poses: np.ndarray | None = None
        self._cache: list[Frame] | None = None

    def __len__(self) -> int:
        return self._count

    def _stream(self) -> Iterator[Frame]:
        reader = open_reader(self.path)
        try:
            wanted = {self.topic} | ({self._gt_topic} if self._gt_topic else set()) | set(self._camera_topics or ())
            conns = [c for c in reader.connections if c.topic in wanted]
            poses: dict[int, np.ndarray] = {}
            images: dict[int, np.ndarray] = {}
            camera: CameraModel | None = None
            pending: list[tuple[Frame, int]] = []
            index = 0
            for conn, log_ns, raw in reader.messages(connections=conns):
                try:
                    msg = reader.deserialize(raw, conn.msgtype)
                except Exception as exc:  # a corrupt message must not end the read
                    log.warning("%s: dropped an undecodable %s message on %s (%s)", self.path, conn.msgtype, conn.topic, exc)
                    continue
                stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                if conn.topic == self.topic:
                    try:
                        frame = pointcloud2.to_frame(msg, index=index)
                    except PointCloud2Error as exc:
                        log.warning("%s: dropped a malformed PointCloud2 on %s at %d ns: %s", self.path, conn.topic, stamp_ns, exc)
                        continue
                    index += 1
                    pending.append((frame, stamp_ns))
                elif conn.topic == self._gt_topic:
                    poses[stamp_ns] = pose_from_odometry(msg)
                elif self._camera_topics and conn.topic == self._camera_topics[0]:
                    images[stamp_ns] = _image_array(msg)
                elif self._camera_topics and conn.topic == self._camera_topics[1] and camera is None:
                    camera = _camera_model(msg)
                # A frame is complete once its partners (pose, image) arrived or the bag moved on.
                while pending and (self._complete(pending[0][1], poses, images, camera)
                                   or log_ns - pending[0][1] > _PARTNER_WINDOW_NS):
                    yield self._attach(*pending.pop(0), poses, images, camera)
            while pending:
                yield self._attach(*pending.pop(0), poses, images, camera)
        finally:
            reader.close()

    def _complete(self, stamp_ns: int, poses: dict, images: dict, camera: CameraModel | None) -> bool:
        if self._gt_topic and stamp_ns not in poses:
            return False
        return not self._camera_topics or (stamp_ns in images and camera is not None)

    def _attach(self, frame: Frame, stamp_ns: int, poses: dict, images: dict, camera: CameraModel | None) -> Frame:
        pose = poses.pop(stamp_ns, None)
        if self._boxes is not None or pose is not None:
            frame.ground_truth = FrameGroundTruth(pose=pose, boxes=(self._boxes or {}).get(frame.index, []))
        image = images.pop(stamp_ns, None)
        if image is not None and camera is not None:
            frame.image, frame.camera = image, camera
        return frame

    def __iter__(self) -> Iterator[Frame]:
        if self._cache is not None:
            yield from self._cache
            return
        yield from self._stream()

    def _read(self, index: int) -> Frame:
        for frame in self._stream():
            if frame.index == index:
                return frame
        raise IndexError(f"frame {index} not found in {self.path} (malformed messages were skipped)")

    def gt_poses(self) -> np.ndarray | None:
        if self._gt_topic is None:
            return None
        if self._gt_poses is None:
            poses = [f.ground_truth.pose for f in self._stream() if f.ground_truth is not None and f.ground_truth.pose is not None]
            if not poses:
                return None
            self._gt_poses = np.stack(poses)
        return self._gt_poses


def _camera_model(msg: Any) -> CameraModel:
    """A pinhole model from ``CameraInfo``. The extrinsics are not in the message; they stay
    identity until the reader finds a ``/tf_static`` transform between the two frames."""
    return CameraModel(K=np.asarray(msg.k, dtype=np.float64).reshape(3, 3), width=int(msg.width),
                       height=int(msg.height), camera_T_lidar=np.eye(4))


def _image_array(msg: Any) -> np.ndarray:
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise PointCloud2Error(f"image encoding {msg.encoding!r} is not rgb8, bgr8 or mono8")
    image = data[: msg.height * msg.step].reshape(msg.height, msg.step)[:, : msg.width * channels]
    image = image.reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        image = image[..., ::-1]
    if channels == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


class BagWriter:
    """Write a rosbag2 atomically: messages go to a temporary folder renamed on success.

    >>> with BagWriter(out, storage="mcap") as bag:
    ...     bag.write("/points", msg, timestamp_ns)
    """

    def __init__(self, path: str | os.PathLike[str], *, storage: Storage = "mcap", overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise OutputExistsError(f"{self.path} already exists; choose another path or allow overwriting")
        if storage not in ("mcap", "sqlite3"):
            raise ValueError(f"unknown bag storage {storage!r}; use 'mcap' or 'sqlite3'")
        self.storage = storage
        self._tmpdir: Path | None = None
        self._writer: Any = None
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmpdir = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}."))
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._tmpdir / self.path.name, version=9, storage_plugin=plugin)
        self._writer.open()
        return self

    def write(self, topic: str, msg: Any, timestamp_ns: int) -> None:
        """Serialize ``msg`` (a rosbags message) and append it to ``topic``."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msg.__msgtype__, typestore=typestore())
            self._connections[topic] = conn
        self._writer.write(conn, int(timestamp_ns), typestore().serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, topic: str, msgtype: str, data: bytes, timestamp_ns: int) -> None:
        """Append an already serialized CDR message."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        self._writer.write(conn, int(timestamp_ns), data)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._tmpdir is not None
        try:
            if exc_type is None:
                self._writer.close()
                if self.path.exists():
                    shutil.rmtree(self.path)
                os.replace(self._tmpdir / self.path.name, self.path)
            else:
                self._writer.abort() if hasattr(self._writer, "abort") else None
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def write_pointcloud_bag(path: str | os.PathLike[str], frames: Iterable[Frame], *, topic: str = "/points",
                         frame_id: str = "lidar", storage: Storage = "mcap", overwrite: bool = False) -> Path:
    """Write frames as ``PointCloud2`` messages (x, y, z, intensity, time) into a new rosbag2."""
    with BagWriter(path, storage=storage, overwrite=overwrite) as bag:
        for frame in frames:
            msg = pointcloud2.from_frame(frame, frame_id=frame_id, backend="rosbags")
            bag.write(topic, msg, round(frame.timestamp * 1e9))
    return Path(path)
