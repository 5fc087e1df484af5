"""Low things on the road (feet, a dropped bag) that leave are carved; the road stays."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from raycast_scene import SENSOR_HEIGHT, _beams, _box

from mapping.config import StaticMapConfig
from mapping.static_map import StaticMap

FRAMES, LEAVES = 30, 10


@pytest.fixture(scope="module")
def scans():
    """A 64-beam sensor moving along +x at 2 m/s over a flat road with two walls; a low box
    (0.4 x 0.4 x 0.3 m) stands on the road 12 m ahead, beside the path, until frame LEAVES."""
    rng = np.random.default_rng(1)
    road = _box((40, 0, -SENSOR_HEIGHT - 0.05), (140, 30, 0.1))
    walls = [_box((40, 11, 3.0), (140, 1.0, 10.0)), _box((40, -11, 3.0), (140, 1.0, 10.0))]
    low = _box((12, 3.0, -SENSOR_HEIGHT + 0.15), (0.4, 0.4, 0.3))
    dirs = _beams()
    out = []
    for f in range(FRAMES):
        scene = o3d.t.geometry.RaycastingScene()
        static_ids = [scene.add_triangles(m) for m in (road, *walls)]
        low_id = scene.add_triangles(low) if f < LEAVES else -1
        origin = np.array([0.2 * f, 0.0, 0.0])
        rays = np.hstack([np.broadcast_to(origin, dirs.shape), dirs]).astype(np.float32)
        hit = scene.cast_rays(o3d.core.Tensor(rays))
        t, gid = hit["t_hit"].numpy(), hit["geometry_ids"].numpy()
        ok = np.isfinite(t) & (t < 80)
        pts = dirs[ok] * (t[ok] + rng.normal(0, 0.01, ok.sum()))[:, None]
        assert low_id not in static_ids
        pose = np.eye(4)
        pose[:3, 3] = origin
        out.append((pts.astype(np.float32), gid[ok] == low_id, gid[ok] == static_ids[0], pose))
    return out


def _world(points, pose):
    return points.astype(np.float64) @ pose[:3, :3].T + pose[:3, 3]


def _run(scans, beam_radius):
    smap = StaticMap(StaticMapConfig(beam_radius=beam_radius), max_range=80.0)
    low = []
    for points, is_low, _, pose in scans:
        smap.integrate(points, pose)
        low.append(_world(points[is_low], pose))
    return smap, np.concatenate(low)


def test_low_box_that_leaves_the_road_is_carved_and_the_road_is_kept(scans):
    smap, low = _run(scans, StaticMapConfig().beam_radius)
    assert len(low) > 100
    road_top = -SENSOR_HEIGHT
    # Above the voxel layer just over the road everything is carved; that layer shares its
    # voxels' height with the road's own returns, so only the beam test reaches into it.
    assert smap.is_static(low[low[:, 2] > road_top + 0.13]).mean() < 0.05
    road = np.concatenate([_world(p[r], pose)[::20] for p, _, r, pose in scans])
    assert smap.is_static(road).mean() > 0.98
    windowed, _ = _run(scans, None)
    layer = low[(low[:, 2] > road_top + 0.03) & (low[:, 2] < road_top + 0.13)]
    assert len(layer) > 30
    assert smap.is_static(layer).mean() < windowed.is_static(layer).mean() - 0.2
