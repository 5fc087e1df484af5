"""Trajectory accuracy: ATE after rigid alignment and KITTI-style relative error.

Poses are 4x4 world_T_sensor arrays (N, 4, 4) in metres; both trajectories index the same
frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

KITTI_LENGTHS = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
SHORT_LENGTHS = (10.0, 20.0, 40.0, 80.0)


@dataclass(frozen=True)
class OdometryScores:
    """ATE RMSE (m) after SE(3) alignment; relative translation error (percent) and
    rotation error (deg/100 m) averaged over the segment lengths used."""

    ate_rmse: float
    rel_translation_pct: float
    rel_rotation_deg_per_100m: float
    lengths: tuple[float, ...]
    path_length: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def align_rigid(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """4x4 rigid transform (no scale) minimising ||T source - target||^2 over (N, 3) points."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    cov = (target - mu_t).T @ (source - mu_s) / len(source)
    u, _, vt = np.linalg.svd(cov)
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    out = np.eye(4)
    out[:3, :3] = u @ d @ vt
    out[:3, 3] = mu_t - out[:3, :3] @ mu_s
    return out


def absolute_trajectory_error(gt: np.ndarray, est: np.ndarray) -> float:
    """RMSE (m) of positions after aligning ``est`` to ``gt`` rigidly."""
    gt_t, est_t = gt[:, :3, 3], est[:, :3, 3]
    if len(gt_t) < 3:
        return float(np.sqrt(np.mean(np.sum((gt_t - est_t) ** 2, axis=1))))
    T = align_rigid(est_t, gt_t)
    aligned = est_t @ T[:3, :3].T + T[:3, 3]
    return float(np.sqrt(np.mean(np.sum((aligned - gt_t) ** 2, axis=1))))


def relative_errors(gt: np.ndarray, est: np.ndarray,
                    lengths: tuple[float, ...] | None = None) -> tuple[float, float, tuple[float, ...]]:
    """KITTI-style relative error: for every start frame and segment length L, the error of
    the estimated motion over the first ground-truth segment at least L metres long, as a
    share of L. Returns (translation %, rotation deg/100 m, lengths used). ``lengths``
    defaults to KITTI's 100..800 m where the path is long enough, else 10..80 m."""
    steps = np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1)
    dist = np.r_[0.0, np.cumsum(steps)]
    if lengths is None:
        lengths = tuple(L for L in KITTI_LENGTHS if L < dist[-1]) or tuple(
            L for L in SHORT_LENGTHS if L < dist[-1]) or (max(dist[-1] / 2, 1e-9),)
    t_err, r_err = [], []
    for L in lengths:
        ends = np.searchsorted(dist, dist + L)
        for i in np.flatnonzero(ends < len(gt)):
            j = ends[i]
            d_gt = np.linalg.inv(gt[i]) @ gt[j]
            d_est = np.linalg.inv(est[i]) @ est[j]
            e = np.linalg.inv(d_est) @ d_gt
            t_err.append(np.linalg.norm(e[:3, 3]) / L)
            cos = np.clip((np.trace(e[:3, :3]) - 1) / 2, -1, 1)
            r_err.append(np.degrees(np.arccos(cos)) / L)
    if not t_err:
        return float("nan"), float("nan"), tuple(lengths)
    return float(100 * np.mean(t_err)), float(100 * np.mean(r_err)), tuple(lengths)


def odometry_scores(gt: np.ndarray, est: np.ndarray, lengths: tuple[float, ...] | None = None) -> OdometryScores:
    """ATE and relative errors of ``est`` against ``gt`` (both (N, 4, 4))."""
    gt = np.asarray(gt, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"trajectories must both be (N, 4, 4); got {gt.shape} and {est.shape}")
    t, r, used = relative_errors(gt, est, lengths)
    path = float(np.sum(np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1)))
    return OdometryScores(absolute_trajectory_error(gt, est), t, r, used, path)
