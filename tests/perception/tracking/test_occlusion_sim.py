"""Identities survive a 1 s occlusion of simulated traffic (simulator ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from perception.config import TrackingConfig
from perception.tracking import MultiObjectTracker
from perception.types import Box3D, Detection


def test_moving_object_keeps_its_id_through_a_one_second_occlusion_in_simulation():
    sim = pytest.importorskip("s2mat.sim")
    seq = sim.simulate("street", frames=40, seed=2, columns=256, camera=False, motion_distortion=False)
    frames = list(seq)
    counts: dict[int, int] = {}
    for fr in frames:
        for b in fr.ground_truth.boxes:
            if b.moving:
                counts[b.instance_id] = counts.get(b.instance_id, 0) + 1
    hidden = max(counts, key=counts.get)
    assert counts[hidden] == len(frames), "scenario lost the object the test hides"
    rng = np.random.default_rng(0)
    tracker = MultiObjectTracker(TrackingConfig())
    ids_of: dict[int, set[int]] = {}
    for k, fr in enumerate(frames):
        occluded = 15 <= k < 25  # 10 frames at 10 Hz: one second
        gts = [b for b in fr.ground_truth.boxes if not (occluded and b.instance_id == hidden)]
        dets = [
            Detection(Box3D(b.box.center + np.r_[rng.normal(0, 0.1, 2), 0.0], b.box.size, b.box.yaw), 5.0, b.object_class)
            for b in gts
        ]
        tracks = tracker.step(dets, fr.timestamp)
        det_of = tracker.detection_index()
        for i, d in enumerate(det_of):
            if d >= 0:
                ids_of.setdefault(gts[d].instance_id, set()).add(tracks[i].track_id)
    assert len(ids_of[hidden]) == 1
    # and nobody else changed identity either
    assert all(len(v) == 1 for v in ids_of.values())
