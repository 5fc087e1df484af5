"""The simulated spinning LiDAR: one sweep of rays through the world with noise and dropouts.

Each column fires at its own time within the sweep. With motion distortion on, the sensor
and every agent are where they are at that time, so each point is in the sensor frame *at
its own time* (as a real sensor reports it); ``times`` says when. With distortion off the
whole sweep is taken at the frame timestamp and ``times`` are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2mat.sim.lidar import LidarPreset, beam_directions, column_azimuths, column_times
from s2mat.sim.raycast import cast_agent, cast_static, surface
from s2mat.sim.world import World


@dataclass
class Sweep:
    """One sweep's returns, column-major firing order."""

    points: np.ndarray  # (N, 3) float32, sensor frame at each point's time
    intensity: np.ndarray  # (N,) float32 in [0, 1]
    times: np.ndarray  # (N,) float32 seconds after the frame timestamp
    ring: np.ndarray  # (N,) uint16 laser index, 0 = top
    semantic: np.ndarray  # (N,) uint16 SemanticKITTI ids
    instance: np.ndarray  # (N,) uint16
    moving: np.ndarray  # (N,) bool


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


class Scanner:
    """A LiDAR of ``preset`` with ``columns`` per sweep, mounted on the world's ego vehicle."""

    def __init__(self, preset: LidarPreset, columns: int | None = None, distortion: bool = True) -> None:
        self.preset = preset
        self.columns = int(columns or preset.columns)
        self.distortion = distortion
        self.dirs = beam_directions(preset, self.columns)  # (C, R, 3)
        self.dirs32 = self.dirs.astype(np.float32)
        self.col_times = column_times(preset, self.columns)
        self.dirs_flat = self.dirs32.reshape(-1, 3)
        rings = preset.rings
        self.ray_times = np.repeat(self.col_times, rings).astype(np.float32)
        self.zero_times = np.zeros(len(self.ray_times), np.float32)
        self.ray_ring = np.tile(np.arange(rings, dtype=np.uint16), self.columns)
        self.azimuths = column_azimuths(self.columns)
        self.elevations = np.deg2rad(np.asarray(preset.elevations_deg))

    def sensor_poses(self, world: World, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map-frame sensor origins ``(..., 3)`` and yaws at ``times``."""
        pos, yaw, _ = world.ego.state(times)
        return pos + np.array([0.0, 0.0, self.preset.mounting_height]), yaw

    def sweep(self, world: World, t0: float, rng: np.random.Generator) -> Sweep:
        preset, C, R = self.preset, self.columns, self.preset.rings
        t_col = t0 + (self.col_times if self.distortion else np.zeros(C))
        origin, yaw = self.sensor_poses(world, t_col)
        c, s = np.cos(yaw).astype(np.float32)[:, None], np.sin(yaw).astype(np.float32)[:, None]
        d = self.dirs32
        rays = np.empty((C, R, 6), dtype=np.float32)
        rays[..., 0] = origin[:, 0:1]
        rays[..., 1] = origin[:, 1:2]
        rays[..., 2] = origin[:, 2:3]
        rays[..., 3] = c * d[..., 0] - s * d[..., 1]
        rays[..., 4] = s * d[..., 0] + c * d[..., 1]
        rays[..., 5] = d[..., 2]
        rays = rays.reshape(-1, 6)
        hits = cast_static(world, rays)

        # Agents: only the columns and rings whose rays can reach the agent, which is posed at
        # each column's own time; rays already stopped by nearer static geometry are skipped.
        t_mid = float(t_col[C // 2])
        o_mid = origin[C // 2]
        col_yaw = yaw + self.azimuths
        ego_step = float(np.linalg.norm(origin[-1, :2] - origin[0, :2]))
        for slot, agent in enumerate(world.agents):
            r_h = float(np.hypot(agent.size[0], agent.size[1])) / 2.0
            pos, _ = agent.trajectory.pose(np.array([t_mid]))
            delta = pos[0, :2] - o_mid[:2]
            dist = float(np.hypot(delta[0], delta[1]))
            reach = r_h + agent.top_speed * preset.period + ego_step + 0.1
            if dist - reach > preset.max_range:
                continue
            if dist <= reach:
                cols = np.arange(C)
            else:
                half = np.arcsin(reach / dist) + 0.01
                cols = np.flatnonzero(np.abs(_wrap(col_yaw - np.arctan2(delta[1], delta[0]))) <= half)
            if len(cols) == 0:
                continue
            a_pos, a_yaw = agent.trajectory.pose(t_col[cols])
            rel = a_pos[:, :2] - origin[cols, :2]
            d_col = np.hypot(rel[:, 0], rel[:, 1])
            half_col = np.arcsin(np.clip(r_h / np.maximum(d_col, 1e-6), 0.0, 1.0)) + 0.003
            inside = (d_col <= r_h) | (np.abs(_wrap(col_yaw[cols] - np.arctan2(rel[:, 1], rel[:, 0]))) <= half_col)
            if not inside.any():
                continue
            cols, a_pos, a_yaw, d_col = cols[inside], a_pos[inside], a_yaw[inside], d_col[inside]
            d_near, d_far = max(float(d_col.min()) - r_h, 0.05), float(d_col.max()) + r_h
            z_low = float((a_pos[:, 2] - origin[cols, 2]).min())
            z_high = float((a_pos[:, 2] - origin[cols, 2]).max()) + agent.size[2]
            el_low = np.arctan2(z_low, d_near if z_low < 0 else d_far) - 0.003
            el_high = np.arctan2(z_high, d_near if z_high > 0 else d_far) + 0.003
            rings = np.flatnonzero((self.elevations >= el_low) & (self.elevations <= el_high))
            if len(rings) == 0:
                continue
            index = (cols[:, None] * R + rings[None, :]).ravel()
            k = len(rings)
            per_ray = np.repeat(np.arange(len(cols)), k)
            open_ray = hits.t[index] > d_near
            index, per_ray = index[open_ray], per_ray[open_ray]
            cast_agent(hits, index, slot, agent, rays[index], a_pos[per_ray].astype(np.float32), a_yaw[per_ray],
                       t_col[cols][per_ray])

        # Measurement: range limits, incidence, dropouts, noise, intensity (on candidate returns only).
        idx = np.flatnonzero((hits.t >= preset.min_range) & (hits.t <= preset.max_range))
        r = hits.t[idx]
        n = hits.normal
        cos_all = n[:, 0] * rays[:, 3] + n[:, 1] * rays[:, 4] + n[:, 2] * rays[:, 5]
        cos_inc = np.abs(cos_all[idx])
        surf = surface(world, hits, idx)
        strength = surf.reflectivity * cos_inc * (20.0 / np.maximum(r, 20.0)) ** 2
        u = rng.random(len(idx), dtype=np.float32)
        noise = rng.standard_normal((2, len(idx)), dtype=np.float32)
        keep = (u >= preset.dropout + 0.5 * (cos_inc < 0.06)) & (strength > 0.002)
        r_noisy = r + preset.range_noise * noise[0]
        intensity = surf.reflectivity * (0.2 + 0.8 * cos_inc) * (1.0 - 0.15 * r / preset.max_range)
        intensity = np.clip(intensity * (1.0 + 0.05 * noise[1]), 0.0, 1.0)

        sel = idx[keep]
        points = r_noisy[keep, None] * np.take(self.dirs_flat, sel, axis=0)
        return Sweep(
            points=points.astype(np.float32),
            intensity=intensity[keep].astype(np.float32),
            times=np.take(self.ray_times if self.distortion else self.zero_times, sel),
            ring=np.take(self.ray_ring, sel),
            semantic=surf.semantic[keep],
            instance=surf.instance[keep],
            moving=hits.moving[sel],
        )
