"""Baseline tracker: one constant-velocity Kalman filter per object + box-overlap assignment.

Written for s2mat from the published description of the well-known AB3DMOT baseline
(Weng et al., IROS 2020) and its published KITTI / PointRCNN settings:

* state ``[x, y, z, yaw, l, w, h, vx, vy, vz]``, measurement the 7 box parameters,
  P0 = 10 * I with 10000 on the velocities, Q = I with 0.01 on the velocities, R = I;
* heading flipped by pi before an update when it disagrees with the measurement by more
  than 90 degrees;
* per class (PointRCNN): Car Hungarian on 3D GIoU > -0.2, min_hits 3, max_age 2;
  Pedestrian greedy on 3D GIoU > -0.4, min_hits 1, max_age 4; Cyclist Hungarian on
  3D centre distance < 2 m, min_hits 3, max_age 4;
* a track is reported when ``time_since_update < max_age`` and it has ``min_hits`` hits
  (or the sequence is in its first ``min_hits`` frames). Reported boxes are the filter state.

It runs in the z-up frame like s2mat's tracker and exposes the same ``step`` interface.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment
from scipy.spatial import ConvexHull

from perception.tracking.geometry import BOX_DIM, bev_corners, bev_intersection_pairs, wrap_angle
from perception.types import Box3D, Detection, ObjectClass, Track, TrackState

# (assignment, metric, threshold, min_hits, max_age) per class, PointRCNN on KITTI.
PUBLISHED = {
    ObjectClass.CAR: ("hungarian", "giou_3d", -0.2, 3, 2),
    ObjectClass.PEDESTRIAN: ("greedy", "giou_3d", -0.4, 1, 4),
    ObjectClass.CYCLIST: ("hungarian", "dist_3d", 2.0, 3, 4),
    ObjectClass.OTHER: ("hungarian", "giou_3d", -0.2, 3, 2),
}


def giou_3d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Generalised 3D IoU (Na, Nb) of z-up boxes: IoU minus the empty share of the convex hull."""
    na, nb = len(a), len(b)
    out = np.full((na, nb), -1.0)
    if na == 0 or nb == 0:
        return out
    ai, bi = np.repeat(np.arange(na), nb), np.tile(np.arange(nb), na)
    A, B = a[ai], b[bi]
    inter_bev = bev_intersection_pairs(A, B)
    top = np.minimum(A[:, 2] + A[:, 5] / 2, B[:, 2] + B[:, 5] / 2)
    bot = np.maximum(A[:, 2] - A[:, 5] / 2, B[:, 2] - B[:, 5] / 2)
    inter = inter_bev * np.clip(top - bot, 0, None)
    union = np.prod(A[:, 3:6], 1) + np.prod(B[:, 3:6], 1) - inter
    # Enclosing volume: convex hull of both footprints times the joint height span. Far
    # pairs (beyond 1.5x the summed half-diagonals) are below any threshold used: -1 there.
    reach = 0.75 * (np.hypot(A[:, 3], A[:, 4]) + np.hypot(B[:, 3], B[:, 4]))
    near = np.hypot(*(A[:, :2] - B[:, :2]).T) < reach
    ca, cb = bev_corners(A), bev_corners(B)
    span = np.maximum(A[:, 2] + A[:, 5] / 2, B[:, 2] + B[:, 5] / 2) - np.minimum(A[:, 2] - A[:, 5] / 2, B[:, 2] - B[:, 5] / 2)
    g = np.full(len(A), -1.0)
    for k in np.nonzero(near)[0]:
        hull = ConvexHull(np.concatenate([ca[k], cb[k]])).volume * span[k]
        g[k] = inter[k] / union[k] - (hull - union[k]) / hull
    out[ai, bi] = g
    return out


class _KalmanBox:
    def __init__(self, box: np.ndarray, track_id: int, cls: ObjectClass, score: float) -> None:
        kf = KalmanFilter(dim_x=10, dim_z=7)
        kf.F = np.eye(10)
        kf.F[0, 7] = kf.F[1, 8] = kf.F[2, 9] = 1.0
        kf.H = np.eye(7, 10)
        kf.P[7:, 7:] *= 1000.0
        kf.P *= 10.0
        kf.Q[7:, 7:] *= 0.01
        kf.x[:7, 0] = _to_state(box)
        self.kf, self.id, self.cls, self.score = kf, track_id, cls, score
        self.hits, self.time_since_update, self.age = 1, 0, 0

    def predict(self) -> np.ndarray:
        self.kf.predict()
        self.kf.x[3] = wrap_angle(self.kf.x[3])
        self.age += 1
        self.time_since_update += 1
        return _from_state(self.kf.x[:7, 0])

    def update(self, box: np.ndarray, score: float) -> None:
        z = _to_state(box)
        z[3] = wrap_angle(z[3])
        self.kf.x[3] = wrap_angle(self.kf.x[3])
        diff = abs(z[3] - self.kf.x[3, 0])
        if np.pi / 2 < diff < 1.5 * np.pi:
            self.kf.x[3] = wrap_angle(self.kf.x[3] + np.pi)
        if abs(z[3] - self.kf.x[3, 0]) >= 1.5 * np.pi:
            self.kf.x[3] += 2 * np.pi if z[3] > 0 else -2 * np.pi
        self.kf.update(z)
        self.kf.x[3] = wrap_angle(self.kf.x[3])
        self.hits += 1
        self.time_since_update = 0
        self.score = score


def _to_state(box: np.ndarray) -> np.ndarray:
    """[x, y, z, l, w, h, yaw] -> [x, y, z, yaw, l, w, h]."""
    return np.array([box[0], box[1], box[2], box[6], box[3], box[4], box[5]], dtype=np.float64)


def _from_state(s: np.ndarray) -> np.ndarray:
    return np.array([s[0], s[1], s[2], s[4], s[5], s[6], s[3]], dtype=np.float64)


class KalmanHungarianTracker:
    """The baseline, with the ``step(detections, timestamp) -> list[Track]`` interface."""

    def __init__(self, params: dict | None = None) -> None:
        self.params = params or PUBLISHED
        self.tracks: list[_KalmanBox] = []
        self.frame_count = 0
        self._next_id = 1
        self._reported: list[int] = []

    def step(self, detections: list[Detection], timestamp: float) -> list[Track]:
        self.frame_count += 1
        boxes = np.array([[*d.box.center, *d.box.size, d.box.yaw] for d in detections]).reshape(-1, BOX_DIM)
        classes = [ObjectClass(d.object_class) for d in detections]
        predicted = np.array([t.predict() for t in self.tracks]).reshape(-1, BOX_DIM)
        det_used = np.zeros(len(detections), bool)
        det_of_track = {}
        for cls in {*classes, *(t.cls for t in self.tracks)}:
            algm, metric, thres, _, _ = self.params[cls]
            di = np.array([i for i, c in enumerate(classes) if c == cls], int)
            ti = np.array([i for i, t in enumerate(self.tracks) if t.cls == cls], int)
            if len(di) == 0 or len(ti) == 0:
                continue
            if metric == "giou_3d":
                aff = giou_3d(boxes[di], predicted[ti])
            else:
                aff = -np.linalg.norm(boxes[di, None, :3] - predicted[None, ti, :3], axis=-1)
                thres = -thres
            for r, c in _solve(aff, algm):
                if aff[r, c] > thres:
                    det_of_track[ti[c]] = di[r]
                    det_used[di[r]] = True
        for t, d in det_of_track.items():
            self.tracks[t].update(boxes[d], detections[d].score)
        for d in np.nonzero(~det_used)[0]:
            self.tracks.append(_KalmanBox(boxes[d], self._next_id, classes[d], detections[d].score))
            det_of_track[len(self.tracks) - 1] = d
            self._next_id += 1
        out, keep, det_index = [], [], []
        for i, t in enumerate(self.tracks):
            _, _, _, min_hits, max_age = self.params[t.cls]
            if t.time_since_update < max_age and (t.hits >= min_hits or self.frame_count <= min_hits):
                b = _from_state(t.kf.x[:7, 0])
                out.append(
                    Track(
                        track_id=t.id, object_class=t.cls, box=Box3D(b[:3], b[3:6], b[6]),
                        velocity=t.kf.x[7:10, 0].copy(), moving=False, state=TrackState.CONFIRMED,
                        score=t.score, age=t.age, hits=t.hits,
                    )
                )
                det_index.append(det_of_track.get(i, -1))
            keep.append(t.time_since_update < max_age)
        self.tracks = [t for t, k in zip(self.tracks, keep, strict=True) if k]
        self._det_index = np.array(det_index, int)
        return out

    def detection_index(self) -> np.ndarray:
        return self._det_index


def _solve(aff: np.ndarray, algm: str) -> list[tuple[int, int]]:
    """Hungarian or greedy matching maximising affinity (rows: detections, cols: tracks)."""
    if algm == "hungarian":
        r, c = linear_sum_assignment(-aff)
        return list(zip(r.tolist(), c.tolist(), strict=True))
    pairs, used_r, used_c = [], set(), set()
    for flat in np.argsort(-aff, axis=None):
        r, c = np.unravel_index(flat, aff.shape)
        if r not in used_r and c not in used_c:
            pairs.append((int(r), int(c)))
            used_r.add(r)
            used_c.add(c)
    return pairs


def select_reported(tracker: KalmanHungarianTracker, tracks: list[Track]) -> list[tuple[Track, int]]:
    """The baseline writes every track it reports (also those predicted through a miss)."""
    return list(zip(tracks, tracker.detection_index().tolist(), strict=True))
