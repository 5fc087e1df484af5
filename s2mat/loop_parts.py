"""The S2MAT loop split into a mapping half and a perception half that exchange per-frame messages.

These two classes hold the loop's state and perform its parts of one frame.
:class:`s2mat.pipeline.S2MAT` runs them in one object; the ROS 2 graph runs them in two nodes
(``mapping`` and ``perception``), which may live in different processes, so the graph gives
the same poses and tracks as ``s2mat map``.

One frame, in lockstep (the mapping half leads):

1. ``MappingHalf.begin(frame)``: reset on a time jump back, preprocess, the constant-velocity
   pose guess and whether the map may gate detection -> :class:`FrameStart`;
2. ``PerceptionHalf.detect(frame, start, map_query)``: ground, detection with the static-map
   evidence of ``map_query`` (``MappingHalf.evidence`` answers it), and the points believed
   dynamic -> :class:`Detected`;
3. ``MappingHalf.register(start, believed_dynamic)`` -> pose (world_T_sensor);
4. ``PerceptionHalf.track(detected, pose)``: tracker update, the dynamic points, labels ->
   :class:`Tracked`;
5. ``MappingHalf.finish(start, pose, dynamic)``: grow the odometry map and the static map.

:class:`s2mat.pipeline.S2MAT` runs the five calls on shared objects; :func:`run_split` runs
them the way the nodes do (state rebuilt on each side, evidence through a query object, and
optionally the next frame's step 1 between steps 3 and 5 of the last, as the mapping node
starts a queued cloud), and the tests compare the two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mapping.geometry import squared_norms
from mapping.odometry import Odometry
from mapping.parallel import name_os_thread
from mapping.preprocess import deskew
from mapping.static_map import Observation, StaticMap
from perception.detection import DetectionOutput, detect_objects
from perception.ground import GroundModel, fit_ground
from perception.levelling import Levelling
from perception.map_query import MapQuery
from perception.tracking.tracker import MultiObjectTracker
from perception.types import (
    Box3D,
    Detection,
    ObjectClass,
    Track,
    TrackState,
    box_arrays,
    boxes_contain,
)
from s2mat.config import S2MATConfig
from s2mat.track_judgement import TrackJudge
from s2mat.types import Frame, PointLabel, StepResult

log = logging.getLogger(__name__)

# Moving tracks' boxes are grown by this much when their points are kept out of the maps.
TRACK_BOX_MARGIN = 0.3  # metres
BOX_CELL = 2.0  # metres, the grid cell with which points_in_boxes finds the points near its boxes
MAX_GRID_CELLS = 1_000_000  # at most, in that grid (boxes far apart get wider cells)
NO_BOX, SHARED = -1, -2  # grid cells within reach of no box, of several


def transform_box(box: Box3D, transform: np.ndarray) -> Box3D:
    """``box`` moved by the 4x4 rigid ``transform`` (yaw about +z)."""
    yaw = np.arctan2(transform[1, 0], transform[0, 0])
    return Box3D(transform[:3, :3] @ box.center + transform[:3, 3], box.size, box.yaw + yaw)


def points_in_boxes(points: np.ndarray, boxes: list[Box3D], margin: float) -> np.ndarray:
    """(N,) bool: points inside any of ``boxes`` grown by ``margin`` (same frame)."""
    inside = np.zeros(len(points), dtype=bool)
    boxes = [box for box in boxes if np.isfinite(box.center).all() and np.isfinite(box.size).all()]
    if not boxes:
        return inside
    # One pass over the points: a grid of cells marks those within reach of a box, and only the
    # points in marked cells are tested against the boxes. Cells are BOX_CELL wide, or wider
    # when the boxes lie far apart, so that the grid stays within MAX_GRID_CELLS.
    centres = np.array([box.center[:2] for box in boxes])
    # Half the diagonal of each box grown by the margin: no point inside lies farther in x or y.
    reach = np.array([0.5 * np.hypot(box.size[0] + 2 * margin, box.size[1] + 2 * margin) for box in boxes])
    low = (centres - reach[:, None]).min(axis=0)
    span = float(((centres + reach[:, None]).max(axis=0) - low).max())
    cell = max(BOX_CELL, span / np.sqrt(MAX_GRID_CELLS))
    lower = np.floor((centres - reach[:, None] - low) / cell).astype(np.int64)
    upper = np.floor((centres + reach[:, None] - low) / cell).astype(np.int64)
    shape = upper.max(axis=0) + 1
    # Each cell: the one box within whose reach it lies, or SHARED when several reach it. A
    # point in a cell of one box can only be inside that box: all such points take one test.
    owner = np.full(shape, NO_BOX, dtype=np.int64)
    for b, ((i0, j0), (i1, j1)) in enumerate(zip(lower.tolist(), upper.tolist(), strict=True)):
        cells = owner[i0:i1 + 1, j0:j1 + 1]
        cells[cells != NO_BOX] = SHARED
        cells[cells == NO_BOX] = b
    i, j = (_grid_index(points[:, axis], low[axis], cell) for axis in range(2))
    # Negative indices (and those of non-finite points) read as unsigned are out of range too.
    idx = np.flatnonzero((i.view(np.uint64) < shape[0]) & (j.view(np.uint64) < shape[1]))
    flat = i.take(idx)
    flat *= shape[1]
    flat += j.take(idx)
    of_cell = owner.ravel().take(flat)
    one = idx.compress(of_cell >= 0)
    inside[one] = boxes_contain(box_arrays(boxes), points, margin, of_cell.compress(of_cell >= 0), one)
    shared = idx[of_cell == SHARED]
    near = points[shared]
    for box, r in zip(boxes, reach.tolist(), strict=True):  # a handful of boxes; each test vectorised
        close = np.flatnonzero((np.abs(near[:, 0] - box.center[0]) < r) & (np.abs(near[:, 1] - box.center[1]) < r))
        if len(close):
            inside[shared[close[box.contains(near[close], margin)]]] = True
    return inside


def _grid_index(values: np.ndarray, low: float, cell: float) -> np.ndarray:
    """(N,) int64 ``floor((values - low) / cell)``, in one buffer (non-finite values give
    numpy's undefined integer, which the caller's range check drops)."""
    index = np.subtract(values, low, dtype=np.float64)
    index *= 1.0 / cell
    np.floor(index, out=index)
    with np.errstate(invalid="ignore"):
        return index.astype(np.int64)


def valid_points(frame: Frame, config: S2MATConfig) -> np.ndarray:
    """(N,) bool: finite points of ``frame`` within the sensor's range (the preprocess step)."""
    r2 = squared_norms(frame.points)
    near, far = config.sensor.min_range, config.sensor.max_range
    return np.isfinite(r2) & (r2 >= near * near) & (r2 <= far * far)


def preprocess(frame: Frame, config: S2MATConfig, previous_pose: np.ndarray, guess: np.ndarray,
               last_time: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Step 1 of the loop: ``(valid, raw, points, times)``: the valid mask, the valid points as
    measured, the same points deskewed to the frame time with the constant-velocity motion
    from ``previous_pose`` to ``guess`` (when per-point times are given), and their times."""
    valid = valid_points(frame, config)
    raw = points = frame.points.compress(valid, axis=0)  # several times faster than points[valid]
    times = None if frame.times is None else frame.times[valid]
    dt = 0.0 if last_time is None else frame.timestamp - last_time
    if times is not None and dt > 0 and np.any(times):
        motion = np.linalg.inv(previous_pose) @ guess  # over dt, previous_T_current
        points = deskew(points, times, motion, dt).astype(np.float32, copy=False)
    return valid, raw, points, times


@dataclass
class FrameStart:
    """What the mapping half decides at the start of a frame (sent to the perception half)."""

    timestamp: float  # seconds
    guess: np.ndarray  # 4x4 world_T_sensor, constant-velocity prediction
    use_map: bool  # the static map gates detection in this frame
    reset: bool  # the mapping half started a new world frame with this frame (time jump back)
    valid: np.ndarray  # (N,) bool over the frame's points
    raw: np.ndarray  # (M, 3) valid points as measured, sensor frame
    points: np.ndarray  # (M, 3) valid points deskewed to the frame time, sensor frame
    times: np.ndarray | None  # (M,) per-point time or None


@dataclass
class Detected:
    """The perception half's state between detection and tracking of one frame. ``ground`` and
    ``found`` are in the perception frame (the scan turned by :attr:`PerceptionHalf.levelling`;
    their point indices are the scan's), ``guess`` is world_T_sensor."""

    timestamp: float
    valid: np.ndarray
    ground: GroundModel
    found: DetectionOutput
    guess: np.ndarray
    use_map: bool
    times: np.ndarray | None
    candidate: np.ndarray  # (M,) dynamic candidates by the map check
    believed_dynamic: np.ndarray  # (M,) candidates plus points in moving tracks' predicted boxes
    timing: dict[str, float] = field(default_factory=dict)


@dataclass
class Tracked:
    """The perception half's result of one frame."""

    tracks: list[Track]  # confirmed, reportable tracks, world frame
    detections: list[Detection]  # world frame
    dynamic: np.ndarray  # (M,) bool over the valid points: kept out of the maps
    labels: np.ndarray  # (N,) uint8 PointLabel over all input points
    timing: dict[str, float] = field(default_factory=dict)


class MappingHalf:
    """Odometry and the static map: the state of the ``mapping`` node.

    The end of each frame runs on a background thread, so the next frame's preprocessing,
    ground and clustering run meanwhile: first the static map's integration (numpy, which
    releases the GIL for most of it), then the odometry's local-map update. The part of the
    integration that needs no mask (the scan's range image and the voxels it sees through,
    :meth:`StaticMap.observe`) starts at :meth:`register`, while the frame is tracked, and the
    next frame may begin then too (``begin(frame, overlap=True)``). The registration kernel
    holds the GIL, so the local-map update is only started once the next frame's map
    query is answered (or at its registration, when it asks none): it would stall the query's
    own Python work otherwise. The next frame's grouping of points into registration voxels
    (which needs no mask) is queued at :meth:`begin`, behind the integration (or, for a frame
    begun before the last one was finished, at that :meth:`finish`), so
    :meth:`register` only does what depends on the mask. Whatever reads that state
    (:meth:`register`, :attr:`map`, :meth:`evidence`, :meth:`query`) waits for it first, so
    results are those of a sequential loop.
    """

    def __init__(self, config: S2MATConfig | None = None) -> None:
        self.config = config or S2MATConfig()
        self._integrator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s2mat-integrate",
                                              initializer=name_os_thread)
        # Background work on one thread: the last frame's static-map integration, this frame's
        # registration voxels (queued at begin), the last frame's local-map update (queued
        # once the map query is answered, or at registration) and this frame's look by the
        # static map (queued at registration).
        self._jobs: dict[str, Future] = {}
        self.waited_ms = 0.0  # time spent waiting for background work, in all
        self._map_update: np.ndarray | None = None  # static mask of the local-map update not yet started
        # The static map's look at the registered frame: (start, pose, job), used by finish.
        self._observation: tuple[FrameStart, np.ndarray, Future] | None = None
        # Points of a frame begun before the registered one was finished, to group for registration.
        self._scan_raw: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._settle("map", "odometry")
        self._drop_scan()
        self._drop_observation()
        self._map_update = None
        self.odometry = Odometry(cfg.odometry, max_range=cfg.sensor.max_range)
        self._map = StaticMap(cfg.mapping, max_range=cfg.sensor.max_range)
        self.last_pose = np.eye(4)  # world_T_sensor of the last registered frame
        self.last_time: float | None = None  # its time
        self.frames = 0  # frames registered in this world frame

    @property
    def map(self) -> StaticMap:
        """The static map, with every finished frame integrated."""
        self._settle("map")
        return self._map

    @property
    def unfinished(self) -> bool:
        """A frame is registered but not finished: the next frame may begin, but its map check
        must wait for that frame's :meth:`finish`."""
        return self._observation is not None

    def _settle(self, *parts: str) -> list[Any]:
        """Wait for the background ``parts`` ("map", "odometry": the last frame's; "scan": this
        frame's registration voxels), re-raising errors; their results (None where none was
        pending)."""
        results = []
        for part in parts:
            job = self._jobs.pop(part, None)
            clock = time.perf_counter()
            results.append(None if job is None else job.result())
            self.waited_ms += (time.perf_counter() - clock) * 1e3
        return results

    def _drop_scan(self) -> None:
        """Forget the registration voxels of a frame that was never registered (its result,
        or error, is of no use)."""
        job = self._jobs.pop("scan", None)
        if job is not None:
            job.cancel()
        self._scan_raw = None

    def begin(self, frame: Frame, overlap: bool = False) -> FrameStart:
        """Step 1: a frame back in time (or at the same time) resets everything first.

        With ``overlap`` the frame may begin before the last frame's :meth:`finish`, once that
        frame is registered (a node starts a queued frame while the last one is tracked); the
        results are the same, and the map check waits for that finish. A frame that resets
        cannot overlap. Without it, a registered frame that was never finished is dropped."""
        reset = self.last_time is not None and frame.timestamp <= self.last_time
        if not overlap:
            self._drop_observation()
        elif reset and self.unfinished:
            raise RuntimeError("a frame that resets the map can only begin once the registered frame is finished")
        if reset:
            log.warning("frame at %.3f s is back in time (last %.3f s): resetting, a new map starts",
                        frame.timestamp, self.last_time)
            self.reset()
        guess = self.odometry.predict(frame.timestamp)
        valid, raw, points, times = preprocess(frame, self.config, self.odometry.pose, guess, self.last_time)
        # Registration's voxel grouping needs no mask: it runs in the background, after the last
        # frame's integration (queued by finish when the last frame is not finished yet), while
        # the map query and detection run.
        self._drop_scan()
        if self.unfinished:
            self._scan_raw = raw
        else:
            self._jobs["scan"] = self._integrator.submit(self.odometry.scan_voxels, raw)
        return FrameStart(timestamp=frame.timestamp, guess=guess,
                          use_map=self.config.coupling.map_to_detection and self.frames > 0, reset=reset,
                          valid=valid, raw=raw, points=points, times=times)

    def evidence(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Free and occupied counts of the static map at (K, 3) world points (the map check).
        In space the map holds no voxel of, free counts stop at ``detection.free_evidence``:
        detection only asks whether such space was seen free that often."""
        if self.unfinished:
            raise RuntimeError("the map check of a frame must wait for the last frame's finish()")
        answer = self.map.evidence(points_world, free_enough=self.config.detection.free_evidence)
        self._start_map_update()
        return answer

    def query(self) -> EvidenceQuery:
        """The map check for detection; it waits for the map only when first asked."""
        return EvidenceQuery(self.config.mapping.voxel_size, self.evidence)

    def register(self, start: FrameStart, believed_dynamic: np.ndarray) -> np.ndarray:
        """Step 3: the 4x4 world_T_sensor of the scan, registered on points not believed dynamic."""
        self._start_map_update()
        voxels, _ = self._settle("scan", "odometry")
        # As measured: with constant motion the distortion is the same in every scan and cancels out.
        pose = self.odometry.register(start.raw, ~believed_dynamic, None, start.timestamp, voxels=voxels)
        # The static map's look at the scan needs only the pose: it runs while the frame is tracked.
        self._drop_observation()
        self._observation = self._queue_observe(start, pose)
        self.last_pose = pose
        self.last_time = start.timestamp
        self.frames += 1
        return pose

    def finish(self, start: FrameStart, pose: np.ndarray, dynamic: np.ndarray) -> None:
        """Step 5: the static points grow the odometry's local map and the static map (in the
        background, after the static map's look at the scan queued at :meth:`register`)."""
        observed = self._observation
        if observed is None or observed[0] is not start or not np.array_equal(observed[1], pose):
            raise RuntimeError("finish() takes the frame and pose of the last register()")
        self._observation = None
        self._settle("map", "odometry")
        static = ~dynamic
        self._jobs["map"] = self._integrator.submit(self._integrate, observed[2], static)
        if self._scan_raw is not None:  # the next frame began early: its grouping comes next
            self._jobs["scan"] = self._integrator.submit(self.odometry.scan_voxels, self._scan_raw)
            self._scan_raw = None
        self._start_map_update()  # a registration leaves none pending; never drop one
        self._map_update = static

    def _start_map_update(self) -> None:
        """Queue the last frame's local-map update (behind the map's integration), once."""
        if self._map_update is not None:
            self._jobs["odometry"] = self._integrator.submit(self.odometry.update_map, self._map_update)
            self._map_update = None

    def _queue_observe(self, start: FrameStart, pose: np.ndarray) -> tuple[FrameStart, np.ndarray, Future]:
        """Queue the static map's look at the frame's scan, deskewed with the *registered* motion
        of this frame (the points detection saw were deskewed with the predicted motion, which
        can be off by centimetres to decimetres per sweep: too much for 0.1 m voxels)."""
        dt = 0.0 if self.last_time is None else start.timestamp - self.last_time
        motion = np.linalg.inv(self.last_pose) @ pose  # previous_T_current over dt
        return start, pose, self._integrator.submit(self._observe, start, pose, motion, dt)

    def _observe(self, start: FrameStart, pose: np.ndarray, motion: np.ndarray, dt: float) -> Observation:
        """:meth:`_queue_observe`'s job (in the background)."""
        points = start.points
        if start.times is not None and dt > 0 and np.any(start.times):
            points = deskew(start.raw, start.times, motion, dt)
        return self._map.observe(points, pose)

    def _integrate(self, observed: Future, static: np.ndarray) -> None:
        """The static map's part of :meth:`finish` (in the background, after ``observed``)."""
        self._map.commit(observed.result(), static)

    def _drop_observation(self) -> None:
        """Forget the static map's look at a registered frame that was never finished."""
        if self._observation is not None:
            log.warning("the frame at %.3f s was registered but never finished: its scan is not mapped",
                        self._observation[0].timestamp)
            self._observation[2].cancel()
            self._observation = None


class PerceptionHalf:
    """Ground, detection and tracking: the state of the ``perception`` node."""

    def __init__(self, config: S2MATConfig | None = None) -> None:
        self.config = config or S2MATConfig()
        self.reset()

    def reset(self) -> None:
        self.tracker = MultiObjectTracker(self.config.tracking)
        self.judge = TrackJudge(self.config.tracking)
        self.confirmed: list[Track] = []  # confirmed and coasting tracks of the last frame, world frame
        self.last_pose = np.eye(4)  # registered pose of the last frame (the mapping half's odometry pose)
        self.last_time: float | None = None
        self.levelling = Levelling()  # the sensor frame turned so that the near ground is level

    def prepare(self, frame: Frame, guess: np.ndarray, use_map: bool, reset: bool) -> FrameStart:
        """The :class:`FrameStart` the mapping half computed, rebuilt here from the frame and the
        values it sent (guess, use_map, reset): the same preprocessing on the same state."""
        if reset or (self.last_time is not None and frame.timestamp <= self.last_time):
            self.reset()
        valid, raw, points, times = preprocess(frame, self.config, self.last_pose, guess, self.last_time)
        return FrameStart(timestamp=frame.timestamp, guess=guess, use_map=use_map, reset=reset, valid=valid,
                          raw=raw, points=points, times=times)

    def detect(self, frame: Frame, start: FrameStart, map_query: MapQuery | None) -> Detected:
        """Step 2. ``map_query`` answers the map check (``None`` when ``start.use_map`` is off)."""
        cfg = self.config
        if start.reset or (self.last_time is not None and frame.timestamp <= self.last_time):
            self.reset()
        clock = time.perf_counter()
        # Ground and detection work in the perception frame, turned by the ground's tilt so far.
        points = self.levelling.to_perception(start.points)
        ground = fit_ground(points, cfg.ground)
        guess = self.levelling.world_from_perception(start.guess)  # world_T_perception
        dt = 0.0 if self.last_time is None else frame.timestamp - self.last_time
        hints = [Box3D(t.box.center + t.velocity * dt, t.box.size, t.box.yaw) for t in self.confirmed]
        predicted = [h for h, t in zip(hints, self.confirmed, strict=True) if t.moving]
        # The predicted boxes of moving tracks, before detection: it needs no map, so in the
        # graph this runs while the mapping node still integrates the last frame.
        in_moving_boxes = None
        if cfg.coupling.tracks_to_map and predicted:
            world_guess = points @ guess[:3, :3].T + guess[:3, 3]
            in_moving_boxes = points_in_boxes(world_guess, predicted, TRACK_BOX_MARGIN)
        found = detect_objects(points, ground, cfg.detection, map_query if start.use_map else None, guess,
                               hints or None, clustering=cfg.clustering,
                               predicted_velocity=np.array([t.velocity for t in self.confirmed]).reshape(-1, 3))
        candidate = np.zeros(len(points), dtype=bool)
        if start.use_map:
            for det in found.detections:
                if det.dynamic_candidate and det.point_indices is not None:
                    candidate[det.point_indices] = True
        believed_dynamic = candidate.copy() if in_moving_boxes is None else candidate | in_moving_boxes
        believed_dynamic[found.far_dynamic] = True  # far traffic
        self.levelling.update(ground.tilt)  # for the next frame
        timing = {"detection": (time.perf_counter() - clock) * 1e3}
        return Detected(frame.timestamp, start.valid, ground, found, start.guess, start.use_map, start.times, candidate,
                        believed_dynamic, timing)

    def track(self, detected: Detected, pose: np.ndarray) -> Tracked:
        """Step 4: detections placed by the registered ``pose`` update the tracker."""
        cfg = self.config
        clock = time.perf_counter()
        correction = pose @ np.linalg.inv(detected.guess)
        detections = [
            replace(d, box=transform_box(d.box, correction),
                    seen_box=None if d.seen_box is None else transform_box(d.seen_box, correction))
            for d in detected.found.detections
        ]
        tracks = self.tracker.step(detections, detected.timestamp)
        tracks = self.judge.judge(tracks, self.tracker.detection_index(), detected.found, detections,
                                  detected.use_map, detected.timestamp)
        confirmed = [t for t in tracks if t.state in (TrackState.CONFIRMED, TrackState.COASTING) and t.hits >= 1]
        dynamic = np.zeros(len(detected.candidate), dtype=bool)
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
            dynamic = detected.candidate.copy()
        sub = np.full(len(dynamic), PointLabel.STATIC, dtype=np.uint8)
        sub[detected.ground.mask] = PointLabel.GROUND
        sub[dynamic] = PointLabel.DYNAMIC
        labels = np.full(len(detected.valid), PointLabel.UNKNOWN, dtype=np.uint8)
        labels[detected.valid] = sub
        self.confirmed = confirmed
        self.last_time = detected.timestamp
        self.last_pose = pose
        reported = self.judge.report(tracks, detected.times, detected.timestamp)
        return Tracked(reported, detections, dynamic, labels, {"tracking": (time.perf_counter() - clock) * 1e3})


class EvidenceQuery:
    """A :class:`~perception.map_query.MapQuery` whose answers come from ``ask(points_world)``
    (free, occupied), fetched once per query array: detection asks for free then occupied
    counts of the same points, so both come from one exchange with the mapping half."""

    def __init__(self, voxel_size: float, ask: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
        self.voxel_size = voxel_size
        self._ask = ask
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _answer(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        if self._last is None or self._last[0].shape != pts.shape or not np.array_equal(self._last[0], pts):
            free, occ = self._ask(pts)
            self._last = (pts.copy(), np.asarray(free), np.asarray(occ))
        return self._last[1], self._last[2]

    def free_counts(self, points_world: np.ndarray) -> np.ndarray:
        return self._answer(points_world)[0]

    def occupied_counts(self, points_world: np.ndarray) -> np.ndarray:
        return self._answer(points_world)[1]


def run_split(mapping: MappingHalf, perception: PerceptionHalf, frames: Iterable[Frame],
              overlap: bool = False) -> Iterator[StepResult]:
    """Frames through both halves as the two ROS 2 nodes run them: the perception half
    rebuilds the frame start from the cloud and the few values the mapping half sends, and
    asks for map evidence through an :class:`EvidenceQuery`. With ``overlap`` each next frame
    begins as soon as the last one is registered, as the mapping node starts a queued cloud.
    Equals ``S2MAT.step`` frame by frame."""
    frames = iter(frames)
    frame = next(frames, None)
    start = None
    while frame is not None:
        clock = time.perf_counter()
        start = start or mapping.begin(frame)
        mine = perception.prepare(frame, start.guess, start.use_map, start.reset)
        detected = perception.detect(frame, mine, mapping.query())
        pose = mapping.register(start, detected.believed_dynamic)
        after = next(frames, None)
        early = None
        if overlap and after is not None and after.timestamp > frame.timestamp:
            early = mapping.begin(after, overlap=True)
        tracked = perception.track(detected, pose)
        mapping.finish(start, pose, tracked.dynamic)
        timing = {**detected.timing, **tracked.timing, "total": (time.perf_counter() - clock) * 1e3}
        yield StepResult(index=frame.index, timestamp=frame.timestamp, pose=pose, labels=tracked.labels,
                         tracks=tracked.tracks, detections=tracked.detections, timing=timing)
        frame, start = after, early
