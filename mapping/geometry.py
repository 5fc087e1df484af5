"""Small rigid-body helpers written with einsum: for (N, 3) x (3, 3) products a BLAS call
costs more in thread start-up than the arithmetic, especially on a busy machine."""

from __future__ import annotations

import numpy as np


def transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(N, 3) float64 points mapped through the 4x4 transform ``T``."""
    pts = np.asarray(points, dtype=np.float64)
    return np.einsum("ij,kj->ik", pts, T[:3, :3]) + T[:3, 3]


def norms(points: np.ndarray) -> np.ndarray:
    """(N,) Euclidean lengths of (N, 3) vectors."""
    pts = np.asarray(points, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", pts, pts))


def transform32(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """(N, 3) float32 points mapped through the 4x4 rigid ``T``, for tests that tolerate
    float32 (a few times faster). The points are first moved by ``T``'s origin in float64, so
    large world coordinates lose no precision before the cast."""
    rot = np.asarray(T, dtype=np.float64)[:3, :3]
    origin = -rot.T @ np.asarray(T, dtype=np.float64)[:3, 3]  # the point T maps to zero
    moved = (np.asarray(points, dtype=np.float64) - origin).astype(np.float32)
    return moved @ rot.T.astype(np.float32)
