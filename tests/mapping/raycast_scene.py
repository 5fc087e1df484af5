"""A small street scene ray-cast with open3d, for mapping tests that need labelled scans.

A road, two building walls, a parked car that leaves after ``depart_frame`` and a car
driving past; a 64-beam spinning LiDAR moves along the road. Every point carries a label:
0 static structure, 1 the parked car (static until it leaves), 2 the moving car.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

SENSOR_HEIGHT = 1.73


@dataclass
class Scan:
    points: np.ndarray  # (N, 3) float32, sensor frame
    labels: np.ndarray  # (N,) uint8
    pose: np.ndarray  # 4x4 world_T_sensor
    timestamp: float


def _box(center: tuple[float, float, float], size: tuple[float, float, float]) -> o3d.t.geometry.TriangleMesh:
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    mesh.translate(np.asarray(center) - np.asarray(size) / 2)
    return o3d.t.geometry.TriangleMesh.from_legacy(mesh)


def _beams(rings: int = 64, columns: int = 900) -> np.ndarray:
    el = np.deg2rad(np.linspace(-24.8, 2.0, rings))
    az = np.linspace(-np.pi, np.pi, columns, endpoint=False)
    e, a = np.meshgrid(el, az, indexing="ij")
    return np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)


def street_scans(frames: int = 40, depart_frame: int = 15, speed: float = 2.0, seed: int = 0) -> list[Scan]:
    """Scans of the scene at 10 Hz; the sensor starts at x = 0 and drives along +x."""
    rng = np.random.default_rng(seed)
    static = [_box((40, 0, -SENSOR_HEIGHT - 0.05), (140, 30, 0.1)),
              _box((40, 11, 3.0), (140, 1.0, 10.0)), _box((40, -11, 3.0), (140, 1.0, 10.0))]
    # Poles and doorsteps make motion along the road observable.
    static += [_box((x, side * (8.5 + (x % 3)), 1.0), (0.4, 0.4, 6.0))
               for x in range(-20, 100, 7) for side in (-1, 1)]
    static += [_box((x + 3.5, side * 10.2, -0.5), (2.0, 0.6, 2.5 + (x % 4)))
               for x in range(-20, 100, 11) for side in (-1, 1)]
    parked = _box((14, 5.5, -SENSOR_HEIGHT + 0.75), (4.5, 1.8, 1.5))
    dirs = _beams()
    scans = []
    for f in range(frames):
        scene = o3d.t.geometry.RaycastingScene()
        ids = [scene.add_triangles(m) for m in static]
        parked_id = scene.add_triangles(parked) if f < depart_frame else -1
        mover = _box((-10 + 1.2 * f, -4.0, -SENSOR_HEIGHT + 0.75), (4.5, 1.8, 1.5))
        mover_id = scene.add_triangles(mover)
        origin = np.array([speed * 0.1 * f, 0.0, 0.0])
        rays = np.hstack([np.broadcast_to(origin, dirs.shape), dirs]).astype(np.float32)
        hit = scene.cast_rays(o3d.core.Tensor(rays))
        t = hit["t_hit"].numpy()
        gid = hit["geometry_ids"].numpy()
        ok = np.isfinite(t) & (t < 80)
        t = t[ok] + rng.normal(0, 0.01, ok.sum())
        pts = (dirs[ok] * t[:, None]).astype(np.float32)
        labels = np.zeros(ok.sum(), np.uint8)
        labels[gid[ok] == parked_id] = 1
        labels[gid[ok] == mover_id] = 2
        assert set(ids).isdisjoint({parked_id, mover_id})
        pose = np.eye(4)
        pose[:3, 3] = origin
        scans.append(Scan(pts, labels, pose, 0.1 * f))
    return scans
