"""Run a tracker over KITTI tracking detections and produce KITTI tracking results.

Detections are converted from the KITTI camera frame to the z-up tracking frame (see
:mod:`s2mat.datasets.kitti_tracking`), fed frame by frame to a tracker with the
``step(detections, timestamp) -> list[Track]`` interface, and the reported tracks are
converted back. A track is written in a frame when the tracker says it was measured in that
frame (``matched_mask``) and it is not tentative, unless ``report_tentative`` is set; its 2D
box and score are those of the detection that updated it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from perception.tracking.geometry import boxes_to_array
from perception.tracking.tracker import CLASSES, COASTING, TENTATIVE, TrackList
from perception.types import Box3D, Detection, ObjectClass, Track
from s2mat.datasets.kitti_tracking import KittiCalib, KittiObjects, camera_to_zup, zup_to_camera

FRAME_PERIOD = 0.1  # KITTI tracking sequences are recorded at 10 Hz
_TO_CLASS = {"Car": ObjectClass.CAR, "Pedestrian": ObjectClass.PEDESTRIAN, "Cyclist": ObjectClass.CYCLIST}
_TO_NAME = {v: k for k, v in _TO_CLASS.items()}
_NAMES = np.array([_TO_NAME.get(c, "Misc") for c in CLASSES], dtype=object)


@dataclass
class SequenceRun:
    results: KittiObjects
    frames: int
    seconds: float  # time spent in the tracker's step() and in picking the tracks to write


@dataclass
class Rows:
    """The tracks written in one frame, as arrays: ids, KITTI type names, z-up boxes (K, 7),
    scores and the index of the detection (within the frame) behind each row, or -1."""

    track_id: np.ndarray
    type: np.ndarray
    boxes: np.ndarray
    score: np.ndarray
    det: np.ndarray

    @staticmethod
    def from_tracks(chosen: list[tuple[Track, int]]) -> Rows:
        """Rows from (track, detection index) pairs."""
        return Rows(
            track_id=np.array([t.track_id for t, _ in chosen], np.int64),
            type=np.array([_TO_NAME.get(t.object_class, "Misc") for t, _ in chosen], dtype=object),
            boxes=boxes_to_array([t.box for t, _ in chosen]),
            score=np.array([t.score for t, _ in chosen], np.float64),
            det=np.array([d for _, d in chosen], np.int64),
        )


def to_detections(dets: KittiObjects) -> list[Detection]:
    """KITTI detections (camera frame) to :class:`Detection` objects in the z-up frame."""
    boxes = camera_to_zup(dets.boxes_cam)
    return [
        Detection(box=Box3D(b[:3], b[3:6], b[6]), score=float(s), object_class=_TO_CLASS[str(t)])
        for b, s, t in zip(boxes, dets.score, dets.type, strict=True)
    ]


def to_arrays(dets: KittiObjects) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KITTI detections (camera frame) as tracker input arrays: z-up boxes (N, 7), class
    indices into :data:`perception.tracking.tracker.CLASSES` (N,) and scores (N,)."""
    boxes = np.asarray(camera_to_zup(dets.boxes_cam), dtype=np.float64).reshape(-1, 7)
    cls = np.array([CLASSES.index(_TO_CLASS[str(t)]) for t in dets.type], np.int64)
    return boxes, cls, np.asarray(dets.score, dtype=np.float64)


def run_sequence(
    tracker,
    dets: KittiObjects,
    n_frames: int,
    calib: KittiCalib | None = None,
    select: Callable[[object, list[Track]], list[tuple[Track, int]] | Rows] | None = None,
) -> SequenceRun:
    """Track one sequence; ``select(tracker, tracks)`` picks the rows to write, as
    (track, detection index) pairs or as :class:`Rows`.

    A tracker with ``step_arrays(boxes, classes, scores, timestamp)`` is fed arrays built once
    per sequence; any other gets :class:`Detection` lists through ``step``."""
    select = select or select_measured
    order = np.argsort(dets.frame, kind="stable")
    frames = dets.frame[order]
    starts = np.searchsorted(frames, np.arange(n_frames + 1))
    arrays = hasattr(tracker, "step_arrays")
    if arrays:
        boxes, cls, scores = to_arrays(dets.select(order))
        per_frame = [(order[a:b], (boxes[a:b], cls[a:b], scores[a:b])) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    else:
        per_frame = [(order[a:b], to_detections(dets.select(order[a:b]))) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    written: list[tuple[int, np.ndarray, Rows | list[tuple[Track, int]]]] = []
    spent = 0.0
    for f, (idx, frame_dets) in enumerate(per_frame):
        t0 = time.perf_counter()
        if arrays:
            tracks = tracker.step_arrays(*frame_dets, f * FRAME_PERIOD)
        else:
            tracks = tracker.step(frame_dets, f * FRAME_PERIOD)
        chosen = select(tracker, tracks)
        spent += time.perf_counter() - t0
        written.append((f, idx, chosen))
    return SequenceRun(_to_kitti(written, dets, calib), n_frames, spent)


TENTATIVE_PENALTY = 10.0


def select_measured(tracker, tracks: TrackList, coast_frames: int = 2, coast_min_hits: int = 3) -> Rows:
    """Tracks measured this frame and confirmed tracks bridging a gap of at most
    ``coast_frames`` frames (predicted box) once their velocity rests on at least
    ``coast_min_hits`` detections (a velocity from two detections is too unreliable to
    extrapolate). Tentative tracks are written too, with their score lowered by
    :data:`TENTATIVE_PENALTY` so the protocol's score sweep ranks an unconfirmed object
    below every confirmed one."""
    det = np.asarray(tracker.detection_index())
    coasting = (tracker.state == COASTING) & (tracker.misses <= coast_frames) & (tracker.hits >= coast_min_hits)
    rows = np.nonzero((det >= 0) | coasting)[0]
    score = tracks.scores[rows]
    score[tracks.state_index[rows] == TENTATIVE] -= TENTATIVE_PENALTY
    return Rows(tracks.ids[rows], _NAMES[tracks.class_index[rows]], tracks.boxes[rows], score, det[rows])


def _to_kitti(
    written: list[tuple[int, np.ndarray, Rows | list[tuple[Track, int]]]], dets: KittiObjects, calib: KittiCalib | None
) -> KittiObjects:
    parts = [(f, idx, c if isinstance(c, Rows) else Rows.from_tracks(c)) for f, idx, c in written]
    parts = [(f, idx, r) for f, idx, r in parts if len(r.track_id)]
    if not parts:
        return KittiObjects.concatenate([])
    boxes_cam = zup_to_camera(np.concatenate([r.boxes for _, _, r in parts]))
    det_idx = np.concatenate([np.append(idx, -1)[r.det] for _, idx, r in parts])
    n = len(det_idx)
    bbox = np.zeros((n, 4))
    have = det_idx >= 0
    bbox[have] = dets.bbox2d[det_idx[have]]
    if (~have).any():
        if calib is not None:
            proj = calib.project_boxes(boxes_cam[~have])
            bbox[~have] = np.clip(proj, [0, 0, 0, 0], [1241, 374, 1241, 374])
        else:
            bbox[~have] = [0, 0, 100, 100]
    alpha = boxes_cam[:, 6] - np.arctan2(boxes_cam[:, 3], boxes_cam[:, 5])
    return KittiObjects(
        frame=np.concatenate([np.full(len(r.track_id), f, np.int64) for f, _, r in parts]),
        track_id=np.concatenate([r.track_id for _, _, r in parts]).astype(np.int64),
        type=np.array(np.concatenate([r.type for _, _, r in parts]).tolist()),
        truncated=np.zeros(n), occluded=np.zeros(n, np.int64),
        alpha=(alpha + np.pi) % (2 * np.pi) - np.pi, bbox2d=bbox, boxes_cam=boxes_cam,
        score=np.concatenate([r.score for _, _, r in parts]).astype(np.float64),
    )


def sequence_length(*objects: KittiObjects) -> int:
    """Number of frames covered by any of the given rows."""
    return int(max(o.frame.max(initial=-1) for o in objects)) + 1
