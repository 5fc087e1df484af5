"""Save and load a static map: binary PLY of voxels + JSON sidecar + history archive.

``map.ply`` holds one vertex per voxel (live and archived): ``x y z`` the centroid (world
frame, metres, float32, so any viewer opens it), the voxel index ``ix iy iz``, the evidence
``hits free free_since_hit kept_from npts``, the exact point sums ``sx sy sz`` (float64), ``live`` and
``static`` (0/1, whether the map keeps the voxel). ``map.json`` records the format, voxel
size, frame, configuration, counters and the anchor of the live voxels' float32 offsets
(maps saved without it get a new anchor when mapping continues); ``map.history.npz`` keeps
the recent range images, so mapping continues from a loaded map exactly as it would have
without the save. Every file is written to a temporary file in the same folder and renamed
into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from mapping.config import StaticMapConfig
from mapping.errors import MapFileError
from mapping.range_image import RangeImage
from mapping.static_map import StaticMap
from mapping.voxel_keys import pack, unpack
from mapping.voxel_table import VoxelTable

FORMAT = "s2mat-static-map"
VERSION = 2  # version 1 had no kept_from (read as 0: kept from the first frame)
_FIELDS = [("x", "<f4", "float"), ("y", "<f4", "float"), ("z", "<f4", "float"),
           ("ix", "<i4", "int"), ("iy", "<i4", "int"), ("iz", "<i4", "int"),
           ("hits", "<i4", "int"), ("free", "<i4", "int"), ("free_since_hit", "<i4", "int"),
           ("kept_from", "<i4", "int"), ("npts", "<i4", "int"), ("sx", "<f8", "double"), ("sy", "<f8", "double"),
           ("sz", "<f8", "double"), ("live", "u1", "uchar"), ("static", "u1", "uchar")]
_DTYPE = np.dtype([(name, fmt) for name, fmt, _ in _FIELDS])
_DTYPE_V1 = np.dtype([(name, fmt) for name, fmt, _ in _FIELDS if name != "kept_from"])
_COUNTS = ("hits", "free", "free_since_hit", "kept_from", "npts")


def map_paths(path: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """The PLY, JSON sidecar and history paths of a map named ``path`` (``.ply`` optional)."""
    p = Path(path)
    if p.suffix.lower() != ".ply":
        p = p.with_name(p.name + ".ply")
    return p, p.with_suffix(".json"), p.with_suffix(".history.npz")


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_map(static_map: StaticMap, path: str | os.PathLike[str]) -> Path:
    """Write ``static_map`` to ``path`` (PLY) with its sidecar; returns the PLY path."""
    ply, sidecar, hist = map_paths(path)
    tables = [(static_map.live_table(), 1), (static_map.archive_table(), 0)]
    rows = np.zeros(len(static_map), dtype=_DTYPE)
    start = 0
    for table, live in tables:
        n = len(table)
        sl = slice(start, start + n)
        cen = table.centroids()
        idx = unpack(table.keys)
        for i, axis in enumerate("xyz"):
            rows[axis][sl] = cen[:, i]
            rows["i" + axis][sl] = idx[:, i]
            rows["s" + axis][sl] = table.sums[:, i]
        for name in _COUNTS:
            rows[name][sl] = getattr(table, name)
        rows["live"][sl] = live
        rows["static"][sl] = ~static_map.carved(table)
        start += n
    header = ["ply", "format binary_little_endian 1.0", f"comment {FORMAT} v{VERSION}",
              f"comment voxel_size {static_map.voxel_size!r}", "comment frame world",
              f"element vertex {len(rows)}"]
    header += [f"property {ply_type} {name}" for name, _, ply_type in _FIELDS]
    header_bytes = ("\n".join(header) + "\nend_header\n").encode("ascii")
    _atomic(ply, lambda fh: (fh.write(header_bytes), fh.write(rows.tobytes())))

    images: dict[str, np.ndarray] = {}
    for i, (sensor_T_world, image) in enumerate(static_map.history):
        images[f"pose_{i}"] = sensor_T_world
        images[f"nearest_{i}"] = image.nearest
        if image.single is not None and image.elevation is not None:
            images[f"single_{i}"] = image.single
            images[f"elevation_{i}"] = image.elevation
        images[f"meta_{i}"] = np.array([image.row0, image.az_res, image.el_res], dtype=np.float64)
    _atomic(hist, lambda fh: np.savez(fh, **images))

    meta = {
        "format": FORMAT, "version": VERSION, "frame": "world", "units": "metres",
        "resolution": static_map.voxel_size, "max_range": static_map.max_range,
        "frames": static_map.frames, "sensor_position": static_map.sensor_position.tolist(),
        "anchor": None if static_map.anchor is None else static_map.anchor.tolist(),
        "voxels": {"live": len(tables[0][0]), "archive": len(tables[1][0])},
        "history_scans": len(static_map.history),
        "files": {"voxels": ply.name, "history": hist.name},
        "config": static_map.config.model_dump(),
    }
    text = json.dumps(meta, indent=2).encode()
    _atomic(sidecar, lambda fh: fh.write(text))
    return ply


def _read_ply(ply: Path, version: int) -> np.ndarray:
    with open(ply, "rb") as fh:
        lines = []
        while True:
            line = fh.readline()
            if not line:
                raise MapFileError(f"{ply}: PLY header has no end_header line")
            text = line.decode("ascii", "replace").strip()
            lines.append(text)
            if text == "end_header":
                break
        data = fh.read()
    if not lines or lines[0] != "ply" or "format binary_little_endian 1.0" not in lines:
        raise MapFileError(f"{ply}: not a binary little-endian PLY file")
    dtype = _DTYPE if version == VERSION else _DTYPE_V1
    props = [ln.split()[-1] for ln in lines if ln.startswith("property")]
    if props != list(dtype.names):
        raise MapFileError(f"{ply}: vertex properties {props} are not those of an s2mat static map "
                           f"of version {version}")
    count = next((int(ln.split()[-1]) for ln in lines if ln.startswith("element vertex")), None)
    if count is None or len(data) != count * dtype.itemsize:
        raise MapFileError(f"{ply}: expected {count} vertices of {dtype.itemsize} bytes, "
                           f"file holds {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype)


def load_map(path: str | os.PathLike[str]) -> StaticMap:
    """Read a map written by :func:`save_map`; mapping can continue from it."""
    ply, sidecar, hist = map_paths(path)
    for p in (ply, sidecar, hist):
        if not p.is_file():
            raise MapFileError(f"map file {p} does not exist")
    try:
        meta = json.loads(sidecar.read_text())
    except json.JSONDecodeError as exc:
        raise MapFileError(f"{sidecar}: sidecar is not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("version") not in (1, VERSION):
        raise MapFileError(f"{sidecar}: not an s2mat static map sidecar of version 1 to {VERSION}")
    try:
        config = StaticMapConfig.model_validate(meta["config"])
        static_map = StaticMap(config, float(meta["max_range"]))
        static_map.frames = int(meta["frames"])
        static_map.sensor_position = np.asarray(meta["sensor_position"], dtype=np.float64)
        anchor = meta.get("anchor")
        anchor = None if anchor is None else np.asarray(anchor, dtype=np.float64).reshape(3)
    except (KeyError, TypeError, ValueError) as exc:
        raise MapFileError(f"{sidecar}: missing or invalid field ({exc})") from None
    rows = _read_ply(ply, meta["version"])
    tables = []
    for live_flag in (1, 0):
        sel = rows[rows["live"] == live_flag]
        table = VoxelTable.allocate(len(sel))
        table.keys[:] = pack(np.stack([sel["ix"], sel["iy"], sel["iz"]], axis=1))
        for name in _COUNTS:
            if name in sel.dtype.names:
                getattr(table, name)[:] = sel[name]
        table.sums[:] = np.stack([sel["sx"], sel["sy"], sel["sz"]], axis=1)
        tables.append(table)
    static_map.anchor = anchor  # the live voxels' float32 offsets, as the saved map had them
    static_map.restore(*tables)
    try:
        with np.load(hist, allow_pickle=False) as npz:
            for i in range(int(meta["history_scans"])):
                row0, az_res, el_res = npz[f"meta_{i}"]
                image = RangeImage.__new__(RangeImage)
                image.az_res, image.el_res = float(az_res), float(el_res)
                image.cols = int(np.ceil(2 * np.pi / image.az_res))
                image.row0 = int(row0)
                image.nearest = npz[f"nearest_{i}"]
                beams = f"single_{i}" in npz.files
                image.single = npz[f"single_{i}"] if beams else None
                image.elevation = npz[f"elevation_{i}"] if beams else None
                static_map.history.append((npz[f"pose_{i}"], image))
    except (KeyError, ValueError, OSError) as exc:
        raise MapFileError(f"{hist}: history archive is incomplete ({exc})") from None
    return static_map
