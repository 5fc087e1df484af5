"""The loop split for the two nodes (s2mat.loop_parts) equals S2MAT.step frame by frame.

This guards the ROS graph's equality with ``s2mat map``: when the pipeline changes, the split
must change with it, and this test says so.
"""

from __future__ import annotations

import numpy as np

from s2mat.loop_parts import MappingHalf, PerceptionHalf, step_split
from s2mat.pipeline import S2MAT
from s2mat.sim import simulate


def test_split_loop_gives_the_poses_labels_and_tracks_of_the_pipeline():
    frames = list(simulate("street", sensor="vlp16", frames=12, seed=3, columns=1024, camera=False))
    whole, mapping, perception = S2MAT(), MappingHalf(), PerceptionHalf()
    moving = set()
    for frame in frames:
        want, got = whole.step(frame), step_split(mapping, perception, frame)
        np.testing.assert_array_equal(got.pose, want.pose)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert [(t.track_id, t.moving, t.object_class) for t in got.tracks] == \
               [(t.track_id, t.moving, t.object_class) for t in want.tracks]
        moving |= {t.track_id for t in want.tracks if t.moving}
    assert moving, "no moving track: the comparison would be vacuous"
    assert np.linalg.norm(want.pose[:3, 3]) > 5.0
    np.testing.assert_array_equal(mapping.map.points(), whole.static_map().points())
