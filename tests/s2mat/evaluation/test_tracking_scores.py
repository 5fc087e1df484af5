"""Tracking scores of a run (s2mat.evaluation.run.tracking_metrics) on simulated ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from perception.types import Box3D
from s2mat.evaluation.run import TRACK_RADIUS, RunGroundTruth, tracking_metrics
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
