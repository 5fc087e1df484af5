"""Write a simulated sequence as KITTI / SemanticKITTI, the DynamicMap benchmark layout, or rosbag2.

Every writer builds the whole output in a hidden sibling folder and renames it into place at
the end, so a failed or interrupted run leaves nothing half-written. An existing non-empty
output folder is refused unless ``overwrite`` is given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from s2mat.datasets.gt_boxes import BOXES_FILENAME, write_boxes
from s2mat.errors import ConfigError, OutputExistsError
from s2mat.types import CameraModel, Frame

if TYPE_CHECKING:
    from s2mat.sim.sequence import SimulatedSequence

FORMATS = ("kitti", "dynamicmap", "rosbag")
Progress = Callable[[Iterable[Frame]], Iterable[Frame]]


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing file, or a non-empty folder unless ``overwrite``."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutputExistsError(f"{out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not overwrite:
            raise OutputExistsError(f"{out_dir} is not empty; choose another folder or pass --overwrite")


def write_sequence(seq: SimulatedSequence, out_dir: str | os.PathLike[str], format: str = "kitti", *,
                   overwrite: bool = False, progress: Progress | None = None) -> Path:
    """Write ``seq`` to ``out_dir`` in ``format``; returns the output folder."""
    if format not in FORMATS:
        raise ConfigError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    check_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        build = staging / out.name
        frames: Iterable[Frame] = iter(seq)
        if progress is not None:
            frames = progress(frames)
        {"kitti": _write_kitti, "dynamicmap": _write_dynamicmap, "rosbag": _write_rosbag}[format](seq, build, frames)
        write_boxes(build / BOXES_FILENAME, ((i, seq.timestamp(i), seq.boxes_at(seq.timestamp(i)))
                                              for i in range(len(seq))))
        if out.exists():
            shutil.rmtree(out)
        os.replace(build, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# --- KITTI / SemanticKITTI ------------------------------------------------------------------------


def _calib_lines(camera: CameraModel) -> str:
    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    row = " ".join(f"{v:.12e}" for v in P.reshape(-1))
    tr = " ".join(f"{v:.12e}" for v in camera.camera_T_lidar[:3, :].reshape(-1))
    return "".join(f"P{k}: {row}\n" for k in range(4)) + f"Tr: {tr}\n"


def _write_kitti(seq: SimulatedSequence, out: Path, frames: Iterable[Frame]) -> None:
    from s2mat.datasets.kitti import write_bin
    from s2mat.datasets.pcd import write_pcd
    from s2mat.datasets.poses import write_kitti_poses
    from s2mat.sim.camera import default_camera

    camera = seq.camera or default_camera()
    for sub in ("velodyne", "labels") + (("image_2",) if seq.camera is not None else ()):
        (out / sub).mkdir(parents=True)
    times, poses = [], []
    for frame in frames:
        name = f"{frame.index:06d}"
        gt = frame.ground_truth
        write_bin(out / "velodyne" / f"{name}.bin", frame.points, frame.intensity)
        labels = gt.semantic.astype(np.uint32) | (gt.instance.astype(np.uint32) << 16)
        labels.astype("<u4").tofile(out / "labels" / f"{name}.label")
        if frame.image is not None:
            _write_png(out / "image_2" / f"{name}.png", frame.image)
        times.append(frame.timestamp)
        poses.append(gt.pose)
    tr = camera.camera_T_lidar
    cam_poses = tr @ np.stack(poses) @ np.linalg.inv(tr)
    write_kitti_poses(out / "poses.txt", cam_poses)
    (out / "calib.txt").write_text(_calib_lines(camera))
    (out / "times.txt").write_text("".join(f"{t:.6e}\n" for t in times))
    write_pcd(out / "static_world.pcd", seq.static_world)


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", optimize=False, compress_level=6)


# --- DynamicMap benchmark ---------------------------------------------------------------------------


def deskewed_world_points(seq: SimulatedSequence, frame: Frame) -> np.ndarray:
    """World-frame points of ``frame``, each moved with the true sensor pose at its own time."""
    t_unique, inverse = np.unique(frame.times, return_inverse=True)
    poses = seq.sensor_pose_at(frame.timestamp + t_unique.astype(np.float64))
    rot, trans = poses[inverse, :3, :3], poses[inverse, :3, 3]
    return np.einsum("nij,nj->ni", rot, frame.points.astype(np.float64)) + trans


def _write_dynamicmap(seq: SimulatedSequence, out: Path, frames: Iterable[Frame]) -> None:
    from s2mat.datasets.pcd import write_pcd

    (out / "pcd").mkdir(parents=True)
    clouds, labels = [], []
    for frame in frames:
        world = deskewed_world_points(seq, frame)
        write_pcd(out / "pcd" / f"{frame.index:06d}.pcd", world, {"intensity": frame.intensity},
                  viewpoint=frame.ground_truth.pose)
        clouds.append(world.astype(np.float32))
        labels.append(frame.ground_truth.moving.astype(np.float32))
    # The benchmark's ground-truth map: every scan's points, intensity 1 = dynamic, 0 = static.
    write_pcd(out / "gt_cloud.pcd", np.concatenate(clouds), {"intensity": np.concatenate(labels)})


# --- rosbag2 ---------------------------------------------------------------------------------------


def _header(stamp: float, frame_id: str):
    from s2mat.messages import msg_class
    from s2mat.pointcloud2 import sec_to_stamp_parts

    sec, nanosec = sec_to_stamp_parts(stamp)
    return msg_class("std_msgs/msg/Header")(stamp=msg_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec),
                                            frame_id=frame_id)


def _quaternion(rot: np.ndarray):
    from scipy.spatial.transform import Rotation

    from s2mat.messages import msg_class

    x, y, z, w = Rotation.from_matrix(rot).as_quat()
    return msg_class("geometry_msgs/msg/Quaternion")(x=float(x), y=float(y), z=float(z), w=float(w))


def _vector(cls: str, v: np.ndarray):
    from s2mat.messages import msg_class

    return msg_class(cls)(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _cloud(frame: Frame) -> np.ndarray:
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"), ("time", "<f4"),
                      ("ring", "<u2")])
    cloud = np.zeros(len(frame), dtype=dtype)
    cloud["x"], cloud["y"], cloud["z"] = frame.points[:, 0], frame.points[:, 1], frame.points[:, 2]
    cloud["intensity"] = frame.intensity
    cloud["time"] = frame.times
    ring = getattr(frame, "ring", None)
    if ring is not None:
        cloud["ring"] = ring
    return cloud


def _odometry(seq: SimulatedSequence, frame: Frame):
    from s2mat.messages import msg_class

    pose = frame.ground_truth.pose
    dt = 0.01
    nxt = seq.sensor_pose_at(frame.timestamp + dt)
    lin = pose[:3, :3].T @ ((nxt[:3, 3] - pose[:3, 3]) / dt)  # child (sensor) frame, as ROS expects
    dyaw = np.arctan2(nxt[1, 0], nxt[0, 0]) - np.arctan2(pose[1, 0], pose[0, 0])
    ang = np.array([0.0, 0.0, np.angle(np.exp(1j * dyaw)) / dt])
    m = msg_class
    return m("nav_msgs/msg/Odometry")(
        header=_header(frame.timestamp, "map"), child_frame_id="lidar",
        pose=m("geometry_msgs/msg/PoseWithCovariance")(
            pose=m("geometry_msgs/msg/Pose")(position=_vector("geometry_msgs/msg/Point", pose[:3, 3]),
                                             orientation=_quaternion(pose[:3, :3])),
            covariance=np.zeros(36)),
        twist=m("geometry_msgs/msg/TwistWithCovariance")(
            twist=m("geometry_msgs/msg/Twist")(linear=_vector("geometry_msgs/msg/Vector3", lin),
                                               angular=_vector("geometry_msgs/msg/Vector3", ang)),
            covariance=np.zeros(36)),
    )


def _camera_info(camera: CameraModel, stamp: float):
    from s2mat.messages import msg_class

    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    return msg_class("sensor_msgs/msg/CameraInfo")(
        header=_header(stamp, "camera"), height=camera.height, width=camera.width, distortion_model="plumb_bob",
        d=np.zeros(5), k=camera.K.reshape(-1).astype(np.float64), r=np.eye(3).reshape(-1), p=P.reshape(-1),
        binning_x=0, binning_y=0,
        roi=msg_class("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0,
                                                           do_rectify=False))


def _image(image: np.ndarray, stamp: float):
    from s2mat.messages import msg_class

    h, w, _ = image.shape
    return msg_class("sensor_msgs/msg/Image")(header=_header(stamp, "camera"), height=h, width=w, encoding="rgb8",
                                              is_bigendian=0, step=3 * w,
                                              data=np.ascontiguousarray(image).reshape(-1))


def _tf_static(camera: CameraModel):
    from s2mat.messages import msg_class

    lidar_T_camera = np.linalg.inv(camera.camera_T_lidar)
    tf = msg_class("geometry_msgs/msg/TransformStamped")(
        header=_header(0.0, "lidar"), child_frame_id="camera",
        transform=msg_class("geometry_msgs/msg/Transform")(
            translation=_vector("geometry_msgs/msg/Vector3", lidar_T_camera[:3, 3]),
            rotation=_quaternion(lidar_T_camera[:3, :3])))
    return msg_class("tf2_msgs/msg/TFMessage")(transforms=[tf])


def _write_rosbag(seq: SimulatedSequence, out: Path, frames: Iterable[Frame]) -> None:
    from s2mat import pointcloud2
    from s2mat.datasets.rosbag import BagWriter

    with BagWriter(out, storage="mcap") as bag:
        if seq.camera is not None:
            bag.write("/tf_static", _tf_static(seq.camera), 0)
        for frame in frames:
            ns = round(frame.timestamp * 1e9)
            bag.write("/points", pointcloud2.encode(_cloud(frame), stamp=frame.timestamp, frame_id="lidar"), ns)
            bag.write("/ground_truth/odometry", _odometry(seq, frame), ns)
            if frame.image is not None and frame.camera is not None:
                bag.write("/camera/image_raw", _image(frame.image, frame.timestamp), ns)
                bag.write("/camera/camera_info", _camera_info(frame.camera, frame.timestamp), ns)

