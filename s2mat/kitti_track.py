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
from perception.tracking.tracker import COASTING
from perception.types import Box3D, Detection, ObjectClass, Track, TrackState
from s2mat.datasets.kitti_tracking import KittiCalib, KittiObjects, camera_to_zup, zup_to_camera

FRAME_PERIOD = 0.1  # KITTI tracking sequences are recorded at 10 Hz
_TO_CLASS = {"Car": ObjectClass.CAR, "Pedestrian": ObjectClass.PEDESTRIAN, "Cyclist": ObjectClass.CYCLIST}
_TO_NAME = {v: k for k, v in _TO_CLASS.items()}


@dataclass
class SequenceRun:
    results: KittiObjects
    frames: int
    seconds: float  # time spent in the tracker's step() and in picking the tracks to write


def to_detections(dets: KittiObjects) -> list[Detection]:
    """KITTI detections (camera frame) to :class:`Detection` objects in the z-up frame."""
    boxes = camera_to_zup(dets.boxes_cam)
    return [
        Detection(box=Box3D(b[:3], b[3:6], b[6]), score=float(s), object_class=_TO_CLASS[str(t)])
        for b, s, t in zip(boxes, dets.score, dets.type, strict=True)
    ]


def run_sequence(
    tracker,
    dets: KittiObjects,
    n_frames: int,
    calib: KittiCalib | None = None,
    select: Callable[[object, list[Track]], list[tuple[Track, int]]] | None = None,
) -> SequenceRun:
    """Track one sequence; ``select(tracker, tracks)`` picks (track, detection index) to write."""
    select = select or select_measured
    order = np.argsort(dets.frame, kind="stable")
    frames = dets.frame[order]
    starts = np.searchsorted(frames, np.arange(n_frames + 1))
    per_frame = []
    for f in range(n_frames):
        idx = order[starts[f] : starts[f + 1]]
        per_frame.append((idx, to_detections(dets.select(idx))))
    rows: list[tuple[int, Track, int]] = []
    spent = 0.0
    for f, (idx, detections) in enumerate(per_frame):
        t0 = time.perf_counter()
        tracks = tracker.step(detections, f * FRAME_PERIOD)
        chosen = select(tracker, tracks)
        spent += time.perf_counter() - t0
        rows.extend((f, trk, int(idx[d]) if d >= 0 else -1) for trk, d in chosen)
    return SequenceRun(_to_kitti(rows, dets, calib), n_frames, spent)


TENTATIVE_PENALTY = 10.0


def select_measured(tracker, tracks: list[Track], coast_frames: int = 2, coast_min_hits: int = 3) -> list[tuple[Track, int]]:
    """Tracks measured this frame and confirmed tracks bridging a gap of at most
    ``coast_frames`` frames (predicted box) once their velocity rests on at least
    ``coast_min_hits`` detections (a velocity from two detections is too unreliable to
    extrapolate). Tentative tracks are written too, with their score lowered by
    :data:`TENTATIVE_PENALTY` so the protocol's score sweep ranks an unconfirmed object
    below every confirmed one."""
    det = np.asarray(tracker.detection_index())
    coasting = (tracker.state == COASTING) & (tracker.misses <= coast_frames) & (tracker.hits >= coast_min_hits)
    out = []
    for i in np.nonzero((det >= 0) | coasting)[0]:
        t = tracks[i]  # built only for the rows written
        if t.state == TrackState.TENTATIVE:
            t.score -= TENTATIVE_PENALTY
        out.append((t, int(det[i])))
    return out


def _to_kitti(rows: list[tuple[int, Track, int]], dets: KittiObjects, calib: KittiCalib | None) -> KittiObjects:
    if not rows:
        return KittiObjects.concatenate([])
    boxes_cam = zup_to_camera(boxes_to_array([t.box for _, t, _ in rows]))
    det_idx = np.array([d for _, _, d in rows])
    bbox = np.zeros((len(rows), 4))
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
        frame=np.array([f for f, _, _ in rows], np.int64),
        track_id=np.array([t.track_id for _, t, _ in rows], np.int64),
        type=np.array([_TO_NAME.get(t.object_class, "Misc") for _, t, _ in rows]),
        truncated=np.zeros(len(rows)), occluded=np.zeros(len(rows), np.int64),
        alpha=(alpha + np.pi) % (2 * np.pi) - np.pi, bbox2d=bbox, boxes_cam=boxes_cam,
        score=np.array([t.score for _, t, _ in rows]),
    )


def sequence_length(*objects: KittiObjects) -> int:
    """Number of frames covered by any of the given rows."""
    return int(max(o.frame.max(initial=-1) for o in objects)) + 1
