"""Commonsense annotations of confirmed tracks, batched per frame and cached per track id.

One code path serves both users: ``S2MAT.step`` calls :meth:`TrackAnnotator.step` with the
tracker's tracks (their ``point_indices`` say which scan points are theirs), and the ROS
``annotator`` node calls the same method with tracks rebuilt from the JSON track list by
:func:`track_from_record`, their points found by :func:`assign_box_points`.

A track's view is its camera crop when the frame has a camera and the box projects into
the image (quality: crop area in pixels), otherwise a rendered view of its LiDAR points
(quality: point count). A track is (re-)annotated when it has no annotation yet, when its
first camera view replaces an annotation from LiDAR, or when a view of the same kind at least
``refresh_ratio`` times better than the cached one arrives.
"""

from __future__ import annotations

import numpy as np

from perception.commonsense.annotator import (
    CommonsenseAnnotator,
    TrackAnnotationCache,
    render_lidar_view,
)
from perception.commonsense.geometry import geometry_from_track
from perception.commonsense.simcrops import box_rect_in_image, crop_image
from perception.types import Box3D, ObjectClass, Track, TrackState
from s2mat.config import AnnotatorConfig
from s2mat.types import Frame

MIN_CROP_PIXELS = 24 * 24  # smaller camera crops fall back to the LiDAR view
MIN_LIDAR_POINTS = 10
FORGET_AFTER = 10  # frames a track may be missing from the reported list before its cache entry goes
GROUND_CLEARANCE = 0.15  # metres above a box's bottom face below which points count as ground


def track_from_record(record: dict) -> Track:
    """A :class:`Track` from its JSON form (a line of ``tracks.jsonl``, an entry of the ROS
    track list; world frame, metres, radians, m/s). Raises ``KeyError``/``ValueError``/``TypeError``
    on a malformed record. ``point_indices`` is left ``None`` (see :func:`assign_box_points`)."""
    box = Box3D(np.asarray(record["center"], dtype=np.float64), np.asarray(record["size"], dtype=np.float64),
                float(record["yaw"]))
    if not (np.isfinite(box.center).all() and np.isfinite(box.size).all() and np.isfinite(box.yaw)):
        raise ValueError(f"track {record.get('id')} has a non-finite box")
    velocity = np.asarray(record.get("velocity", [0.0, 0.0, 0.0]), dtype=np.float64).reshape(-1)
    if velocity.shape != (3,):
        raise ValueError(f"track {record.get('id')} velocity must have 3 values, got {velocity.shape[0]}")
    return Track(track_id=int(record["id"]), object_class=ObjectClass(record["class"]), box=box, velocity=velocity,
                 moving=bool(record.get("moving", False)), state=TrackState(record.get("state", "confirmed")),
                 score=float(record.get("score", 1.0)))


def assign_box_points(tracks: list[Track], points_world: np.ndarray, margin: float = 0.2) -> None:
    """Set each track's ``point_indices`` to the rows of ``points_world`` (N, 3, world frame, m)
    inside its box grown by ``margin`` metres sideways, above ``GROUND_CLEARANCE`` over its
    bottom face. For tracks whose cluster indices are unknown (the ROS track list)."""
    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    for track in tracks:
        b = track.box
        c, s = np.cos(b.yaw), np.sin(b.yaw)
        rel = pts - b.center
        along = rel[:, 0] * c + rel[:, 1] * s
        across = -rel[:, 0] * s + rel[:, 1] * c
        inside = ((np.abs(along) <= 0.5 * b.size[0] + margin) & (np.abs(across) <= 0.5 * b.size[1] + margin)
                  & (rel[:, 2] >= -0.5 * b.size[2] + GROUND_CLEARANCE) & (rel[:, 2] <= 0.5 * b.size[2] + margin))
        track.point_indices = np.flatnonzero(inside)


class TrackAnnotator:
    """Runs the commonsense model on the tracks of each frame that need (better) annotations."""

    def __init__(self, config: AnnotatorConfig, annotator: CommonsenseAnnotator | None = None) -> None:
        self.config = config
        self.model = annotator or CommonsenseAnnotator.load(config.adapter, threshold=config.threshold)
        self.cache = TrackAnnotationCache()
        self._last_seen: dict[int, int] = {}  # track id -> frame index it was last given

    def _view(self, track: Track, frame: Frame, points: np.ndarray, pose: np.ndarray
              ) -> tuple[np.ndarray, float, str] | None:
        if frame.image is not None and frame.camera is not None:
            placed = box_rect_in_image(frame.camera, track.box.center, track.box.size, track.box.yaw,
                                       np.linalg.inv(pose))
            if placed is not None:
                rect, _ = placed
                area = float((rect[2] - rect[0]) * (rect[3] - rect[1]))
                if area >= MIN_CROP_PIXELS:
                    return crop_image(frame.image, rect), area, "camera"
        if track.point_indices is None or len(track.point_indices) < MIN_LIDAR_POINTS:
            return None
        world = points[track.point_indices] @ pose[:3, :3].T + pose[:3, 3]
        view = render_lidar_view(world, track.box.center, track.box.yaw, viewpoint=pose[:3, 3])
        return view, float(len(track.point_indices)), "lidar"

    def step(self, frame: Frame, tracks: list[Track], points: np.ndarray, pose: np.ndarray) -> list[dict]:
        """New annotations of this frame as JSON-ready records (one per annotated track; ``view``
        is camera or lidar, ``quality`` its crop area in pixels or its point count).

        ``points`` are the sensor-frame points the tracks' ``point_indices`` refer to; ``pose``
        is world_T_sensor; tracks are in the world frame.
        """
        # A track that drops out of the reported list for a few frames keeps its annotation.
        for track in tracks:
            self._last_seen[track.track_id] = frame.index
        self._last_seen = {k: v for k, v in self._last_seen.items() if 0 <= frame.index - v <= FORGET_AFTER}
        self.cache.prune(list(self._last_seen))
        todo, crops, geometry, sources, qualities = [], [], [], [], []
        for track in tracks:
            view = self._view(track, frame, points, pose)
            if view is None or not self.cache.needs_update(track.track_id, view[1], view[2]):
                continue
            todo.append(track)
            crops.append(view[0])
            qualities.append(view[1])
            sources.append(view[2])
            geometry.append(geometry_from_track(track.box.size, track.velocity))
        if not todo:
            return []
        statements = self.model.annotate(crops, np.stack(geometry), [t.object_class for t in todo])
        records = []
        for track, found, quality, source in zip(todo, statements, qualities, sources, strict=True):
            self.cache.update(track.track_id, found, quality, frame.index, source)
            records.append({"frame": frame.index, "timestamp": frame.timestamp, "track_id": track.track_id,
                            "class": track.object_class.value, "moving": bool(track.moving), "view": source,
                            "quality": round(float(quality), 1), "statements": [s.to_json() for s in found]})
        return records
