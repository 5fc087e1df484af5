"""The simulated world: static geometry in one ray-casting scene, and moving bodies.

All geometry lives in the *map* frame (road surface at z = 0, main road along +x). The
sequence converts to the s2mat world frame (the first sensor pose) on output.

Static geometry is merged once into a single mesh with per-triangle semantic id, instance
id, reflectivity and colour. Each agent keeps its own mesh in its body frame and its own
small scene; sensors transform rays into the body frame at the ray's time instead of
rebuilding a scene, which is exact under motion and costs nothing per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

from s2mat.sim import materials as mat
from s2mat.sim.meshes import Mesh
from s2mat.sim.motion import Trajectory
from s2mat.types import Box3D, GroundTruthBox, ObjectClass


@dataclass
class StaticPart:
    """A piece of static geometry with what the sensors see on it."""

    mesh: Mesh
    semantic: int
    material: str
    color: tuple[int, int, int] | None = None  # overrides the material colour
    instance: int = 0
    object_class: ObjectClass | None = None  # for static things that get boxes (parked cars)
    box: Box3D | None = None


@dataclass
class Agent:
    """A body that may move: a car, a person or a cyclist, with its own mesh and trajectory."""

    instance_id: int
    object_class: ObjectClass
    semantic: int  # SemanticKITTI id when standing still
    size: np.ndarray  # (length, width, height) metres, the body box
    mesh: Mesh  # body frame: origin on the ground at the footprint centre
    color: tuple[int, int, int]
    reflectivity: float
    trajectory: Trajectory
    scene: o3d.t.geometry.RaycastingScene = field(init=False, repr=False)
    _normals: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.size = np.asarray(self.size, dtype=np.float64)
        verts, tris = self.mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(verts.astype(np.float32)), o3d.core.Tensor(tris.astype(np.uint32)))

    @property
    def top_speed(self) -> float:
        """The highest speed of the agent's profile, m/s (for culling)."""
        return float(np.max(np.abs(self.trajectory.knots_v)))

    @property
    def radius(self) -> float:
        """Radius of a sphere about the box centre holding the whole body."""
        return float(np.linalg.norm(self.size / 2.0))

    @property
    def moving_semantic(self) -> int:
        return mat.MOVING_ID.get(self.semantic, self.semantic)

    def box_at(self, t: float) -> tuple[Box3D, np.ndarray, bool]:
        """Map-frame box (centre of the volume), velocity and moving flag at time ``t``."""
        pos, yaw, vel = self.trajectory.state(np.array([t]))
        center = pos[0] + np.array([0.0, 0.0, self.size[2] / 2.0])
        return Box3D(center, self.size, float(yaw[0])), vel[0], bool(self.trajectory.moving(np.array([t]))[0])


@dataclass
class AgentTables:
    """Per-agent attributes as arrays, indexed by the agent's position in ``World.agents``."""

    semantic: np.ndarray
    moving_semantic: np.ndarray
    instance: np.ndarray
    reflectivity: np.ndarray
    color: np.ndarray


class World:
    """Static parts merged into one scene, plus agents and the ego trajectory."""

    def __init__(self, parts: list[StaticPart], agents: list[Agent], ego: Trajectory, name: str,
                 extent: tuple[float, float, float, float]) -> None:
        self.name = name
        self.parts = parts
        self.agents = agents
        self.ego = ego
        self.extent = extent  # (xmin, xmax, ymin, ymax) of the built area, map frame
        verts, tris, sem, inst, refl, color = [], [], [], [], [], []
        offset = 0
        for part in parts:
            v, t = part.mesh
            material = mat.MATERIALS[part.material]
            verts.append(v)
            tris.append(t + offset)
            offset += len(v)
            k = len(t)
            sem.append(np.full(k, part.semantic, np.uint16))
            inst.append(np.full(k, part.instance, np.uint16))
            refl.append(np.full(k, material.reflectivity, np.float32))
            color.append(np.tile(np.asarray(part.color or material.color, np.uint8), (k, 1)))
        self.vertices = np.vstack(verts)
        self.triangles = np.vstack(tris)
        # Per-triangle tables carry one extra row at the end for rays that hit nothing.
        self.tri_semantic = np.concatenate(sem + [np.zeros(1, np.uint16)])
        self.tri_instance = np.concatenate(inst + [np.zeros(1, np.uint16)])
        self.tri_reflectivity = np.concatenate(refl + [np.zeros(1, np.float32)])
        self.tri_color = np.vstack(color + [np.zeros((1, 3), np.uint8)])
        self.agent_tables = AgentTables(
            semantic=np.array([a.semantic for a in agents] + [0], np.uint16),
            moving_semantic=np.array([a.moving_semantic for a in agents] + [0], np.uint16),
            instance=np.array([a.instance_id for a in agents] + [0], np.uint16),
            reflectivity=np.array([a.reflectivity for a in agents] + [0], np.float32),
            color=np.array([a.color for a in agents] + [(0, 0, 0)], np.uint8).reshape(-1, 3),
        )
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)),
                                 o3d.core.Tensor(self.triangles.astype(np.uint32)))

    @property
    def triangle_count(self) -> int:
        return len(self.triangles)

    def static_boxes(self) -> list[tuple[StaticPart, Box3D]]:
        return [(p, p.box) for p in self.parts if p.box is not None]

    def boxes_at(self, t: float, center_xy: np.ndarray, max_range: float) -> list[GroundTruthBox]:
        """Map-frame boxes of agents and parked cars within ``max_range`` (xy) of ``center_xy`` at ``t``."""
        out = []
        for agent in self.agents:
            box, vel, moving = agent.box_at(t)
            if np.linalg.norm(box.center[:2] - center_xy) <= max_range:
                out.append(GroundTruthBox(agent.instance_id, agent.object_class, box, vel, moving))
        for part, box in self.static_boxes():
            if np.linalg.norm(box.center[:2] - center_xy) <= max_range:
                out.append(GroundTruthBox(part.instance, part.object_class, box, np.zeros(3), False))
        return sorted(out, key=lambda b: b.instance_id)

    def sample_static(self, density: float, rng: np.random.Generator, near: np.ndarray, max_dist: float) -> np.ndarray:
        """Points on static surfaces, about ``density`` per square metre, map frame, (M, 3) float64.

        Only triangles that face sideways or up and lie within ``max_dist`` (xy) of a point of
        ``near`` ((K, 2) map-frame positions) are sampled.
        """
        v = self.vertices[self.triangles]  # (T, 3, 3)
        cross = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        area = 0.5 * np.linalg.norm(cross, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            nz = cross[:, 2] / np.maximum(2 * area, 1e-12)
        keep = (area > 0) & (nz > -0.5)
        counts = np.floor(area * density + rng.random(len(area))).astype(np.int64)
        counts[~keep] = 0
        idx = np.repeat(np.arange(len(area)), counts)
        r1, r2 = rng.random(len(idx)), rng.random(len(idx))
        flip = r1 + r2 > 1
        r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
        tri = v[idx]
        pts = tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0])
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(near).query(pts[:, :2], k=1)
        return pts[dist <= max_dist]
