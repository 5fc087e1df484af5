"""The simulated pinhole camera, rendered by ray casting with simple sun shading.

The camera looks forward from near the LiDAR (KITTI-like mounting: 0.27 m ahead of and
0.08 m below it). Camera frame: +x right, +y down, +z forward. The image is taken at the
frame timestamp (a global shutter).
"""

from __future__ import annotations

import numpy as np

from s2mat.sim import materials as mat
from s2mat.sim.raycast import cast_agent, cast_static, surface
from s2mat.sim.world import World
from s2mat.types import CameraModel

#: Rotation taking LiDAR axes (x forward, y left, z up) to camera axes (x right, y down, z forward).
LIDAR_TO_CAMERA_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
CAMERA_IN_LIDAR = np.array([0.27, 0.0, -0.08])  # camera centre in the LiDAR frame, metres
SUN = np.array([0.45, 0.3, 0.84]) / np.linalg.norm([0.45, 0.3, 0.84])  # map frame, towards the sun


def default_camera(width: int = 640, height: int = 192) -> CameraModel:
    """A forward camera with about an 81 degree horizontal field of view (like KITTI's)."""
    f = 0.585 * width
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    camera_T_lidar = np.eye(4)
    camera_T_lidar[:3, :3] = LIDAR_TO_CAMERA_AXES
    camera_T_lidar[:3, 3] = -LIDAR_TO_CAMERA_AXES @ CAMERA_IN_LIDAR
    return CameraModel(K=K, width=width, height=height, camera_T_lidar=camera_T_lidar)


class Renderer:
    """Renders ``camera`` images of a world."""

    def __init__(self, camera: CameraModel) -> None:
        self.camera = camera
        u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
        pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=-1)
        k_inv = np.linalg.inv(camera.K)
        rays = pix[:, 0:1] * k_inv[:, 0] + pix[:, 1:2] * k_inv[:, 1] + pix[:, 2:3] * k_inv[:, 2]
        self.rays_cam = rays / np.linalg.norm(rays, axis=1, keepdims=True)  # (H*W, 3) camera frame

    def render(self, world: World, map_T_sensor: np.ndarray, t: float) -> np.ndarray:
        """An ``(H, W, 3)`` uint8 RGB image of the world at time ``t`` seen from ``map_T_sensor``."""
        cam = self.camera
        map_T_cam = map_T_sensor @ np.linalg.inv(cam.camera_T_lidar)
        rot, origin = map_T_cam[:3, :3], map_T_cam[:3, 3]
        r = self.rays_cam  # an explicit 3x3 product: BLAS is slow for (N, 3) @ (3, 3) on busy machines
        dirs = r[:, 0:1] * rot[:, 0] + r[:, 1:2] * rot[:, 1] + r[:, 2:3] * rot[:, 2]
        rays = np.empty((len(dirs), 6), dtype=np.float32)
        rays[:, :3] = origin
        rays[:, 3:] = dirs
        hits = cast_static(world, rays)
        cam_T_map = np.linalg.inv(map_T_cam)
        W, H = cam.width, cam.height
        for slot, agent in enumerate(world.agents):
            pos, yaw = agent.trajectory.pose(np.array([t]))
            center = cam_T_map[:3, :3] @ (pos[0] + [0.0, 0.0, agent.size[2] / 2]) + cam_T_map[:3, 3]
            radius = agent.radius + 0.1
            if center[2] < -radius or np.linalg.norm(center) > 150.0:
                continue
            if center[2] <= radius + 0.2:
                # Straddling the image plane: cast the whole image only if the body can be in view.
                d = float(np.hypot(center[0], center[2]))
                half_fov = np.arctan2(W / 2.0, cam.K[0, 0])
                if d > radius and abs(np.arctan2(center[0], center[2])) - np.arcsin(radius / d) > half_fov:
                    continue
                index = np.arange(W * H)
            else:
                uv = cam.K @ (center / center[2])
                r_px = cam.K[0, 0] * radius / np.sqrt(center[2] ** 2 - radius**2) + 2.0
                u0, u1 = int(max(0, uv[0] - r_px)), int(min(W, uv[0] + r_px + 1))
                v0, v1 = int(max(0, uv[1] - r_px)), int(min(H, uv[1] + r_px + 1))
                if u0 >= u1 or v0 >= v1:
                    continue
                vv, uu = np.meshgrid(np.arange(v0, v1), np.arange(u0, u1), indexing="ij")
                index = (vv * W + uu).ravel()
            n = len(index)
            cast_agent(hits, index, slot, agent, rays[index], np.repeat(pos.astype(np.float32), n, axis=0),
                       np.repeat(yaw, n), np.full(n, t))

        hit = np.flatnonzero(np.isfinite(hits.t))
        up = np.clip(dirs[:, 2], 0.0, 1.0)[:, None] ** 0.5
        img = mat.SKY_HORIZON * (1 - up) + mat.SKY_TOP * up
        n = hits.normal[hit].astype(np.float64)
        facing = np.einsum("ij,ij->i", n, dirs[hit])
        n[facing > 0] *= -1.0
        light = 0.4 + 0.6 * np.clip(n[:, 0] * SUN[0] + n[:, 1] * SUN[1] + n[:, 2] * SUN[2], 0.0, 1.0)
        color = surface(world, hits, hit, color=True).color.astype(np.float64) * light[:, None]
        fog = (1.0 - np.exp(-hits.t[hit].astype(np.float64) / 300.0))[:, None]
        img[hit] = color * (1 - fog) + mat.SKY_HORIZON * fog
        return np.clip(img, 0, 255).astype(np.uint8).reshape(H, W, 3)
