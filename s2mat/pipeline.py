"""The S2MAT loop: odometry on static points, map-aware detection, tracking, static mapping.

Per frame (see ARCHITECTURE.md, "The loop"):

1. preprocess: keep finite points within the sensor's range and, when they carry per-point
   times, deskew them to the frame timestamp with the constant-velocity motion (detection,
   the static map and the labels use these; odometry registers the scan as measured against
   scans as measured, where constant-motion distortion cancels);
2. ground segmentation, then detection against the static map at the predicted pose, with
   the tracks' predicted boxes as clustering hints, both on the scan turned so that the near
   ground is level (:mod:`perception.levelling`: a tilted sensor's heights read as a level one's);
3. odometry registers the scan using only points not believed dynamic;
4. the tracker updates with the detections, now placed with the registered pose; the static
   map's evidence and each track's history decide its class and whether it moves;
5. points of moving tracks and dynamic candidates are kept out of the maps; the rest is
   inserted with free-space carving;
6. (optional) confirmed tracks get commonsense annotations.

The state is split in two halves (:mod:`s2mat.loop_parts`): the mapping half (odometry and
static map) and the perception half (detection and tracking). Here they run in one object;
the ROS 2 graph runs the same halves in two nodes.

``coupling.map_to_detection`` switches off the map's part in detection (step 2), and
``coupling.tracks_to_map`` the tracks' part in what odometry and the map may use (3, 5).
"""

from __future__ import annotations

import time

from mapping.static_map import StaticMap
from s2mat.config import S2MATConfig
from s2mat.loop_parts import MappingHalf, PerceptionHalf
from s2mat.types import Frame, StepResult

__all__ = ["S2MAT", "StepResult"]


class S2MAT:
    """Simultaneous and self-reinforced mapping and tracking, one frame at a time.

    >>> s2mat = S2MAT(config)
    >>> for frame in dataset:
    ...     result = s2mat.step(frame)
    >>> s2mat.static_map().points()
    """

    def __init__(self, config: S2MATConfig | None = None) -> None:
        self.config = config or S2MATConfig()
        self.mapping = MappingHalf(self.config)
        self.perception = PerceptionHalf(self.config)
        self.annotator = None
        if self.config.annotator.enabled:
            from s2mat.annotate import TrackAnnotator

            self.annotator = TrackAnnotator(self.config.annotator)

    def static_map(self) -> StaticMap:
        """The static map built so far (world frame)."""
        return self.mapping.map

    @property
    def frames(self) -> int:
        """Frames in the current world frame (a time jump back starts a new one)."""
        return self.mapping.frames

    def reset(self) -> None:
        """Forget everything: a new world frame starts with the next frame."""
        self.mapping.reset()
        self.perception.reset()

    def step(self, frame: Frame) -> StepResult:
        """Process one frame; see the module docstring for the steps."""
        timing: dict[str, float] = {"map_wait": 0.0}
        clock = time.perf_counter()
        waited = self.mapping.waited_ms

        def lap(name: str) -> None:
            # Time spent waiting for the last frame's background map work is reported apart.
            nonlocal clock, waited
            now = time.perf_counter()
            wait = self.mapping.waited_ms - waited
            timing[name] = (now - clock) * 1e3 - wait
            timing["map_wait"] += wait
            clock, waited = now, self.mapping.waited_ms

        start = self.mapping.begin(frame)  # 1. (a time jump back resets both halves)
        lap("preprocess")
        detected = self.perception.detect(frame, start, self.mapping.query())  # 2.
        lap("detection")
        pose = self.mapping.register(start, detected.believed_dynamic)  # 3.
        lap("odometry")
        tracked = self.perception.track(detected, pose)  # 4.
        lap("tracking")
        self.mapping.finish(start, pose, tracked.dynamic)  # 5.
        lap("mapping")
        annotations = []
        if self.annotator is not None:  # 6.
            annotations = self.annotator.step(frame, list(tracked.tracks), start.points, pose)
            lap("annotation")
        timing["total"] = float(sum(timing.values()))
        return StepResult(index=frame.index, timestamp=frame.timestamp, pose=pose, labels=tracked.labels,
                          tracks=list(tracked.tracks), detections=tracked.detections, timing=timing,
                          annotations=annotations)
