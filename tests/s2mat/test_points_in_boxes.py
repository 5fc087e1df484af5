"""Helpers of the loop's halves (s2mat.loop_parts) that the pipeline tests reach only indirectly."""

from __future__ import annotations

import numpy as np

from perception.types import Box3D
from s2mat.loop_parts import points_in_boxes


def _any_contains(points: np.ndarray, boxes: list[Box3D], margin: float) -> np.ndarray:
    inside = np.zeros(len(points), dtype=bool)
    for box in boxes:
        inside |= box.contains(points, margin)
    return inside


def test_points_in_boxes_equals_testing_every_point_against_every_box():
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.uniform(-60, 60, 200_000), rng.uniform(-60, 60, 200_000),
                              rng.uniform(-2, 3, 200_000)])
    for count in (1, 4, 15, 40):
        boxes = [Box3D(np.r_[rng.uniform(-50, 50, 2), 0.8], np.r_[rng.uniform(0.5, 6), rng.uniform(0.5, 2.5), 1.7],
                       rng.uniform(-np.pi, np.pi)) for _ in range(count)]
        # one beside another: grid cells within reach of both
        boxes.append(Box3D(boxes[0].center + np.array([1.5, 1.0, 0.0]), np.array([4.5, 1.8, 1.6]), 0.3))
        for margin in (0.0, 0.3, 1.0):
            want = _any_contains(points, boxes, margin)
            assert want.any()
            np.testing.assert_array_equal(points_in_boxes(points, boxes, margin), want)


def test_points_in_the_corners_of_the_grown_box_count():
    # A box turned by 45 degrees: the corners of its margin-grown footprint lie farther from the
    # centre, along x and y, than half the box's own diagonal plus the margin.
    box = Box3D(np.array([10.0, -5.0, 0.8]), np.array([4.0, 2.0, 1.6]), np.pi / 4)
    margin = 0.5
    half = box.size[:2] / 2 + margin
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    corners = np.array([[sx * half[0], sy * half[1]] for sx in (-1, 1) for sy in (-1, 1)]) * 0.999
    world = corners @ np.array([[c, s], [-s, c]]) + box.center[:2]
    points = np.column_stack([world, np.full(4, box.center[2])])
    assert box.contains(points, margin).all()
    assert points_in_boxes(points, [box], margin).all()
    assert not points_in_boxes(points, [box], 0.0).any()
    assert not points_in_boxes(points, [], margin).any()


def test_boxes_far_apart_and_non_finite_boxes():
    near = Box3D(np.array([1.0, 2.0, 0.5]), np.array([4.0, 2.0, 1.5]), 0.3)
    far = Box3D(np.array([1e5, -2e5, 0.5]), np.array([4.0, 2.0, 1.5]), 1.0)  # a grid of 2 m cells would be huge
    broken = Box3D(np.array([np.nan, 0.0, 0.5]), np.array([4.0, 2.0, 1.5]), 0.0)
    rng = np.random.default_rng(3)
    points = np.vstack([near.center + rng.uniform(-3, 3, (5000, 3)), far.center + rng.uniform(-3, 3, (5000, 3))])
    want = near.contains(points, 0.3) | far.contains(points, 0.3)
    assert want[:5000].any() and want[5000:].any()
    np.testing.assert_array_equal(points_in_boxes(points, [near, far, broken], 0.3), want)
