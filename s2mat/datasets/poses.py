"""Trajectory files: KITTI (12 numbers a line, row-major 3x4) and TUM (t tx ty tz qx qy qz qw)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from s2mat.datasets.atomic import atomic_write_text
from s2mat.errors import CorruptFileError


def _table(path: Path, columns: int, what: str) -> np.ndarray:
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            parts = stripped.split()
            if len(parts) != columns:
                raise CorruptFileError(f"{path}:{lineno}: a {what} line needs {columns} numbers, found {len(parts)}")
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                raise CorruptFileError(f"{path}:{lineno}: a {what} line has a non-numeric value") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def read_kitti_poses(path: str | os.PathLike[str]) -> np.ndarray:
    """``(N, 4, 4)`` poses from a KITTI pose file."""
    table = _table(Path(path), 12, "KITTI pose")
    poses = np.tile(np.eye(4), (len(table), 1, 1))
    poses[:, :3, :] = table.reshape(-1, 3, 4)
    return poses


def write_kitti_poses(path: str | os.PathLike[str], poses: np.ndarray) -> None:
    """Write ``(N, 4, 4)`` poses in KITTI format, atomically."""
    poses = np.asarray(poses).reshape(-1, 4, 4)
    lines = [" ".join(f"{v:.9e}" for v in p[:3, :].reshape(-1)) for p in poses]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def read_tum_poses(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps ``(N,)`` and ``(N, 4, 4)`` poses from a TUM trajectory file."""
    table = _table(Path(path), 8, "TUM pose")
    poses = np.tile(np.eye(4), (len(table), 1, 1))
    if len(table):
        poses[:, :3, :3] = Rotation.from_quat(table[:, 4:8]).as_matrix()
        poses[:, :3, 3] = table[:, 1:4]
    return table[:, 0], poses


def write_tum_poses(path: str | os.PathLike[str], timestamps: np.ndarray, poses: np.ndarray) -> None:
    """Write timestamps and ``(N, 4, 4)`` poses in TUM format, atomically."""
    poses = np.asarray(poses).reshape(-1, 4, 4)
    quats = Rotation.from_matrix(poses[:, :3, :3]).as_quat() if len(poses) else np.zeros((0, 4))
    lines = [
        f"{t:.9f} " + " ".join(f"{v:.9f}" for v in (*p[:3, 3], *q))
        for t, p, q in zip(np.asarray(timestamps, dtype=np.float64), poses, quats, strict=True)
    ]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
