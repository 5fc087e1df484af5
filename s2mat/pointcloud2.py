"""``sensor_msgs/PointCloud2`` ⇄ numpy, without ``sensor_msgs_py``.

Works on the rclpy message classes and on the ``rosbags`` message classes alike: decoding
only reads attributes (``height``, ``width``, ``fields``, ``point_step``, ``row_step``,
``is_bigendian``, ``data``); encoding builds messages of the backend you name.

A cloud is a numpy *structured* array whose dtype mirrors the message layout exactly: one
dtype field per ``PointField`` at the same byte offset, a ``(count,)`` sub-array when
``count > 1``, ``itemsize == point_step``, and the message's byte order. Shape is
``(height, width)`` for organised clouds (height > 1) and ``(width,)`` otherwise. Decoding
then encoding gives back the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from s2mat.errors import PointCloud2Error
from s2mat.types import Frame

# PointField datatype constants (sensor_msgs/msg/PointField).
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
DATATYPE_TO_DTYPE: dict[int, np.dtype] = {
    INT8: np.dtype(np.int8),
    UINT8: np.dtype(np.uint8),
    INT16: np.dtype(np.int16),
    UINT16: np.dtype(np.uint16),
    INT32: np.dtype(np.int32),
    UINT32: np.dtype(np.uint32),
    FLOAT32: np.dtype(np.float32),
    FLOAT64: np.dtype(np.float64),
}
DATATYPE_NAMES = {INT8: "INT8", UINT8: "UINT8", INT16: "INT16", UINT16: "UINT16",
                  INT32: "INT32", UINT32: "UINT32", FLOAT32: "FLOAT32", FLOAT64: "FLOAT64"}
DTYPE_TO_DATATYPE = {dt.str[1:]: code for code, dt in DATATYPE_TO_DTYPE.items()}

# Per-point time field names used by common drivers, with how to turn them into seconds.
TIME_FIELDS = ("time", "t", "timestamp", "time_stamp", "offset_time")

Backend = Literal["rosbags", "rclpy"]


def _fields_of(msg: Any) -> list[tuple[str, int, int, int]]:
    return [(f.name, int(f.offset), int(f.datatype), int(f.count)) for f in msg.fields]


def cloud_dtype(fields: Sequence[tuple[str, int, int, int]], point_step: int, is_bigendian: bool) -> np.dtype:
    """The structured dtype of one point for ``(name, offset, datatype, count)`` fields.

    Raises :class:`PointCloud2Error` naming the field for an unknown datatype, a field that
    lies beyond ``point_step``, a duplicate name or overlapping fields.
    """
    if point_step <= 0:
        raise PointCloud2Error(f"point_step is {point_step}; it must be positive")
    order = ">" if is_bigendian else "<"
    names, formats, offsets = [], [], []
    for name, offset, datatype, count in fields:
        if datatype not in DATATYPE_TO_DTYPE:
            raise PointCloud2Error(f"field {name!r} has unknown datatype {datatype} (expected 1..8)")
        if count < 1:
            count = 1  # count 0 is sometimes sent for scalar fields
        base = DATATYPE_TO_DTYPE[datatype].newbyteorder(order)
        size = base.itemsize * count
        if offset < 0 or offset + size > point_step:
            raise PointCloud2Error(
                f"field {name!r} at offset {offset} with {size} bytes lies beyond point_step {point_step}"
            )
        if name in names:
            raise PointCloud2Error(f"field {name!r} appears twice")
        names.append(name)
        formats.append(base if count == 1 else np.dtype((base, (count,))))
        offsets.append(offset)
    spans = sorted((o, o + np.dtype(f).itemsize, n) for o, f, n in zip(offsets, formats, names, strict=True))
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise PointCloud2Error(f"fields {first!r} and {second!r} overlap")
    try:
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    except (ValueError, TypeError) as exc:  # pragma: no cover - guarded above
        raise PointCloud2Error(f"cannot build a point layout from the fields: {exc}") from None


def decode(msg: Any) -> np.ndarray:
    """The structured array of every point in ``msg`` (see the module docstring).

    Raises :class:`PointCloud2Error` when ``data`` is shorter than ``row_step * height``,
    when ``row_step`` is smaller than ``width * point_step``, or when a field is malformed.
    """
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    dtype = cloud_dtype(_fields_of(msg), point_step, bool(msg.is_bigendian))
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if height < 0 or width < 0:
        raise PointCloud2Error(f"height {height} and width {width} must not be negative")
    if height == 0 or width == 0:
        return np.zeros((height, width) if height > 1 else (width,), dtype=dtype)
    if row_step < width * point_step:
        raise PointCloud2Error(
            f"row_step {row_step} is smaller than width * point_step = {width} * {point_step}"
        )
    if data.size < row_step * height:
        raise PointCloud2Error(
            f"data is {data.size} bytes, shorter than row_step * height = {row_step} * {height} = {row_step * height}"
        )
    rows = data[: row_step * height].reshape(height, row_step)[:, : width * point_step]
    cloud = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    return cloud if height > 1 else cloud.reshape(width)


def _field_layout(dtype: np.dtype) -> tuple[list[tuple[str, int, int, int]], bool]:
    if dtype.names is None:
        raise PointCloud2Error("a cloud must be a numpy structured array with named fields")
    fields, orders = [], set()
    for name in dtype.names:
        sub, offset = dtype.fields[name][:2]
        base, count = (sub.base, int(np.prod(sub.shape))) if sub.shape else (sub, 1)
        key = base.str[1:]
        if key not in DTYPE_TO_DATATYPE:
            raise PointCloud2Error(f"field {name!r} has dtype {base} which PointCloud2 cannot carry")
        if base.itemsize > 1:
            orders.add(base.byteorder if base.byteorder in "<>" else ("<" if np.little_endian else ">"))
        fields.append((name, int(offset), DTYPE_TO_DATATYPE[key], count))
    if len(orders) > 1:
        raise PointCloud2Error("all fields of a cloud must share one byte order")
    return fields, orders == {">"}


def _message_classes(backend: Backend) -> tuple[Any, Any, Any, Any]:
    if backend == "rosbags":
        from s2mat.messages import msg_class

        return (msg_class("sensor_msgs/msg/PointCloud2"), msg_class("sensor_msgs/msg/PointField"),
                msg_class("std_msgs/msg/Header"), msg_class("builtin_interfaces/msg/Time"))
    if backend == "rclpy":
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import PointCloud2, PointField
        from std_msgs.msg import Header

        return PointCloud2, PointField, Header, Time
    raise ValueError(f"unknown message backend {backend!r}; use 'rosbags' or 'rclpy'")


def stamp_to_sec(stamp: Any) -> float:
    """Seconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def sec_to_stamp_parts(seconds: float) -> tuple[int, int]:
    """``(sec, nanosec)`` for a time in seconds, rounded to the nanosecond."""
    total = round(seconds * 1e9)
    return total // 1_000_000_000, total % 1_000_000_000


def encode(cloud: np.ndarray, *, stamp: float = 0.0, frame_id: str = "lidar",
           backend: Backend = "rosbags", row_step: int | None = None, is_dense: bool | None = None) -> Any:
    """A ``PointCloud2`` message of ``backend`` carrying ``cloud`` byte for byte.

    ``cloud`` is a structured array of shape ``(width,)`` or ``(height, width)``; its dtype's
    offsets, ``itemsize`` (the ``point_step``) and byte order become the message layout.
    ``row_step`` may exceed ``width * point_step`` to pad each row.
    """
    cloud = np.asarray(cloud)
    fields, bigendian = _field_layout(cloud.dtype)
    if cloud.ndim == 1:
        height, width = 1, cloud.shape[0]
    elif cloud.ndim == 2:
        height, width = cloud.shape
    else:
        raise PointCloud2Error(f"a cloud must have 1 or 2 dimensions, got shape {cloud.shape}")
    point_step = cloud.dtype.itemsize
    packed = np.ascontiguousarray(cloud).reshape(height, width).view(np.uint8).reshape(height, width * point_step)
    row_step = width * point_step if row_step is None else int(row_step)
    if row_step < width * point_step:
        raise PointCloud2Error(f"row_step {row_step} is smaller than width * point_step = {width * point_step}")
    if row_step > width * point_step:
        packed = np.pad(packed, ((0, 0), (0, row_step - width * point_step)))
    if is_dense is None:
        is_dense = not _has_nan_xyz(cloud)
    PointCloud2, PointField, Header, Time = _message_classes(backend)
    sec, nanosec = sec_to_stamp_parts(stamp)
    header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    point_fields = [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields]
    data = packed.reshape(-1)
    if backend == "rclpy":
        msg = PointCloud2(header=header, height=height, width=width, fields=point_fields,
                          is_bigendian=bigendian, point_step=point_step, row_step=row_step,
                          is_dense=bool(is_dense))
        msg.data.frombytes(data)  # one copy, into the message's own array
        return msg
    return PointCloud2(header=header, height=height, width=width, fields=point_fields,
                       is_bigendian=bigendian, point_step=point_step, row_step=row_step,
                       data=data.copy(), is_dense=bool(is_dense))


def _has_nan_xyz(cloud: np.ndarray) -> bool:
    names = cloud.dtype.names or ()
    for axis in ("x", "y", "z"):
        if axis in names and cloud.dtype[axis].kind == "f" and not np.isfinite(cloud[axis]).all():
            return True
    return False


def xyz(cloud: np.ndarray) -> np.ndarray:
    """``(N, 3) float32`` coordinates of a decoded cloud (organised clouds are flattened).

    Raises :class:`PointCloud2Error` when x, y or z is missing or not a floating-point field.
    """
    names = cloud.dtype.names or ()
    for axis in ("x", "y", "z"):
        if axis not in names:
            raise PointCloud2Error(f"the cloud has no {axis!r} field (fields: {', '.join(names) or 'none'})")
        if cloud.dtype[axis].kind != "f" or cloud.dtype[axis].shape:
            raise PointCloud2Error(
                f"field {axis!r} has dtype {cloud.dtype[axis]}; x, y and z must be FLOAT32 or FLOAT64 scalars"
            )
    flat = cloud.reshape(-1)
    out = np.empty((flat.shape[0], 3), dtype=np.float32)
    for i, axis in enumerate(("x", "y", "z")):
        out[:, i] = flat[axis]
    return out


def point_times(cloud: np.ndarray, stamp: float) -> np.ndarray | None:
    """Per-point time in seconds relative to ``stamp``, from the first time field present.

    Integer fields are nanoseconds (``t`` of Ouster drivers); floating-point fields are
    seconds, relative to the stamp unless they look absolute (larger than a day), in which
    case the stamp is subtracted. ``None`` when the cloud has no time field.
    """
    names = cloud.dtype.names or ()
    for name in TIME_FIELDS:
        if name in names and not cloud.dtype[name].shape:
            raw = cloud.reshape(-1)[name]
            seconds = raw.astype(np.float64) * 1e-9 if raw.dtype.kind in "iu" else raw.astype(np.float64)
            if seconds.size and np.nanmax(np.abs(seconds)) > 86_400.0:
                seconds = seconds - stamp
            return seconds.astype(np.float32)
    return None


def to_frame(msg: Any, index: int = 0) -> Frame:
    """A :class:`~s2mat.types.Frame` from a ``PointCloud2`` of either backend.

    Reads x, y, z (required, floating point), ``intensity`` (or ``reflectivity``) and a
    per-point time field when present. Points stay in the message frame, NaNs included.
    """
    cloud = decode(msg)
    stamp = stamp_to_sec(msg.header.stamp)
    names = cloud.dtype.names or ()
    intensity = None
    for name in ("intensity", "reflectivity", "i"):
        if name in names and not cloud.dtype[name].shape:
            intensity = cloud.reshape(-1)[name].astype(np.float32)
            break
    return Frame(points=xyz(cloud), timestamp=stamp, index=index, intensity=intensity,
                 times=point_times(cloud, stamp))


def frame_cloud(frame: Frame) -> np.ndarray:
    """The packed structured array (x, y, z, intensity, time as float32) of a frame."""
    names = ["x", "y", "z", "intensity"] + (["time"] if frame.times is not None else [])
    cloud = np.zeros(len(frame), dtype=np.dtype([(n, "<f4") for n in names]))
    cloud["x"], cloud["y"], cloud["z"] = frame.points[:, 0], frame.points[:, 1], frame.points[:, 2]
    cloud["intensity"] = 0.0 if frame.intensity is None else frame.intensity
    if frame.times is not None:
        cloud["time"] = frame.times
    return cloud


def from_frame(frame: Frame, *, frame_id: str = "lidar", backend: Backend = "rosbags") -> Any:
    """A ``PointCloud2`` (x, y, z, intensity and, when known, time as float32) of a frame."""
    return encode(frame_cloud(frame), stamp=frame.timestamp, frame_id=frame_id, backend=backend)
