"""The S2MAT loop: odometry on static points, map-aware detection, tracking, static mapping.

Per frame (see ARCHITECTURE.md, "The loop"):

1. preprocess: keep finite points within the sensor's range and, when they carry per-point
   times, deskew them to the frame timestamp with the constant-velocity motion (detection,
   the static map and the labels use these; odometry registers the scan as measured against
   scans as measured, where constant-motion distortion cancels);
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
from collections import Counter, deque
from dataclasses import dataclass, field, replace

import numpy as np

from mapping.odometry import Odometry
from mapping.preprocess import deskew
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
# A track is moving only when its filtered centre went somewhere: over MOTION_WINDOW seconds
# it moved at least MIN_DISPLACEMENT, along a path at most 1 / MIN_STRAIGHTNESS times longer
# than the net displacement (a box that jitters around a fixed object goes nowhere).
MOTION_WINDOW = 1.0  # seconds
MIN_DISPLACEMENT = 0.5  # metres
MIN_STRAIGHTNESS = 0.6
FAST_SPEED, FAST_FRAMES = 4.0, 4  # m/s held over this many frames: moving without free-space evidence
FAST_STEP = 0.6  # metres in one frame (6 m/s at 10 Hz) decide at once
MAX_STEP_RATIO, MAX_STEP_SLACK = 3.0, 0.3  # no step longer than 3 x the median step + 0.3 m
# A moving track stops when its centre moved less than STOP_DISPLACEMENT over STOP_WINDOW.
STOP_WINDOW = 0.5  # seconds
STOP_DISPLACEMENT = 0.2  # metres
# Static-map evidence about a track's points (shares of its cluster's voxels).
STATIC_SHARE = 0.5  # in persistent static occupancy: the track sits inside the static world
FREE_SHARE = 0.2  # seen free before: something arrived there
REPORT_HITS = 3  # hits before a track never seen in free space is reported
STATIC_FRAMES = 3  # matched frames inside static occupancy (and never in free space) that demote a track


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


def _at_frame_time(track: Track, times: np.ndarray | None) -> Track:
    """The track with its box moved back to the frame timestamp: its points were measured
    ``mean(times)`` seconds into the sweep, while it kept moving at its velocity."""
    if times is None or track.point_indices is None or not len(track.point_indices) or not track.moving:
        return track
    lag = float(np.mean(times[track.point_indices]))
    box = Box3D(track.box.center - track.velocity * lag, track.box.size, track.box.yaw)
    return replace(track, box=box)


@dataclass
class TrackEvidence:
    """What the pipeline remembers of one track beyond the tracker's state (world frame)."""

    votes: Counter = field(default_factory=Counter)  # class guesses of its detections, by points
    history: deque = field(default_factory=lambda: deque(maxlen=40))  # (time, x, y) of the filtered centre
    measured: deque = field(default_factory=lambda: deque(maxlen=10))  # (time, x, y) of its matched detections
    static_frames: int = 0  # matched frames with its cluster inside persistent static occupancy
    free_frames: int = 0  # matched frames with its cluster in space the map had seen free
    moving: bool = False

    def object_class(self, fallback: ObjectClass) -> ObjectClass:
        """The class most of its points were guessed as."""
        return max(self.votes, key=self.votes.get) if self.votes else fallback

    @property
    def structure(self) -> bool:
        """It sits inside the static world and never entered free space: structure, not an object."""
        return self.free_frames == 0 and self.static_frames >= STATIC_FRAMES

    def _recent(self, now: float, window: float) -> np.ndarray:
        return np.array([(x, y) for t, x, y in self.history if t >= now - window - 1e-6]).reshape(-1, 2)

    def went_somewhere(self, now: float) -> bool:
        """Consistent displacement over the last MOTION_WINDOW seconds: at least
        MIN_DISPLACEMENT net, along a nearly straight path without jumps (see the constants)."""
        xy = self._recent(now, MOTION_WINDOW)
        if len(xy) < 2:
            return False
        net = float(np.linalg.norm(xy[-1] - xy[0]))
        if len(xy) == 2:  # one step: only a fast object (a car at speed) tells at once
            return net >= FAST_STEP
        steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        # A jump (the track took over another object's detection) is not motion.
        steady = float(steps.max()) <= MAX_STEP_RATIO * float(np.median(steps)) + MAX_STEP_SLACK
        return net >= MIN_DISPLACEMENT and net >= MIN_STRAIGHTNESS * float(steps.sum()) and steady

    def stopped(self, now: float) -> bool:
        """Over the last STOP_WINDOW seconds its filtered centre, or the centre of the
        detections it was matched with (the filter lags after a stop), moved less than
        STOP_DISPLACEMENT."""
        for series in (self._recent(now, STOP_WINDOW),
                       np.array([(x, y) for t, x, y in self.measured if t >= now - STOP_WINDOW - 1e-6]).reshape(-1, 2)):
            if len(series) >= 4 and float(np.linalg.norm(series[-1] - series[0])) < STOP_DISPLACEMENT:
                return True
        return False


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
        self._evidence: dict[int, TrackEvidence] = {}
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

        # 1. Preprocess: finite points within the sensor's range, deskewed to the frame time
        #    with the constant-velocity motion when per-point times are given.
        valid = self._valid(frame)
        raw = points = frame.points[valid]
        times = None if frame.times is None else frame.times[valid]
        labels = np.full(len(frame), PointLabel.UNKNOWN, dtype=np.uint8)
        guess = self.odometry.predict(frame.timestamp)
        dt = 0.0 if self._last_time is None else frame.timestamp - self._last_time
        if times is not None and dt > 0 and np.any(times):
            motion = np.linalg.inv(self.odometry.pose) @ guess  # over dt, previous_T_current
            points = deskew(points.astype(np.float64), times.astype(np.float64), motion, dt).astype(np.float32)
        lap("preprocess")

        # 2. Ground, then detection against the static map at the predicted pose.
        ground = fit_ground(points, cfg.ground)
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
        # Odometry registers the scan as measured against a local map of scans as measured:
        # with constant motion the distortion is the same in every scan and cancels out.
        pose = self.odometry.register(raw, ~believed_dynamic, None, frame.timestamp)
        lap("odometry")

        # 4. Tracking, with detections placed by the registered pose; then the static map's
        #    evidence and the track's own history decide what is a moving road user.
        correction = pose @ np.linalg.inv(guess)
        detections = [
            Detection(box=_transform_box(d.box, correction), score=d.score, object_class=d.object_class,
                      point_indices=d.point_indices, dynamic_candidate=d.dynamic_candidate)
            for d in found.detections
        ]
        tracks = self.tracker.step(detections, frame.timestamp)
        tracks = self._judge(tracks, found, use_map, frame.timestamp, detections)
        confirmed = [t for t in tracks if t.state in (TrackState.CONFIRMED, TrackState.COASTING) and t.hits >= 1]
        lap("tracking")

        # 5. Split points: moving tracks' points and dynamic candidates that are not a known
        #    still object are dynamic; grow the maps with the rest.
        dynamic = np.zeros(len(points), dtype=bool)
        if cfg.coupling.tracks_to_map:
            settled = set()
            for track in tracks:
                if track.point_indices is None:
                    continue
                if track.moving:
                    dynamic[track.point_indices] = True
                elif track.state is TrackState.CONFIRMED:
                    settled.add(track.track_id)
            index = self.tracker.detection_index()
            still = np.zeros(len(detections), dtype=bool)
            for track, d in zip(tracks, index.tolist(), strict=True):
                if d >= 0 and track.track_id in settled:
                    still[d] = True
            for d, det in enumerate(detections):
                # Candidates shaped like road users, not known to stand still, are dynamic.
                if (det.dynamic_candidate and not still[d] and det.point_indices is not None
                        and det.object_class is not ObjectClass.OTHER):
                    dynamic[det.point_indices] = True
        else:
            dynamic = candidate.copy()
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
        reported = self._report(confirmed, times)
        return StepResult(index=frame.index, timestamp=frame.timestamp, pose=pose, labels=labels,
                          tracks=reported, detections=detections, timing=timing)

    def _report(self, confirmed: list[Track], times: np.ndarray | None) -> list[Track]:
        """The tracks a frame reports, boxes at the frame time (see ``_reportable``)."""
        return [_at_frame_time(t, times) for t in confirmed if self._reportable(t)]

    def _reportable(self, track: Track) -> bool:
        """Confirmed road users; one never seen in free space only after REPORT_HITS hits (a
        fragment of a facade lives a frame or two)."""
        if track.state is not TrackState.CONFIRMED or track.object_class is ObjectClass.OTHER:
            return False
        ev = self._evidence.get(track.track_id)
        return track.hits >= REPORT_HITS or (ev is not None and ev.free_frames > 0)

    def _judge(self, tracks: list[Track], found: DetectionOutput, use_map: bool, now: float,
               detections: list[Detection] | None = None) -> list[Track]:
        """Tracks with the class their detections voted for and the pipeline's moving flag:
        it starts with speed and consistent displacement (``went_somewhere``) into space the
        map had seen free, stops when the track slows or stays put (``stopped``), and is never
        set on a track the static map says is structure, that now sits inside persistent
        static occupancy, or whose points were not guessed a road user."""
        detections = found.detections if detections is None else detections
        index = self.tracker.detection_index()
        live = {t.track_id for t in tracks}
        self._evidence = {k: v for k, v in self._evidence.items() if k in live}
        out = []
        for track, d in zip(tracks, index.tolist(), strict=True):
            ev = self._evidence.setdefault(track.track_id, TrackEvidence())
            ev.history.append((now, float(track.box.center[0]), float(track.box.center[1])))
            inside_static = False
            if d >= 0:
                ev.measured.append((now, float(detections[d].box.center[0]), float(detections[d].box.center[1])))
                c = int(found.detection_cluster[d])
                ev.votes[found.classes[c]] += int(found.clusters.point_counts[c])
                if use_map:
                    if found.free_share[c] >= FREE_SHARE:
                        ev.free_frames += 1
                    elif found.occupied_share[c] >= STATIC_SHARE:
                        ev.static_frames += 1
                        inside_static = True
            speed = track.speed
            kind = ev.object_class(track.object_class)
            if ev.structure or inside_static or kind is ObjectClass.OTHER:
                ev.moving = False
            elif ev.moving:
                ev.moving = not (speed < self.config.tracking.stationary_speed or ev.stopped(now))
            else:
                # With the map, motion must also have taken it into space seen free before,
                # unless it keeps going fast (traffic moving along with the sensor stays in
                # space it occupied itself).
                entered_free = ev.free_frames > 0 or not use_map
                fast = speed > FAST_SPEED and len(ev.history) >= FAST_FRAMES
                ev.moving = ((entered_free or fast) and speed > self.config.tracking.moving_speed
                             and ev.went_somewhere(now))
            out.append(replace(track, object_class=kind, moving=ev.moving))
        return out
