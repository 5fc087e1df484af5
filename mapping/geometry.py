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
