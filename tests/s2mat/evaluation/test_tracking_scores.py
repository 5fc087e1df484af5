"""Tracking scores of a run (s2mat.evaluation.run.tracking_metrics) on simulated ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from perception.types import Box3D
from s2mat.evaluation.run import TRACK_RADIUS, RunGroundTruth, _not_on_ignored, tracking_metrics
from s2mat.sim import simulate


@pytest.fixture(scope="module")
def crowd():
    """Ground truth of a short crowd run and, per frame, every object within the radius
    (those the scores count and those hidden behind others) as a perfect tracker reports it."""
    truth = RunGroundTruth()
    frames = list(simulate("crowd", sensor="hdl64", frames=8, seed=0, columns=1024, camera=False))
    tracks = {}
    for i, frame in enumerate(frames):
        truth.add(frame, 1.0, 120.0)
        sensor = frame.ground_truth.pose[:3, 3]
        tracks[i] = [(b.instance_id, b.box, b.moving) for b in frame.ground_truth.boxes
                     if np.linalg.norm(b.box.center[:2] - sensor[:2]) <= TRACK_RADIUS]
    return truth, np.stack([f.ground_truth.pose for f in frames]), tracks


def test_a_track_on_an_object_hidden_from_the_sensor_is_no_false_positive(crowd):
    truth, poses, tracks = crowd
    hidden = sum(len(boxes) for boxes in truth.ignored)
    scored = sum(len(boxes) for boxes in truth.boxes)
    assert hidden >= 10 and scored >= 50  # the crowd hides some of its people from the sensor
    scores = tracking_metrics(truth, poses, tracks)
    print(f"{scored} object-frames scored, {hidden} hidden: {scores['TP']} TP, {scores['FP']} FP")
    assert scores["TP"] == scored  # hidden objects count neither way
    assert scores["FP"] == 0 and scores["FN"] == 0
    assert scores["MOTA"] == pytest.approx(100.0)
    assert scores["false_tracks"] == 0


def test_a_box_where_no_object_is_is_a_false_positive(crowd):
    truth, poses, tracks = crowd
    sensor = poses[:, :3, 3]
    ghost = 10_000  # an id no object has
    with_ghost = {i: [*rows, (ghost, Box3D(sensor[i] + np.array([0.0, 0.0, 30.0]), np.ones(3), 0.0), False)]
                  for i, rows in tracks.items()}
    scores = tracking_metrics(truth, poses, with_ghost)
    assert scores["FP"] == len(tracks)
    assert scores["false_tracks"] == 1


def _cube(x: float) -> Box3D:
    """A 1 m cube at (x, 0, 0): two of them ``d`` apart overlap by 3D IoU (1 - d) / (1 + d)."""
    return Box3D(np.array([x, 0.0, 0.0]), np.ones(3), 0.0)


def test_only_one_box_per_hidden_object_counts_neither_way():
    keep = _not_on_ignored([], [_cube(0.0)], [_cube(0.0), _cube(0.1)])
    assert keep.sum() == 1  # the second box on the same hidden object is a false positive


def test_a_box_on_a_scored_and_a_hidden_object_matches_the_scored_one():
    # Box 0 overlaps the scored object by 0.30 and the hidden one by 0.60; box 1 the hidden one
    # by 0.26. Box 0 matches the scored object, box 1 the hidden one: nothing is missed.
    scored, hidden = _cube(0.0), _cube(0.788)
    keep = _not_on_ignored([(1, scored)], [hidden], [_cube(0.538), _cube(1.375)])
    assert keep.tolist() == [True, False]


def test_overlaps_under_the_threshold_do_not_decide_the_matching():
    # Box 1 overlaps the hidden object by 0.28 (and the scored one by 0.17, too little); box 0
    # overlaps the hidden one by 0.245, too little: box 1 is the one on the hidden object.
    scored, hidden = _cube(0.0), _cube(1.269)
    keep = _not_on_ignored([(1, scored)], [hidden], [_cube(1.875), _cube(0.708)])
    assert keep.tolist() == [True, False]
