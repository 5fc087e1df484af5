"""PLY point files: the vertex element with scalar properties, ascii or binary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2mat.datasets.atomic import atomic_write
from s2mat.datasets.point_table import point_table
from s2mat.errors import CorruptFileError

_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
_NUMPY_TO_PLY = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
                 "f4": "float", "f8": "double"}


def read_ply(path: str | os.PathLike[str]) -> np.ndarray:
    """The vertices of a PLY file as a structured array (one field per vertex property).

    Raises :class:`CorruptFileError` for a broken header, list properties on vertices, or
    truncated data.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise CorruptFileError(f"{path}: not a PLY file (first line is not 'ply')")
        fmt, elements, current = None, [], None
        while True:
            raw = fh.readline()
            if not raw:
                raise CorruptFileError(f"{path}: PLY header ended before 'end_header'")
            words = raw.decode("ascii", errors="replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format" and len(words) >= 2:
                fmt = words[1]
            elif words[0] == "element" and len(words) == 3:
                current = [words[1], int(words[2]), []]
                elements.append(current)
            elif words[0] == "property" and current is not None:
                if words[1] == "list":
                    current[2].append(("list", words[-1]))
                elif len(words) == 3 and words[1] in _PLY_TYPES:
                    current[2].append((_PLY_TYPES[words[1]], words[2]))
                else:
                    raise CorruptFileError(f"{path}: PLY property line {' '.join(words)!r} is not understood")
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise CorruptFileError(f"{path}: PLY format {fmt!r} is not ascii or binary")
        if not elements or elements[0][0] != "vertex":
            raise CorruptFileError(f"{path}: PLY file has no vertex element first")
        _, count, props = elements[0]
        if any(kind == "list" for kind, _ in props):
            raise CorruptFileError(f"{path}: PLY vertex element has list properties")
        order = ">" if fmt == "binary_big_endian" else "<"
        dtype = np.dtype([(name, order + kind) for kind, name in props])
        if fmt == "ascii":
            try:
                table = np.loadtxt(fh, dtype=np.float64, ndmin=2, max_rows=count)
            except ValueError as exc:
                raise CorruptFileError(f"{path}: PLY ascii vertex data is malformed ({exc})") from None
            if table.shape[0] != count or (count and table.shape[1] != len(props)):
                raise CorruptFileError(f"{path}: PLY declares {count} vertices of {len(props)} values; data differs")
            cloud = np.zeros(count, dtype=dtype)
            for i, name in enumerate(dtype.names):
                cloud[name] = table[:, i]
            return cloud
        need = count * dtype.itemsize
        blob = fh.read(need)
        if len(blob) < need:
            raise CorruptFileError(f"{path}: PLY vertex data is truncated ({len(blob)} of {need} bytes)")
        return np.frombuffer(blob, dtype=dtype).astype(dtype.newbyteorder("=")) if order == ">" else \
            np.frombuffer(blob, dtype=dtype).copy()


def write_ply(path: str | os.PathLike[str], points: np.ndarray, fields: dict[str, np.ndarray] | None = None) -> None:
    """Write ``(N, 3)`` points plus per-point scalar ``fields`` as a binary little-endian PLY, atomically."""
    cloud = point_table(points, fields)
    columns = [(name, cloud[name]) for name in cloud.dtype.names]
    header = ["ply", "format binary_little_endian 1.0", "comment written by s2mat", f"element vertex {len(cloud)}"]
    header += [f"property {_NUMPY_TO_PLY[v.dtype.str[1:]]} {n}" for n, v in columns]
    header.append("end_header")
    with atomic_write(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(cloud.tobytes())
