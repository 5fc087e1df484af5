"""SA/DA/AA/HA and PR/RR on labelled clouds whose correct answers follow from construction."""

from __future__ import annotations

import numpy as np
import pytest

from s2mat.evaluation import kept_by_cloud, static_map_scores


def _cloud(rng, n_static=4000, n_dynamic=1000):
    static = rng.uniform([-20, -20, -2], [20, 20, 0], size=(n_static, 3))
    dynamic = rng.uniform([30, 30, 0], [34, 32, 1.5], size=(n_dynamic, 3))
    return np.vstack([static, dynamic]), np.r_[np.zeros(n_static, bool), np.ones(n_dynamic, bool)]


def test_perfect_map_scores_100_and_keeping_everything_scores_zero_da():
    rng = np.random.default_rng(0)
    pts, dyn = _cloud(rng)
    perfect = static_map_scores(pts, dyn, ~dyn)
    assert perfect.sa == perfect.da == perfect.aa == perfect.ha == 100.0
    assert perfect.pr == perfect.rr == 100.0
    raw = static_map_scores(pts, dyn, np.ones(len(pts), bool))
    assert raw.sa == 100.0 and raw.da == 0.0 and raw.aa == 0.0 and raw.rr == 0.0


def test_scores_match_removed_shares_and_their_means():
    rng = np.random.default_rng(1)
    pts, dyn = _cloud(rng)
    kept = ~dyn
    lost_static = rng.choice(np.flatnonzero(~dyn), 200, replace=False)
    left_dynamic = rng.choice(np.flatnonzero(dyn), 300, replace=False)
    kept[lost_static] = False
    kept[left_dynamic] = True
    s = static_map_scores(pts, dyn, kept)
    sa = 100 * (1 - 200 / (~dyn).sum())
    da = 100 * (1 - 300 / dyn.sum())
    assert s.sa == pytest.approx(sa) and s.da == pytest.approx(da)
    assert s.aa == pytest.approx(np.sqrt(sa * da))
    assert s.ha == pytest.approx(2 * sa * da / (sa + da))
    assert s.static_points == (~dyn).sum() and s.dynamic_points == dyn.sum()


def test_cloud_output_is_matched_within_distance():
    rng = np.random.default_rng(2)
    pts, dyn = _cloud(rng)
    out = pts[~dyn] + rng.normal(0, 0.005, size=((~dyn).sum(), 3))
    kept = kept_by_cloud(pts, out, match_distance=0.05)
    assert np.array_equal(kept, ~dyn)
