"""The loop split for the two nodes (s2mat.loop_parts) equals S2MAT.step frame by frame.

This guards the ROS graph's equality with ``s2mat map``: when the pipeline changes, the split
must change with it, and this test says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from s2mat.loop_parts import MappingHalf, PerceptionHalf, run_split
from s2mat.pipeline import S2MAT
from s2mat.sim import simulate


@pytest.mark.parametrize("overlap", [False, True], ids=["lockstep", "next-frame-begins-early"])
def test_split_loop_gives_the_poses_labels_and_tracks_of_the_pipeline(overlap):
    frames = list(simulate("street", sensor="vlp16", frames=12, seed=3, columns=1024, camera=False))
    whole, mapping, perception = S2MAT(), MappingHalf(), PerceptionHalf()
    moving = set()
    got_all = list(run_split(mapping, perception, frames, overlap=overlap))
    assert len(got_all) == len(frames)
    for frame, got in zip(frames, got_all, strict=True):
        want = whole.step(frame)
        np.testing.assert_array_equal(got.pose, want.pose)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert [(t.track_id, t.moving, t.object_class) for t in got.tracks] == \
               [(t.track_id, t.moving, t.object_class) for t in want.tracks]
        moving |= {t.track_id for t in want.tracks if t.moving}
    assert moving, "no moving track: the comparison would be vacuous"
    assert np.linalg.norm(want.pose[:3, 3]) > 5.0
    np.testing.assert_array_equal(mapping.map.points(), whole.static_map().points())


def test_the_map_check_of_an_early_frame_waits_for_the_last_finish():
    frames = list(simulate("street", sensor="vlp16", frames=3, seed=3, columns=1024, camera=False))
    mapping, perception = MappingHalf(), PerceptionHalf()
    start = mapping.begin(frames[0])
    detected = perception.detect(frames[0], perception.prepare(frames[0], start.guess, False, False), None)
    pose = mapping.register(start, detected.believed_dynamic)
    mapping.begin(frames[1], overlap=True)
    assert mapping.unfinished
    with pytest.raises(RuntimeError, match="finish"):
        mapping.evidence(np.zeros((4, 3)))
    with pytest.raises(RuntimeError, match="resets"):
        mapping.begin(frames[0], overlap=True)
    mapping.finish(start, pose, np.zeros(len(start.points), dtype=bool))
    assert not mapping.unfinished
    free, occupied = mapping.evidence(start.raw[:10] @ pose[:3, :3].T + pose[:3, 3])
    assert occupied.sum() > 0
