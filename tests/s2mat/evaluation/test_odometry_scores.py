"""ATE and KITTI-style relative error on trajectories with known, constructed errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2mat.evaluation import odometry_scores


def _trajectory(n=200, step=1.0, turn=np.pi / 2):
    poses = np.repeat(np.eye(4)[None], n, axis=0)
    yaw = np.linspace(0, turn, n)
    poses[:, :3, :3] = Rotation.from_euler("z", yaw[:, None]).as_matrix()
    poses[:, 0, 3] = np.cumsum(step * np.cos(yaw))
    poses[:, 1, 3] = np.cumsum(step * np.sin(yaw))
    return poses


def test_rigidly_moved_copy_has_zero_error():
    gt = _trajectory()
    offset = np.eye(4)
    offset[:3, :3] = Rotation.from_euler("z", 0.7).as_matrix()
    offset[:3, 3] = [5, -3, 1]
    s = odometry_scores(gt, offset @ gt)
    assert s.ate_rmse == pytest.approx(0, abs=1e-9)
    assert s.rel_translation_pct == pytest.approx(0, abs=1e-9)
    assert s.lengths == (100.0,)


def test_scale_drift_shows_as_relative_error_of_that_size():
    gt = _trajectory(step=0.5, n=400, turn=0.0)  # straight: segment chord equals its length
    est = gt.copy()
    est[:, :3, 3] *= 1.02  # 2 % too long everywhere
    s = odometry_scores(gt, est)
    assert s.rel_translation_pct == pytest.approx(2.0, rel=1e-6)
    assert s.rel_rotation_deg_per_100m == pytest.approx(0, abs=1e-6)
    assert s.ate_rmse > 0


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="trajectories"):
        odometry_scores(_trajectory(10), _trajectory(11))
