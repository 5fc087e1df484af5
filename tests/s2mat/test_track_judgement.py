"""Which tracks a frame reports: one track per car."""

from __future__ import annotations

import numpy as np

from perception.config import TrackingConfig
from perception.types import Box3D, ObjectClass, Track, TrackState
from s2mat.track_judgement import TrackJudge, one_per_car

CAR = (4.4, 1.8, 1.5)
WALKER = (0.5, 0.45, 1.7)


def _track(track_id: int, x: float, y: float, size: tuple, kind: ObjectClass, hits: int,
           state: TrackState = TrackState.CONFIRMED) -> Track:
    return Track(track_id=track_id, object_class=kind, box=Box3D([x, y, 0.75], size, 0.0), velocity=np.zeros(3),
                 moving=False, state=state, hits=hits, age=hits)


def test_a_car_followed_twice_is_reported_once_by_its_matched_track():
    # A lagging track coasts half a car length behind the track that took the car's detection.
    lagging = _track(1, 1.5, 0.0, CAR, ObjectClass.CAR, hits=20, state=TrackState.COASTING)
    matched = _track(2, 0.0, 0.2, CAR, ObjectClass.CAR, hits=4)
    assert [t.track_id for t in one_per_car([lagging, matched])] == [2]
    # Both matched: the one with more hits.
    older = _track(1, 1.5, 0.0, CAR, ObjectClass.CAR, hits=20)
    assert [t.track_id for t in one_per_car([matched, older])] == [1]


def test_cars_bumper_to_bumper_and_walkers_side_by_side_are_all_reported():
    parked = [_track(i, 4.5 * i, 0.0, CAR, ObjectClass.CAR, hits=10) for i in range(3)]
    walkers = [_track(10 + i, 20.0 + 0.3 * i, 5.0, WALKER, ObjectClass.PEDESTRIAN, hits=10) for i in range(2)]
    assert [t.track_id for t in one_per_car(parked + walkers)] == [0, 1, 2, 10, 11]


def test_the_judge_reports_one_per_car():
    judge = TrackJudge(TrackingConfig())
    tracks = [_track(1, 0.0, 0.0, CAR, ObjectClass.CAR, hits=9), _track(2, 1.0, 0.3, CAR, ObjectClass.CAR, hits=5),
              _track(3, 0.0, 6.0, CAR, ObjectClass.CAR, hits=5)]
    assert [t.track_id for t in judge.report(tracks, None, 1.0)] == [1, 3]
