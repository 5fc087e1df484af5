"""PCD files (PCL's point cloud format, v0.7): read and write, ascii and binary.

``binary_compressed`` files are read through open3d. Points are returned as a structured
array with one field per PCD field; ``VIEWPOINT`` is returned as a 4x4 pose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2mat.datasets.point_table import point_table
from s2mat.errors import CorruptFileError

_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
          ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}
_REQUIRED = ("FIELDS", "SIZE", "TYPE", "WIDTH", "HEIGHT", "POINTS", "DATA")


@dataclass
class PCDHeader:
    fields: list[str]
    dtype: np.dtype
    width: int
    height: int
    points: int
    viewpoint: np.ndarray  # 4x4 world_T_sensor
    data: str


def viewpoint_to_pose(values: list[float]) -> np.ndarray:
    """4x4 pose from PCD ``VIEWPOINT tx ty tz qw qx qy qz``."""
    from scipy.spatial.transform import Rotation

    tx, ty, tz, qw, qx, qy, qz = values
    pose = np.eye(4)
    norm = np.linalg.norm([qw, qx, qy, qz])
    if norm > 0:
        pose[:3, :3] = Rotation.from_quat([qx / norm, qy / norm, qz / norm, qw / norm]).as_matrix()
    pose[:3, 3] = [tx, ty, tz]
    return pose


def pose_to_viewpoint(pose: np.ndarray) -> list[float]:
    """PCD ``VIEWPOINT`` values (tx ty tz qw qx qy qz) of a 4x4 pose."""
    from scipy.spatial.transform import Rotation

    qx, qy, qz, qw = Rotation.from_matrix(np.asarray(pose)[:3, :3]).as_quat()
    if qw < 0:
        qx, qy, qz, qw = -qx, -qy, -qz, -qw
    t = np.asarray(pose)[:3, 3]
    return [float(t[0]), float(t[1]), float(t[2]), float(qw), float(qx), float(qy), float(qz)]


def _parse_header(path: Path, fh) -> PCDHeader:
    entries: dict[str, list[str]] = {}
    while True:
        raw = fh.readline()
        if not raw:
            raise CorruptFileError(f"{path}: PCD header ended before the DATA line")
        line = raw.decode("ascii", errors="replace").strip()
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        entries[key.upper()] = values
        if key.upper() == "DATA":
            break
    missing = [k for k in _REQUIRED if k not in entries]
    if missing:
        raise CorruptFileError(f"{path}: PCD header lacks {', '.join(missing)}")
    fields = entries["FIELDS"]
    sizes, types = entries["SIZE"], entries["TYPE"]
    counts = entries.get("COUNT", ["1"] * len(fields))
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise CorruptFileError(
            f"{path}: PCD header has {len(fields)} FIELDS but {len(sizes)} SIZE, {len(types)} TYPE, {len(counts)} COUNT"
        )
    try:
        width, height, points = int(entries["WIDTH"][0]), int(entries["HEIGHT"][0]), int(entries["POINTS"][0])
        sizes_i, counts_i = [int(s) for s in sizes], [int(c) for c in counts]
        viewpoint = [float(v) for v in entries.get("VIEWPOINT", ["0", "0", "0", "1", "0", "0", "0"])]
    except (ValueError, IndexError) as exc:
        raise CorruptFileError(f"{path}: PCD header has a non-numeric WIDTH/HEIGHT/POINTS/SIZE/COUNT/VIEWPOINT ({exc})") from None
    if len(viewpoint) != 7:
        raise CorruptFileError(f"{path}: PCD VIEWPOINT needs 7 values, got {len(viewpoint)}")
    if points != width * height:
        raise CorruptFileError(f"{path}: PCD POINTS {points} differs from WIDTH*HEIGHT = {width * height}")
    formats = []
    for name, size, typ, count in zip(fields, sizes_i, types, counts_i, strict=True):
        code = _TYPES.get((typ.upper(), size))
        if code is None:
            raise CorruptFileError(f"{path}: PCD field {name!r} has unsupported TYPE {typ} SIZE {size}")
        formats.append((name, "<" + code) if count == 1 else (name, "<" + code, (count,)))
    # Unnamed padding fields ("_") are common; give them unique names.
    seen: dict[str, int] = {}
    renamed = []
    for fmt in formats:
        name = fmt[0]
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        renamed.append((name, *fmt[1:]))
    return PCDHeader(
        fields=[f[0] for f in renamed], dtype=np.dtype(renamed), width=width, height=height,
        points=points, viewpoint=viewpoint_to_pose(viewpoint), data=entries["DATA"][0].lower(),
    )


def read_pcd_header(path: str | os.PathLike[str]) -> PCDHeader:
    """Only the header of a PCD file (cheap: the points are not read)."""
    path = Path(path)
    with open(path, "rb") as fh:
        return _parse_header(path, fh)


def read_pcd(path: str | os.PathLike[str]) -> tuple[np.ndarray, PCDHeader]:
    """The points of a PCD file as a structured array, and its header.

    Raises :class:`CorruptFileError` naming the file for a broken header or truncated data.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        header = _parse_header(path, fh)
        if header.data == "ascii":
            try:
                table = np.loadtxt(fh, dtype=np.float64, ndmin=2)
            except ValueError as exc:
                raise CorruptFileError(f"{path}: PCD ascii data is malformed ({exc})") from None
            if table.shape[0] != header.points:
                raise CorruptFileError(f"{path}: PCD declares {header.points} points but has {table.shape[0]} rows")
            width = sum(int(np.prod(header.dtype[n].shape or (1,))) for n in header.dtype.names)
            if header.points and table.shape[1] != width:
                raise CorruptFileError(f"{path}: PCD ascii rows have {table.shape[1]} values, expected {width}")
            cloud = np.zeros(header.points, dtype=header.dtype)
            col = 0
            for name in header.dtype.names:
                n = int(np.prod(header.dtype[name].shape or (1,)))
                cloud[name] = table[:, col] if n == 1 else table[:, col:col + n]
                col += n
            return cloud, header
        if header.data == "binary":
            need = header.points * header.dtype.itemsize
            blob = fh.read(need)
            if len(blob) < need:
                raise CorruptFileError(
                    f"{path}: PCD binary data is truncated ({len(blob)} of {need} bytes for {header.points} points)"
                )
            return np.frombuffer(blob, dtype=header.dtype).copy(), header
        if header.data == "binary_compressed":
            return _read_compressed(path, header), header
        raise CorruptFileError(f"{path}: PCD DATA {header.data!r} is not ascii, binary or binary_compressed")


def _read_compressed(path: Path, header: PCDHeader) -> np.ndarray:
    import open3d as o3d

    pcd = o3d.t.io.read_point_cloud(str(path))
    if "positions" not in pcd.point or len(pcd.point.positions) != header.points:
        raise CorruptFileError(f"{path}: binary_compressed PCD data could not be decompressed")
    cloud = np.zeros(header.points, dtype=header.dtype)
    xyz = pcd.point.positions.numpy()
    for i, axis in enumerate("xyz"):
        if axis in cloud.dtype.names:
            cloud[axis] = xyz[:, i]
    for name in cloud.dtype.names:
        if name not in "xyz" and name in pcd.point:
            cloud[name] = pcd.point[name].numpy().reshape(cloud[name].shape)
    return cloud


def write_pcd(path: str | os.PathLike[str], points: np.ndarray, fields: dict[str, np.ndarray] | None = None,
              *, viewpoint: np.ndarray | None = None, binary: bool = True) -> None:
    """Write ``(N, 3)`` points plus optional per-point scalar ``fields`` as a PCD file.

    ``viewpoint`` is a 4x4 pose stored in the ``VIEWPOINT`` line. The file is written to a
    temporary sibling and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    cloud = point_table(points, fields)
    columns = [(name, cloud[name]) for name in cloud.dtype.names]
    type_char = {"f": "F", "i": "I", "u": "U"}
    vp = pose_to_viewpoint(np.eye(4) if viewpoint is None else viewpoint)
    header = "\n".join([
        "# .PCD v0.7 - Point Cloud Data file format (written by s2mat)",
        "VERSION 0.7",
        "FIELDS " + " ".join(n for n, _ in columns),
        "SIZE " + " ".join(str(v.dtype.itemsize) for _, v in columns),
        "TYPE " + " ".join(type_char[v.dtype.kind] for _, v in columns),
        "COUNT " + " ".join("1" for _ in columns),
        f"WIDTH {len(cloud)}",
        "HEIGHT 1",
        "VIEWPOINT " + " ".join(f"{v:.9g}" for v in vp),
        f"POINTS {len(cloud)}",
        f"DATA {'binary' if binary else 'ascii'}",
    ]) + "\n"
    from s2mat.datasets.atomic import atomic_write

    with atomic_write(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        if binary:
            fh.write(cloud.tobytes())
        else:
            fmt = " ".join("%.9g" if v.dtype.kind == "f" else "%d" for _, v in columns)
            np.savetxt(fh, np.column_stack([v.astype(np.float64) for _, v in columns]), fmt=fmt)
