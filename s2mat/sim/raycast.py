"""Ray casting against the simulated world: the static scene plus agents at each ray's time.

Rays are an ``(N, 6)`` float32 array of map-frame origins and unit directions. Agents are
never re-posed as meshes: a ray is moved into the agent's body frame at the ray's own time,
so objects that move during a LiDAR sweep are seen exactly where they are when each column
fires. What was hit is kept as indices (static triangle or agent) and turned into labels,
reflectivity and colour only for the rays the caller keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from s2mat.sim.world import Agent, World


@dataclass
class Hits:
    """First hits of N rays. ``t`` is the distance in metres (inf on a miss); normals are map frame."""

    t: np.ndarray  # (N,) float32
    normal: np.ndarray  # (N, 3) float32
    triangle: np.ndarray  # (N,) int64 static triangle index (len(triangles) on a miss)
    agent: np.ndarray  # (N,) int32 index into world.agents, -1 for static or miss
    moving: np.ndarray  # (N,) bool: an agent that moves at the ray's time


@dataclass
class Surface:
    """What was hit, for selected rays."""

    semantic: np.ndarray  # (K,) uint16 SemanticKITTI ids (moving ids for moving bodies)
    instance: np.ndarray  # (K,) uint16
    reflectivity: np.ndarray  # (K,) float32
    color: np.ndarray | None  # (K, 3) uint8 when asked for


def cast_static(world: World, rays: np.ndarray) -> Hits:
    """First hits of ``rays`` on the static world."""
    result = world.scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
    t = result["t_hit"].numpy()
    prim = result["primitive_ids"].numpy().astype(np.int64)
    prim[~np.isfinite(t)] = world.triangle_count
    return Hits(t=t, normal=result["primitive_normals"].numpy(), triangle=prim,
                agent=np.full(len(t), -1, np.int32), moving=np.zeros(len(t), dtype=bool))


def cast_agent(hits: Hits, index: np.ndarray, slot: int, agent: Agent, rays: np.ndarray, pos: np.ndarray,
               yaw: np.ndarray, times: np.ndarray) -> None:
    """Cast ``rays`` (those of ``index``) at ``agent`` posed at ``pos``/``yaw`` per ray; keep nearer hits.

    ``slot`` is the agent's index in ``world.agents``; ``times`` the rays' times (for the moving flag).
    """
    if len(index) == 0:
        return
    c, s = np.cos(yaw).astype(np.float32), np.sin(yaw).astype(np.float32)
    local = np.empty_like(rays)
    rx, ry = rays[:, 0] - pos[:, 0], rays[:, 1] - pos[:, 1]
    local[:, 0] = c * rx + s * ry
    local[:, 1] = -s * rx + c * ry
    local[:, 2] = rays[:, 2] - pos[:, 2]
    local[:, 3] = c * rays[:, 3] + s * rays[:, 4]
    local[:, 4] = -s * rays[:, 3] + c * rays[:, 4]
    local[:, 5] = rays[:, 5]
    result = agent.scene.cast_rays(o3d.core.Tensor.from_numpy(local))
    t = result["t_hit"].numpy()
    closer = t < hits.t[index]
    if not closer.any():
        return
    sel = index[closer]
    n = result["primitive_normals"].numpy()[closer]
    cs, ss = c[closer], s[closer]
    hits.t[sel] = t[closer]
    hits.normal[sel] = np.column_stack([cs * n[:, 0] - ss * n[:, 1], ss * n[:, 0] + cs * n[:, 1], n[:, 2]])
    hits.agent[sel] = slot
    hits.moving[sel] = agent.trajectory.moving(times[closer])


def surface(world: World, hits: Hits, index: np.ndarray, color: bool = False) -> Surface:
    """Labels, reflectivity (and colour) of the rays ``index``."""
    tri = hits.triangle[index]
    semantic = np.take(world.tri_semantic, tri)
    instance = np.take(world.tri_instance, tri)
    refl = np.take(world.tri_reflectivity, tri)
    rgb = np.take(world.tri_color, tri, axis=0) if color else None
    on_agent = np.flatnonzero(hits.agent[index] >= 0)
    if len(on_agent):
        a = hits.agent[index[on_agent]]
        tables = world.agent_tables
        semantic[on_agent] = np.where(hits.moving[index[on_agent]], tables.moving_semantic[a], tables.semantic[a])
        instance[on_agent] = tables.instance[a]
        refl[on_agent] = tables.reflectivity[a]
        if rgb is not None:
            rgb[on_agent] = tables.color[a]
    return Surface(semantic, instance, refl, rgb)
