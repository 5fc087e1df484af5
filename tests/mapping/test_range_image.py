"""The range image's free-space test and array helpers against their slow, obvious definitions."""

import numpy as np
import pytest
from raycast_scene import street_scans
from scipy.ndimage import minimum_filter

from mapping.geometry import transform32, transform32_columns
from mapping.range_image import RangeImage, columns32, seen_through_scans, window_minimum


@pytest.mark.parametrize("half", [0, 1, 2, 3])
def test_window_minimum_clamps_rows_and_wraps_columns(half):
    rng = np.random.default_rng(half)
    image = rng.uniform(0.5, 80.0, size=(23, 90)).astype(np.float32)
    image[rng.random(image.shape) < 0.2] = np.inf  # pixels without a return
    size = 2 * half + 1
    expected = minimum_filter(image, size=(size, size), mode=("nearest", "wrap"))
    assert np.array_equal(window_minimum(image, half), expected)


def test_transform32_columns_is_transform32_per_axis():
    rng = np.random.default_rng(7)
    points = rng.uniform(-500.0, 500.0, size=(1000, 3)) + np.array([4.0e5, 5.8e6, 30.0])  # UTM-sized
    angle = 0.7
    pose = np.eye(4)
    pose[:3, :3] = [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    pose[:3, 3] = [4.0e5 + 3.0, 5.8e6 - 2.0, 31.0]
    sensor_T_world = np.linalg.inv(pose)
    columns = transform32_columns(points, sensor_T_world)
    assert columns.shape == (3, 1000) and columns.dtype == np.float32
    np.testing.assert_allclose(columns.T, transform32(points, sensor_T_world), atol=1e-4)
    exact = (points - pose[:3, 3]) @ pose[:3, :3]  # world -> sensor in float64
    np.testing.assert_allclose(columns.T, exact, atol=1e-3)


def test_seen_through_is_the_window_test_or_the_beam_test():
    # A point is seen through when its pixel window's nearest return, or the return of its own
    # pixel's beam passing within the beam radius of it, lies beyond range + margin.
    scan = street_scans(frames=1)[0]
    image = RangeImage(scan.points, np.deg2rad(0.2), np.deg2rad(0.4), 1, beams=True)
    rng = np.random.default_rng(3)
    probe = scan.points[rng.integers(0, len(scan.points), 20_000)] * rng.uniform(0.3, 1.3, (20_000, 1))
    probe[:, 2] += rng.normal(0.0, 0.1, 20_000)
    xyz = columns32(probe)
    margin, ratio, beam_radius = 0.3, 0.02, 0.025
    seen = image.seen_through(xyz, margin, ratio, beam_radius)

    row, col, distance, elevation = image._project(xyz)
    row = np.clip(row - image.row0, -1, len(image.nearest))
    inside = (row >= 0) & (row < len(image.nearest))
    at = (np.clip(row, 0, len(image.nearest) - 1), col)
    limit = distance * np.float32(1 + ratio) + np.float32(margin)
    window = inside & (image.nearest[at] > limit)
    beam = inside & (np.abs(image.elevation[at] - elevation) * distance <= beam_radius) & (image.single[at] > limit)
    assert np.array_equal(seen, window | beam)
    assert (window & ~beam).any() and (beam & ~window).any()  # both tests decide some points
    assert np.array_equal(image.seen_through(xyz, margin, ratio), window)


def test_several_scans_at_once_answer_as_each_scan_alone():
    scans = street_scans(frames=3)
    images = [RangeImage(scan.points, np.deg2rad(0.2), np.deg2rad(0.4), 1, beams=True) for scan in scans]
    images.append(RangeImage(np.zeros((0, 3), np.float32), np.deg2rad(0.2), np.deg2rad(0.4), 1, beams=True))
    rng = np.random.default_rng(5)
    world = scans[1].points[rng.integers(0, len(scans[1].points), 3000)] * rng.uniform(0.3, 1.3, (3000, 1))
    world = world.astype(np.float64) @ scans[1].pose[:3, :3].T + scans[1].pose[:3, 3]
    poses = [np.linalg.inv(scan.pose) for scan in scans] + [np.eye(4)]
    xyz = np.stack([transform32_columns(world, pose) for pose in poses], axis=1)
    for beam_radius in (0.025, None):
        together = seen_through_scans(images, xyz, 0.3, 0.02, beam_radius)
        alone = np.stack([image.seen_through(xyz[:, s], 0.3, 0.02, beam_radius) for s, image in enumerate(images)])
        assert np.array_equal(together, alone)
        assert together[:-1].any() and not together[-1].any()  # the image without returns sees nothing
