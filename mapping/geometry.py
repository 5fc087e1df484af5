"""Small rigid-body helpers for (N, 3) point arrays (numpy's BLAS runs on one thread in s2mat,
see :mod:`s2mat.runtime`, so (N, 3) x (3, 3) products pay no thread start-up)."""

from __future__ import annotations

import numpy as np


def transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(N, 3) float64 points mapped through the 4x4 transform ``T``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(T, dtype=np.float64)[:3, :3].T + T[:3, 3]  # a third of einsum's time


def squared_norms(points: np.ndarray) -> np.ndarray:
    """(N,) x*x + y*y + z*z of (N, 3) vectors, in their float type, summed per column (numpy's
    reductions along a length-3 axis are over ten times slower). Non-finite wherever a
    coordinate is, so ``np.isfinite`` of it also tells which points are finite."""
    pts = np.asarray(points)
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    return x * x + y * y + z * z


def transform32(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(N, 3) float32 points mapped through the 4x4 rigid ``T``, for tests that tolerate
    float32 (a few times faster). The points are first moved by ``T``'s origin in float64, so
    large world coordinates lose no precision before the cast. A transposed view of
    :func:`transform32_columns`."""
    return transform32_columns(points, T).T


def transform32_columns(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """:func:`transform32` laid out as (3, N), one contiguous row per axis: the layout the
    range-image tests read fastest."""
    rot = np.asarray(T, dtype=np.float64)[:3, :3]
    origin = -rot.T @ np.asarray(T, dtype=np.float64)[:3, 3]  # the point T maps to zero
    pts = np.asarray(points, dtype=np.float64)
    moved = np.empty((3, len(pts)), dtype=np.float32)
    for axis in range(3):  # per column: the strided read and the cast in one pass
        np.subtract(pts[:, axis], origin[axis], out=moved[axis], casting="unsafe")
    return rot.astype(np.float32) @ moved
