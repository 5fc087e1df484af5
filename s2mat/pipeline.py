"""The S2MAT loop: odometry on static points, map-aware detection, tracking, static mapping.

Per frame (see ARCHITECTURE.md, "The loop"):

1. preprocess: keep finite points within the sensor's range;
2. ground segmentation, then detection against the static map at the predicted pose, with
   the tracks' predicted boxes as clustering hints;
3. odometry registers the scan using only points not believed dynamic;
4. the tracker updates with the detections, now placed with the registered pose;
5. points of moving tracks and dynamic candidates are kept out of the maps; the rest is
   inserted with free-space carving.

``coupling.map_to_detection`` switches off the map's part in detection (step 2), and
``coupling.tracks_to_map`` the tracks' part in what odometry and the map may use (3, 5).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from mapping.odometry import Odometry
from mapping.static_map import StaticMap
from perception.detection import DetectionOutput, detect_objects
from perception.ground import fit_ground
from perception.tracking.tracker import MultiObjectTracker
from perception.types import Box3D, Detection, ObjectClass, Track, TrackState
from s2mat.config import S2MATConfig
from s2mat.types import Frame, PointLabel

log = logging.getLogger(__name__)

# Moving tracks' boxes are grown by this much when their points are kept out of the map.
TRACK_BOX_MARGIN = 0.3  # metres


@dataclass
class StepResult:
    """What one frame produced. Boxes and velocities are in the world frame."""

    index: int
    timestamp: float
    pose: np.ndarray  # 4x4 world_T_sensor
    labels: np.ndarray  # (N,) uint8 PointLabel, aligned with the frame's input points
    tracks: list[Track]  # confirmed tracks
    detections: list[Detection]
    timing: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    annotations: list = field(default_factory=list)

    @property
    def dynamic_mask(self) -> np.ndarray:
        return self.labels == PointLabel.DYNAMIC


def _transform_box(box: Box3D, transform: np.ndarray) -> Box3D:
    yaw = np.arctan2(transform[1, 0], transform[0, 0])
    return Box3D(transform[:3, :3] @ box.center + transform[:3, 3], box.size, box.yaw + yaw)


def _points_in_boxes(points: np.ndarray, boxes: list[Box3D], margin: float) -> np.ndarray:
    """(N,) bool: points inside any of ``boxes`` grown by ``margin`` (same frame)."""
    inside = np.zeros(len(points), dtype=bool)
    for box in boxes:  # a handful of boxes per frame; each test is vectorised over points
        near = np.abs(points[:, 0] - box.center[0]) < 0.5 * np.hypot(box.size[0], box.size[1]) + margin
        near &= np.abs(points[:, 1] - box.center[1]) < 0.5 * np.hypot(box.size[0], box.size[1]) + margin
        idx = np.flatnonzero(near)
        if len(idx):
            inside[idx[box.contains(points[idx], margin)]] = True
    return inside


def _reportable(track: Track) -> bool:
    """Road users are reported; an unclassified object only while it moves (a bush or a pole
    that the tracker follows stays internal)."""
    return track.object_class is not ObjectClass.OTHER or track.moving


class S2MAT:
    """Simultaneous and self-reinforced mapping and tracking, one frame at a time.

    >>> s2mat = S2MAT(config)
    >>> for frame in dataset:
    ...     result = s2mat.step(frame)
    >>> s2mat.static_map().points()
    """

    def __init__(self, config: S2MATConfig | None = None) -> None:
        self.config = config or S2MATConfig()
        self.reset()

    def static_map(self) -> StaticMap:
        """The static map built so far (world frame)."""
        return self.map

    def reset(self) -> None:
        """Forget everything: a new world frame starts with the next frame."""
        cfg = self.config
        self.odometry = Odometry(cfg.odometry, max_range=cfg.sensor.max_range)
        self.map = StaticMap(cfg.mapping, max_range=cfg.sensor.max_range)
        self.tracker = MultiObjectTracker(cfg.tracking)
        self._tracks: list[Track] = []  # confirmed tracks of the last frame, world frame
        self._last_time: float | None = None
        self.frames = 0

    def _valid(self, frame: Frame) -> np.ndarray:
        pts = frame.points
        rng = np.linalg.norm(pts, axis=1)
        return np.isfinite(pts).all(axis=1) & (rng >= self.config.sensor.min_range) & (rng <= self.config.sensor.max_range)

    def step(self, frame: Frame) -> StepResult:
        """Process one frame; see the module docstring for the steps."""
        cfg = self.config
        timing: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timing[name] = (now - clock) * 1e3
            clock = now

        if self._last_time is not None and frame.timestamp <= self._last_time:
            log.warning("frame at %.3f s is back in time (last %.3f s): resetting, a new map starts",
                        frame.timestamp, self._last_time)
            self.reset()  # e.g. a replay restarted

        # 1. Preprocess: finite points within the sensor's range.
        valid = self._valid(frame)
        points = frame.points[valid]
        times = None if frame.times is None else frame.times[valid]
        labels = np.full(len(frame), PointLabel.UNKNOWN, dtype=np.uint8)
        lap("preprocess")

        # 2. Ground, then detection against the static map at the predicted pose.
        ground = fit_ground(points, cfg.ground)
        guess = self.odometry.predict(frame.timestamp)
        dt = 0.0 if self._last_time is None else frame.timestamp - self._last_time
        hints = [Box3D(t.box.center + t.velocity * dt, t.box.size, t.box.yaw) for t in self._tracks]
        predicted = [h for h, t in zip(hints, self._tracks, strict=True) if t.moving]
        use_map = cfg.coupling.map_to_detection and self.frames > 0
        found: DetectionOutput = detect_objects(
            points, ground, cfg.detection, self.map if use_map else None, guess, hints or None,
            clustering=cfg.clustering)
        lap("detection")

        # 3. Odometry on points not believed dynamic.
        candidate = np.zeros(len(points), dtype=bool)
        if use_map:
            for det in found.detections:
                if det.dynamic_candidate and det.point_indices is not None:
                    candidate[det.point_indices] = True
        believed_dynamic = candidate.copy()
        if cfg.coupling.tracks_to_map and predicted:
            world_guess = points @ guess[:3, :3].T + guess[:3, 3]
            believed_dynamic |= _points_in_boxes(world_guess, predicted, TRACK_BOX_MARGIN)
        pose = self.odometry.register(points, ~believed_dynamic, times, frame.timestamp)
        lap("odometry")

        # 4. Tracking, with detections placed by the registered pose.
        correction = pose @ np.linalg.inv(guess)
        detections = [
            Detection(box=_transform_box(d.box, correction), score=d.score, object_class=d.object_class,
                      point_indices=d.point_indices, dynamic_candidate=d.dynamic_candidate)
            for d in found.detections
        ]
        tracks = self.tracker.step(detections, frame.timestamp)
        confirmed = [t for t in tracks if t.state in (TrackState.CONFIRMED, TrackState.COASTING) and t.hits >= 1]
        lap("tracking")

        # 5. Split points and grow the maps with the static ones.
        dynamic = candidate.copy()
        if cfg.coupling.tracks_to_map:
            for track in confirmed:
                if track.moving and track.point_indices is not None and track.state is TrackState.CONFIRMED:
                    dynamic[track.point_indices] = True
        static = ~dynamic
        self.odometry.update_map(static)
        self.map.integrate(points, pose, static)
        lap("mapping")

        sub = np.full(len(points), PointLabel.STATIC, dtype=np.uint8)
        sub[ground.mask] = PointLabel.GROUND
        sub[dynamic] = PointLabel.DYNAMIC
        labels[valid] = sub
        self._tracks = confirmed
        self._last_time = frame.timestamp
        self.frames += 1
        timing["total"] = float(sum(timing.values()))
        return StepResult(index=frame.index, timestamp=frame.timestamp, pose=pose, labels=labels,
                          tracks=[t for t in confirmed if t.state is TrackState.CONFIRMED and _reportable(t)],
                          detections=detections, timing=timing)
