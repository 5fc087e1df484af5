"""The multi-object tracker: IMM prediction, gated optimal assignment, lifecycle, moving state.

Per frame (``step``), in the caller's Cartesian frame with z up:

1. predict every track to the frame time (IMM: constant velocity + coordinated turn);
2. associate detections of at least the class's birth score with all tracks (gated cost of
   Mahalanobis distance, 3D IoU and size, optimal assignment), then weaker detections with
   the confirmed tracks still unmatched. A LiDAR detection's box is grown from the part the
   sensor saw and is misplaced along the object when its near end is hidden: a detection
   whose seen part fits in a confirmed (or coasting) track's box may pair with it even when its grown
   box's centre lies outside the gate, and then measures the track where its box holds the
   seen part (so do all matches of a parked car);
3. update matched tracks (centre through the IMM, height, size and heading through small
   scalar filters), age the others (tentative tracks die quickly, confirmed ones coast);
   tracks that stood still over the last motion window get a zero-velocity pseudo-measurement
   (classes with ``still_speed_std``: a parked car's partly seen boxes jitter, and the filter
   would read speed into the jitter and let the track drift while it coasts);
4. start tentative tracks on unmatched detections scoring at least the birth score;
5. update the moving / stationary flag with hysteresis.

All numeric track state lives in arrays indexed by track, so the cost of a frame does not
grow with Python-level loops over tracks; the returned :class:`TrackList` builds a
``Track`` object only when the caller reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perception.config import TrackingConfig
from perception.tracking.association import (
    AssociationResult,
    SeenParts,
    assign,
    association_cost,
)
from perception.tracking.geometry import wrap_angle
from perception.tracking.motion import IMMFilter, MotionNoise, process_noise
from perception.tracking.motion_state import MotionStateBuffer
from perception.types import Box3D, Detection, ObjectClass, Track, TrackState

CLASSES = (ObjectClass.CAR, ObjectClass.PEDESTRIAN, ObjectClass.CYCLIST, ObjectClass.OTHER)
_CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
_STATES = (TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.COASTING)
TENTATIVE, CONFIRMED, COASTING = 0, 1, 2

# Scalar filters for the box parts the IMM does not carry (per frame, in their units).
_Z_MEAS_VAR, _Z_PROC_VAR = 0.15**2, 0.1**2  # m^2
_YAW_MEAS_VAR, _YAW_PROC_VAR = 0.2**2, 0.1**2  # rad^2
_SIZE_PROC_VAR = 0.01**2  # (log size)^2


class TrackList(Sequence[Track]):
    """The live tracks after one step, as a read-only sequence of :class:`Track`.

    A snapshot of the tracker's arrays; a :class:`Track` object is only built when an item
    is read (then kept), so a consumer that reads a few tracks pays for those only.
    """

    def __init__(self, *, ids, cls, boxes, xc, Pc, moving, state, score, age, hits, points) -> None:
        self._ids, self._cls, self._boxes, self._xc, self._Pc = ids, cls, boxes, xc, Pc
        self._moving, self._state, self._score, self._age, self._hits = moving, state, score, age, hits
        self._points = points
        self._built: list[Track | None] = [None] * len(ids)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """(N,) track ids."""
        return self._ids

    @property
    def class_index(self) -> np.ndarray:
        """(N,) classes as indices into :data:`CLASSES`."""
        return self._cls

    @property
    def boxes(self) -> np.ndarray:
        """(N, 7) boxes ``[x, y, z, l, w, h, yaw]`` in the tracking frame."""
        return self._boxes

    @property
    def scores(self) -> np.ndarray:
        """(N,) score of each track's last detection."""
        return self._score

    @property
    def state_index(self) -> np.ndarray:
        """(N,) lifecycle states as :data:`TENTATIVE`, :data:`CONFIRMED` or :data:`COASTING`."""
        return self._state

    def _build(self, i: int) -> Track:
        b = self._boxes[i]
        return Track(
            track_id=int(self._ids[i]),
            object_class=CLASSES[self._cls[i]],
            box=Box3D(b[:3], b[3:6], b[6]),
            velocity=np.array([self._xc[i, 2], self._xc[i, 3], 0.0]),
            moving=bool(self._moving[i]),
            state=_STATES[self._state[i]],
            covariance=self._Pc[i, :2, :2].copy(),
            score=float(self._score[i]),
            age=int(self._age[i]),
            hits=int(self._hits[i]),
            point_indices=self._points[i],
        )

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        trk = self._built[i]
        if trk is None:
            trk = self._built[i] = self._build(i)
        return trk


class MultiObjectTracker:
    """Tracks objects from per-frame 3D detections.

    ``step(detections, timestamp)`` returns the live tracks (tentative, confirmed and
    coasting) after this frame; consumers usually keep ``state == CONFIRMED`` or those with
    ``hits`` enough. Boxes, velocities and covariances are in the detections' frame (z up).
    """

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        cfg = self.config
        params = [cfg.for_class(c.value) for c in CLASSES]
        table = {name: np.array([getattr(p, name) for p in params], dtype=np.float64) for name in type(params[0]).model_fields}
        self._table = table
        # Per-class rows of every setting plus the squared bounds of the IMM cap, gathered per
        # track into ``self._per_track`` (N, K) when tracks are born so a frame indexes no tables.
        names = list(table)
        cap = np.stack([table["max_pos_std"], table["max_pos_std"], table["init_speed_std"], table["init_speed_std"]], axis=-1) ** 2
        self._class_rows = np.concatenate([np.stack([table[k] for k in names], axis=-1), cap], axis=1)
        self._col = {k: i for i, k in enumerate(names)}
        self._cap = slice(len(names), len(names) + 4)
        self._per_track = np.zeros((0, self._class_rows.shape[1]))
        stay = cfg.model_stay
        self.imm = IMMFilter(np.array([[stay, 1.0 - stay], [1.0 - stay, stay]]))
        self.motion = MotionStateBuffer()
        self._next_id = 1
        self._time: float | None = None
        self._q_cache: dict[float, np.ndarray] = {}
        self.ids = np.zeros(0, np.int64)
        self.cls = np.zeros(0, np.int64)
        self.state = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)
        self.age = np.zeros(0, np.int64)
        self.score = np.zeros(0)
        self.z = np.zeros((0, 2))  # [z, var]
        self.yaw = np.zeros((0, 2))  # [yaw, var]
        self.log_size = np.zeros((0, 3))
        self.log_size_var = np.zeros((0, 3))
        self.points: list[np.ndarray | None] = []
        self.det_index = np.zeros(0, np.int64)  # detection that updated each track this frame, or -1

    # ------------------------------------------------------------------ helpers
    def __len__(self) -> int:
        return len(self.ids)

    def _param(self, name: str) -> np.ndarray:
        """(N,) setting ``name`` of each live track's class (a view)."""
        return self._per_track[:, self._col[name]]

    def _process_noise(self, dt: float) -> np.ndarray:
        """(N, 2, 5, 5) process noise of the live tracks, from a per-class table cached per dt."""
        table = self._q_cache.get(dt)
        if table is None:
            t = self._table
            table = process_noise(MotionNoise(t["accel_std"], t["turn_accel_std"], t["turn_rate_std"], t["pos_std"]), dt)
            if len(self._q_cache) > 8:
                self._q_cache.clear()
            self._q_cache[dt] = table
        return table[self.cls]

    def predicted_boxes(self, xc: np.ndarray | None = None) -> np.ndarray:
        """Current box estimates (N, 7) ``[x, y, z, l, w, h, yaw]`` of all live tracks.

        ``xc`` may pass the combined IMM states (N, 5) when the caller already has them.
        """
        if xc is None:
            xc, _ = self.imm.combined()
        out = np.empty((len(self), 7))
        out[:, :2] = xc[:, :2]
        out[:, 2] = self.z[:, 0]
        out[:, 3:6] = np.exp(self.log_size)
        out[:, 6] = self.yaw[:, 0]
        return out

    # ------------------------------------------------------------------ the frame
    def step(self, detections: list[Detection], timestamp: float) -> TrackList:
        """Advance to ``timestamp`` (seconds) with this frame's detections; return live tracks."""
        n = len(detections)
        boxes = np.empty((n, 7))
        cls = np.empty(n, np.int64)
        scores = np.empty(n)
        seen = np.full((n, 7), np.nan)
        for i, d in enumerate(detections):
            boxes[i, :3] = d.box.center
            boxes[i, 3:6] = d.box.size
            boxes[i, 6] = d.box.yaw
            cls[i] = _CLASS_INDEX[ObjectClass(d.object_class)]
            scores[i] = d.score
            if d.seen_box is not None:
                seen[i, :3], seen[i, 3:6], seen[i, 6] = d.seen_box.center, d.seen_box.size, d.seen_box.yaw
        return self.step_arrays(boxes, cls, scores, timestamp, [d.point_indices for d in detections], seen)

    def step_arrays(
        self,
        boxes: np.ndarray,
        classes: np.ndarray,
        scores: np.ndarray,
        timestamp: float,
        point_indices: list[np.ndarray | None] | None = None,
        seen_boxes: np.ndarray | None = None,
    ) -> TrackList:
        """:meth:`step` on detections given as arrays: (N, 7) boxes ``[x, y, z, l, w, h, yaw]``
        (metres, radians, z-up frame), (N,) class indices into :data:`CLASSES`, (N,) scores and
        optionally each detection's point indices and the (N, 7) boxes of the parts the sensor
        saw (rows of NaN where the box is all there is)."""
        cfg = self.config
        dt = 0.0 if self._time is None else max(float(timestamp) - self._time, 0.0)
        self._time = float(timestamp)
        det_boxes = np.array(boxes, dtype=np.float64).reshape(-1, 7)
        det_boxes[:, 3:6] = np.maximum(det_boxes[:, 3:6], 1e-3)
        det_cls = np.asarray(classes, dtype=np.int64).reshape(-1)
        det_score = np.asarray(scores, dtype=np.float64).reshape(-1)

        # 1. Predict.
        if len(self):
            self.imm.predict(dt, self._process_noise(dt))
            self.imm.cap_squared(self._per_track[:, self._cap])
            self.z[:, 1] += _Z_PROC_VAR
            self.yaw[:, 1] += _YAW_PROC_VAR
            self.log_size_var += _SIZE_PROC_VAR
            self.age += 1

        # 2. Associate: strong detections with every track, then weak ones with confirmed tracks.
        strong = det_score >= self._table["birth_score"][det_cls]
        t_idx, d_idx, centers = self._associate(det_boxes, det_cls, strong, seen_boxes)

        # 3. Update matched tracks, age the rest.
        self._update(t_idx, centers, det_boxes[d_idx], det_score[d_idx])
        still_std = self._param("still_speed_std")
        still = np.flatnonzero(self.motion.settled & np.isfinite(still_std))
        self.imm.hold_still(still, still_std[still])
        matched = np.zeros(len(self), bool)
        matched[t_idx] = True
        self.misses[~matched] += 1
        self.state[~matched & (self.state == CONFIRMED)] = COASTING
        alive = np.where(
            self.state == TENTATIVE,
            self.misses <= 1,
            self.misses <= np.minimum(self._param("max_coast_frames"), self.hits),
        )
        self.det_index = np.full(len(self), -1, np.int64)
        self.det_index[t_idx] = d_idx
        self.points = [None] * len(self)
        if point_indices is not None:
            for t, d in zip(t_idx.tolist(), d_idx.tolist(), strict=True):
                self.points[t] = point_indices[d]
        self._keep(alive)

        # 4. Births from unmatched strong detections.
        used = np.zeros(len(det_boxes), bool)
        used[d_idx] = True
        born = np.nonzero(~used & strong)[0]
        born_points = [None] * len(born) if point_indices is None else [point_indices[i] for i in born]
        self._birth(det_boxes[born], det_cls[born], det_score[born], born_points, born)

        # 5. Moving / stationary with hysteresis.
        xc, Pc = self.imm.combined()
        speed = np.hypot(xc[:, 2], xc[:, 3])
        moving = self.motion.update(
            self._time, xc[:, :2], speed, cfg.motion_window, cfg.moving_speed,
            cfg.stationary_speed, cfg.moving_displacement, cfg.stationary_displacement,
        )
        return self._tracks(xc, Pc, moving)

    def _associate(self, det_boxes: np.ndarray, det_cls: np.ndarray, strong: np.ndarray,
                   seen_boxes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matched (track indices, detection indices), two (K,) int64 arrays, and the (K, 2)
        centre each match measures."""
        if len(self) == 0 or len(det_boxes) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2))
        cfg = self.config
        combined = self.imm.combined()
        centers, S = self.imm.innovation(self._param("pos_std"), combined)
        boxes = self.predicted_boxes(combined[0])
        settled, seen = self.motion.settled, None
        if seen_boxes is not None and cfg.seen_part_margin is not None:
            # A parked car's box moves the least from where it stands, a moving track's from
            # the detection's box.
            seen = SeenParts.of(boxes, np.asarray(seen_boxes, dtype=np.float64).reshape(-1, 7), det_boxes[:, :2],
                                ~settled, cfg.seen_part_margin)
        cost, by_seen = association_cost(
            boxes, centers, S, self.cls, det_boxes, det_cls, self._param("gate_chi2"), self._param("max_distance"),
            self._param("size_std"), cfg.weight_iou, cfg.weight_size, seen, self.state != TENTATIVE,
        )
        first = assign(cost[:, strong])
        strong_idx = np.nonzero(strong)[0]
        t_idx, d_idx = first.matches[:, 0], strong_idx[first.matches[:, 1]]
        weak_idx = np.nonzero(~strong)[0]
        if len(weak_idx):
            rest = first.unmatched_tracks[self.state[first.unmatched_tracks] != TENTATIVE]
            second: AssociationResult = assign(cost[np.ix_(rest, weak_idx)])
            t_idx = np.concatenate([t_idx, rest[second.matches[:, 0]]])
            d_idx = np.concatenate([d_idx, weak_idx[second.matches[:, 1]]])
        t_idx, d_idx = t_idx.astype(np.int64), d_idx.astype(np.int64)
        measured = det_boxes[d_idx, :2]
        if seen is not None:
            # Matches allowed by the seen part alone, and parked cars whose box holds the seen
            # part, measure where the track's box holds it.
            fitted = by_seen[t_idx, d_idx] | (settled[t_idx] & seen.fits[t_idx, d_idx])
            measured = np.where(fitted[:, None], seen.centers[t_idx, d_idx], measured)
        return t_idx, d_idx, measured

    def _update(self, t_idx: np.ndarray, centers: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> None:
        if len(t_idx) == 0:
            return
        self.imm.update(t_idx, centers, self._param("pos_std")[t_idx])
        # Height of the centre.
        zz = self.z[t_idx]
        z, zv = zz[:, 0], zz[:, 1]
        k = zv / (zv + _Z_MEAS_VAR)
        zz[:, 0] = z + k * (boxes[:, 2] - z)
        zz[:, 1] = (1 - k) * zv
        self.z[t_idx] = zz
        # Heading, folded so a detector's 180-degree flip does not spin the box.
        yy = self.yaw[t_idx]
        yaw, yv = yy[:, 0], yy[:, 1]
        innov = wrap_angle(boxes[:, 6] - yaw)
        innov = np.where(innov > np.pi / 2, innov - np.pi, np.where(innov < -np.pi / 2, innov + np.pi, innov))
        k = yv / (yv + _YAW_MEAS_VAR)
        yy[:, 0] = wrap_angle(yaw + k * innov)
        yy[:, 1] = (1 - k) * yv
        self.yaw[t_idx] = yy
        # Size on a log scale (relative noise).
        meas_var = (self._param("size_std")[t_idx] ** 2)[:, None]
        sv = self.log_size_var[t_idx]
        k = sv / (sv + meas_var)
        self.log_size[t_idx] += k * (np.log(boxes[:, 3:6]) - self.log_size[t_idx])
        self.log_size_var[t_idx] = (1 - k) * sv
        # Lifecycle.
        self.hits[t_idx] += 1
        self.misses[t_idx] = 0
        self.score[t_idx] = scores
        st = self.state[t_idx]
        promote = (st == COASTING) | ((st == TENTATIVE) & (self.hits[t_idx] >= self._param("min_hits")[t_idx]))
        self.state[t_idx] = np.where(promote, CONFIRMED, st)

    def _birth(self, boxes: np.ndarray, cls: np.ndarray, scores: np.ndarray, points: list, born: np.ndarray) -> None:
        m = len(boxes)
        if m == 0:
            return
        pos_std = self._table["pos_std"][cls]
        self.imm.add(boxes[:, :2], pos_std, self._table["init_speed_std"][cls], np.array([0.5, 0.5]))
        self.motion.add(m)
        self.ids = np.concatenate([self.ids, np.arange(self._next_id, self._next_id + m)])
        self._next_id += m
        self.cls = np.concatenate([self.cls, cls])
        self._per_track = np.concatenate([self._per_track, self._class_rows[cls]])
        min_hits = self._table["min_hits"][cls]
        self.state = np.concatenate([self.state, np.where(min_hits <= 1, CONFIRMED, TENTATIVE)])
        self.hits = np.concatenate([self.hits, np.ones(m, np.int64)])
        self.misses = np.concatenate([self.misses, np.zeros(m, np.int64)])
        self.age = np.concatenate([self.age, np.zeros(m, np.int64)])
        self.score = np.concatenate([self.score, scores])
        zz = np.empty((m, 2))
        zz[:, 0], zz[:, 1] = boxes[:, 2], _Z_MEAS_VAR
        self.z = np.concatenate([self.z, zz])
        yy = np.empty((m, 2))
        yy[:, 0], yy[:, 1] = boxes[:, 6], _YAW_MEAS_VAR
        self.yaw = np.concatenate([self.yaw, yy])
        self.log_size = np.concatenate([self.log_size, np.log(boxes[:, 3:6])])
        self.log_size_var = np.concatenate([self.log_size_var, np.repeat((self._table["size_std"][cls] ** 2)[:, None], 3, axis=1)])
        self.points.extend(points)
        self.det_index = np.concatenate([self.det_index, born])

    def _keep(self, mask: np.ndarray) -> None:
        if mask.all():
            return
        self.imm.keep(mask)
        self.motion.keep(mask)
        for name in ("det_index", "ids", "cls", "_per_track", "state", "hits", "misses", "age", "score", "z", "yaw", "log_size", "log_size_var"):
            setattr(self, name, getattr(self, name)[mask])
        self.points = [p for p, k in zip(self.points, mask, strict=True) if k]

    def _tracks(self, xc: np.ndarray, Pc: np.ndarray, moving: np.ndarray) -> TrackList:
        return TrackList(
            ids=self.ids.copy(), cls=self.cls.copy(), boxes=self.predicted_boxes(xc), xc=xc, Pc=Pc,
            moving=moving.copy(), state=self.state.copy(), score=self.score.copy(), age=self.age.copy(),
            hits=self.hits.copy(), points=list(self.points),
        )

    def detection_index(self) -> np.ndarray:
        """Per live track (order of the last ``step``'s result), the index of the detection
        that updated or started it in that step, or -1."""
        return self.det_index
