"""Static-map quality, point-wise against labelled ground truth.

DynamicMap benchmark definitions (percent): SA, static accuracy, the share of ground-truth
static points the map keeps; DA, dynamic accuracy, the share of ground-truth dynamic points
it removes; AA, associated accuracy, their geometric mean; HA, their harmonic mean.
ERASOR-style preservation rate (PR) and rejection rate (RR) count 0.2 m voxels instead of
points, so dense regions do not dominate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class StaticMapScores:
    """SA, DA, AA, HA and PR, RR, F1 in percent, with the counts they come from."""

    sa: float
    da: float
    aa: float
    ha: float
    pr: float
    rr: float
    f1: float
    static_points: int
    dynamic_points: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _mean_pct(values: np.ndarray) -> float:
    return float(100.0 * values.mean()) if len(values) else float("nan")


def _combine(a: float, b: float) -> tuple[float, float]:
    geometric = float(np.sqrt(a * b))
    harmonic = float(2 * a * b / (a + b)) if a + b > 0 else 0.0
    return geometric, harmonic


def preservation_rejection(points: np.ndarray, dynamic: np.ndarray, kept: np.ndarray,
                           voxel_size: float = 0.2) -> tuple[float, float, float]:
    """ERASOR-style (PR, RR, F1) in percent on ``voxel_size`` voxels.

    A voxel is dynamic when most of its ground-truth points are dynamic, otherwise static; it
    is preserved when the map keeps any of its points. PR is the share of static voxels
    preserved, RR the share of dynamic voxels not preserved.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return float("nan"), float("nan"), float("nan")
    idx = np.floor(pts / voxel_size).astype(np.int64)
    _, inverse = np.unique(idx, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = int(inverse.max()) + 1
    n_pts = np.bincount(inverse, minlength=n)
    n_dyn = np.bincount(inverse, weights=dynamic.astype(np.float64), minlength=n)
    n_kept = np.bincount(inverse, weights=kept.astype(np.float64), minlength=n)
    voxel_dynamic = n_dyn * 2 > n_pts
    preserved = n_kept > 0
    pr = _mean_pct(preserved[~voxel_dynamic])
    rr = _mean_pct(~preserved[voxel_dynamic])
    f1 = _combine(pr, rr)[1]
    return pr, rr, f1


def static_map_scores(points: np.ndarray, dynamic: np.ndarray, kept: np.ndarray,
                      voxel_size: float = 0.2) -> StaticMapScores:
    """Scores of a map that keeps ``kept`` (N,) of the ground-truth points ``points`` (N, 3),
    world frame, metres, labelled ``dynamic`` (N,) bool."""
    dynamic = np.asarray(dynamic, dtype=bool).reshape(-1)
    kept = np.asarray(kept, dtype=bool).reshape(-1)
    if not (len(dynamic) == len(kept) == len(points)):
        raise ValueError(f"points ({len(points)}), dynamic ({len(dynamic)}) and kept ({len(kept)}) differ in length")
    sa = _mean_pct(kept[~dynamic])
    da = _mean_pct(~kept[dynamic])
    aa, ha = _combine(sa, da)
    pr, rr, f1 = preservation_rejection(points, dynamic, kept, voxel_size)
    return StaticMapScores(sa, da, aa, ha, pr, rr, f1, int((~dynamic).sum()), int(dynamic.sum()))


def kept_by_cloud(points: np.ndarray, map_points: np.ndarray, match_distance: float = 0.05) -> np.ndarray:
    """(N,) bool: ground-truth points with a point of the output map within ``match_distance``
    metres (for methods that output a cleaned cloud rather than a per-point decision)."""
    if len(map_points) == 0:
        return np.zeros(len(points), dtype=bool)
    dist, _ = cKDTree(np.asarray(map_points, dtype=np.float64)).query(
        np.asarray(points, dtype=np.float64), k=1, distance_upper_bound=match_distance)
    return np.isfinite(dist)
