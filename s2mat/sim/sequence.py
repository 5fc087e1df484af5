"""A simulated sequence: the :class:`~s2mat.datasets.base.Dataset` the simulator hands out.

Frame ``i`` has timestamp ``i / frame_rate`` seconds (the sweep start). Poses, boxes and the
static world are in the s2mat world frame: the sensor pose at frame 0. Every frame is a pure
function of (scenario, sensor, columns, seed, index), so random access and iteration agree
and the same arguments give the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2mat.datasets.base import IndexedDataset
from s2mat.errors import ConfigError
from s2mat.sim import scenarios
from s2mat.sim.camera import Renderer, default_camera
from s2mat.sim.lidar import LIDAR_PRESETS, LidarPreset
from s2mat.sim.scanner import Scanner
from s2mat.types import Box3D, Frame, FrameGroundTruth, GroundTruthBox

STATIC_WORLD_DENSITY = 16.0  # samples per square metre of static surface (about 25 cm apart)


def lidar_preset(name: str) -> LidarPreset:
    key = name.lower()
    if key not in LIDAR_PRESETS:
        raise ConfigError(f"unknown sensor preset {name!r}; known presets: {', '.join(LIDAR_PRESETS)}")
    return LIDAR_PRESETS[key]


def _yaw_pose(pos: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """4x4 poses (..., 4, 4) from positions (..., 3) and yaws (...)."""
    pos, yaw = np.asarray(pos, float), np.asarray(yaw, float)
    out = np.zeros(yaw.shape + (4, 4))
    c, s = np.cos(yaw), np.sin(yaw)
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = c, -s, s, c
    out[..., 2, 2] = out[..., 3, 3] = 1.0
    out[..., :3, 3] = pos
    return out


class SimulatedSequence(IndexedDataset):
    """``frames`` sweeps of ``sensor`` driving through ``scenario`` (see :func:`simulate`)."""

    name = "simulator"

    def __init__(self, scenario: str, *, sensor: str = "hdl64", frames: int = 50, seed: int = 0,
                 columns: int | None = None, camera: bool = True, motion_distortion: bool = True) -> None:
        if scenario not in scenarios.SCENARIOS:
            raise ConfigError(f"unknown scenario {scenario!r}; known scenarios: {', '.join(scenarios.SCENARIOS)}")
        self.preset = lidar_preset(sensor)
        if isinstance(frames, bool) or int(frames) != frames or frames <= 0:
            raise ConfigError(f"frames must be a positive whole number, got {frames!r}")
        if columns is not None and (int(columns) != columns or not 16 <= columns <= 8192):
            raise ConfigError(f"columns must be a whole number from 16 to 8192, got {columns!r}")
        super().__init__(Path(f"sim:{scenario}"))
        self.scenario, self.sensor, self.frames, self.seed = scenario, self.preset.name, int(frames), int(seed)
        self.period = self.preset.period
        self.world = scenarios.build(scenario, self.seed, self.frames * self.period + 1.0)
        self.scanner = Scanner(self.preset, columns, distortion=motion_distortion)
        self.columns = self.scanner.columns
        self.camera = default_camera() if camera else None
        self._renderer = Renderer(self.camera) if self.camera is not None else None
        self.world_T_map = np.linalg.inv(self.map_T_sensor(0.0))
        self._static_world: np.ndarray | None = None
        self._counts: dict[int, tuple[int, int]] = {}  # frame -> (points, moving points), as produced

    # --- poses -------------------------------------------------------------------------------

    def map_T_sensor(self, t: np.ndarray | float) -> np.ndarray:
        origin, yaw = self.scanner.sensor_poses(self.world, np.asarray(t, dtype=np.float64))
        return _yaw_pose(origin, yaw)

    def sensor_pose_at(self, t: np.ndarray | float) -> np.ndarray:
        """World-frame ``world_T_sensor`` at time(s) ``t`` (seconds since frame 0), (..., 4, 4)."""
        return self.world_T_map @ self.map_T_sensor(t)

    def timestamp(self, index: int) -> float:
        return index * self.period

    def gt_poses(self) -> np.ndarray:
        return self.sensor_pose_at(np.arange(self.frames) * self.period)

    # --- ground truth --------------------------------------------------------------------------

    def _to_world(self, box: GroundTruthBox) -> GroundTruthBox:
        r, t = self.world_T_map[:3, :3], self.world_T_map[:3, 3]
        dyaw = float(np.arctan2(r[1, 0], r[0, 0]))
        yaw = float(np.angle(np.exp(1j * (box.box.yaw + dyaw))))
        return GroundTruthBox(box.instance_id, box.object_class, Box3D(r @ box.box.center + t, box.box.size, yaw),
                              r @ np.asarray(box.velocity, float), box.moving)

    def boxes_at(self, t: float) -> list[GroundTruthBox]:
        """World-frame boxes (agents and parked cars within the sensor's range) at time ``t``."""
        center = self.map_T_sensor(t)[:2, 3]
        return [self._to_world(b) for b in self.world.boxes_at(t, center, self.preset.max_range)]

    def object_box_at(self, instance_id: int, t: float) -> GroundTruthBox | None:
        """The world-frame box of one object at time ``t`` (any distance), or None."""
        for agent in self.world.agents:
            if agent.instance_id == instance_id:
                box, vel, moving = agent.box_at(t)
                return self._to_world(GroundTruthBox(instance_id, agent.object_class, box, vel, moving))
        for part, box in self.world.static_boxes():
            if part.instance == instance_id:
                return self._to_world(GroundTruthBox(instance_id, part.object_class, box, np.zeros(3), False))
        return None

    @property
    def static_world(self) -> np.ndarray:
        """``(M, 3) float32`` points sampled on every static surface within range of the path, world frame."""
        if self._static_world is None:
            rng = np.random.default_rng([self.seed, 991])
            t = np.arange(0.0, self.frames * self.period + self.period, 0.5)
            near = self.map_T_sensor(t)[:, :2, 3]
            pts = self.world.sample_static(STATIC_WORLD_DENSITY, rng, near, self.preset.max_range)
            r, t0 = self.world_T_map[:3, :3], self.world_T_map[:3, 3]
            world = pts[:, 0:1] * r[:, 0] + pts[:, 1:2] * r[:, 1] + pts[:, 2:3] * r[:, 2] + t0
            self._static_world = world.astype(np.float32)
        return self._static_world

    # --- frames ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.frames

    def _read(self, index: int) -> Frame:
        t0 = self.timestamp(index)
        rng = np.random.default_rng([self.seed, index, 17])
        sweep = self.scanner.sweep(self.world, t0, rng)
        gt = FrameGroundTruth(pose=self.sensor_pose_at(t0), semantic=sweep.semantic, instance=sweep.instance,
                              moving=sweep.moving, boxes=self.boxes_at(t0))
        frame = Frame(points=sweep.points, timestamp=t0, index=index, intensity=sweep.intensity, times=sweep.times,
                      ground_truth=gt)
        self._counts[index] = (len(sweep.points), int(np.count_nonzero(sweep.moving)))
        frame.ring = sweep.ring  # type: ignore[attr-defined]  # laser index per point, for writers
        if self._renderer is not None:
            frame.image = self._renderer.render(self.world, self.map_T_sensor(t0), t0)
            frame.camera = self.camera
        return frame

    def moving_share(self) -> float:
        """Share of points labelled moving over the frames produced so far (0 when none)."""
        total = sum(n for n, _ in self._counts.values())
        return sum(m for _, m in self._counts.values()) / total if total else 0.0

    def write(self, out_dir: str | os.PathLike[str], format: str = "kitti", overwrite: bool = False,
              progress=None) -> Path:
        """Write the sequence in ``format`` (kitti, dynamicmap, rosbag) to a new folder ``out_dir``.

        ``progress`` optionally wraps the frame iterator (e.g. a progress bar). The folder is
        built beside ``out_dir`` and renamed into place at the end.
        """
        from s2mat.sim.writers import write_sequence

        return write_sequence(self, out_dir, format, overwrite=overwrite, progress=progress)


def simulate(scenario: str = "street", sensor: str = "hdl64", frames: int = 50, seed: int = 0,
             columns: int | None = None, camera: bool = True, motion_distortion: bool = True) -> SimulatedSequence:
    """A simulated sequence of ``scenario`` seen by LiDAR preset ``sensor``.

    ``columns`` overrides the preset's columns per sweep; ``camera`` renders a forward RGB
    image per frame; ``motion_distortion`` moves the sensor and the objects during the sweep.
    Raises :class:`~s2mat.errors.ConfigError` on an unknown scenario or preset or bad counts.
    """
    return SimulatedSequence(scenario, sensor=sensor, frames=frames, seed=seed, columns=columns, camera=camera,
                             motion_distortion=motion_distortion)
