"""Scan voxels: one grouping of a scan gives the voxel-grid downsampling of any subset of it."""

from __future__ import annotations

import numpy as np
import small_gicp
from raycast_scene import street_scans

from mapping.scan_voxels import ScanVoxels
from mapping.voxel_keys import group, point_keys


def _sorted_rows(points: np.ndarray) -> np.ndarray:
    return points[np.lexsort(points.T[::-1])]


def test_centroids_equal_a_voxel_grid_downsampling_of_the_subset():
    scan = street_scans(frames=1)[0]
    points = scan.points.astype(np.float64)
    points[::97] = np.nan  # invalid returns
    valid = np.isfinite(points).all(axis=1)
    voxels = ScanVoxels(points, valid, 0.5)
    rng = np.random.default_rng(0)
    leave_outs = {
        "nothing": np.zeros(len(points), dtype=bool),
        "the moving box": scan.labels == 2,
        "a random tenth": rng.random(len(points)) < 0.1,
    }
    for name, leave_out in leave_outs.items():
        keep = valid & ~leave_out
        expected = np.asarray(small_gicp.voxelgrid_sampling(points[keep], 0.5).points())[:, :3]
        got = voxels.centroids(leave_out)
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(_sorted_rows(got), _sorted_rows(expected), atol=1e-9, err_msg=name)
    # leaving out every point of some voxels drops those voxels
    assert len(voxels.centroids(leave_outs["the moving box"])) < len(voxels)
    assert len(voxels.centroids(np.ones(len(points), dtype=bool))) == 0


def test_grouping_keys_equals_numpy_unique():
    scan = street_scans(frames=1)[0]
    for leaf in (0.1, 0.5):
        keys = point_keys(scan.points.astype(np.float64), leaf)
        got = group(keys)
        expected = np.unique(keys, return_inverse=True, return_counts=True)
        for a, b in zip(got, expected, strict=True):
            assert np.array_equal(a, b)
    assert all(len(part) == 0 for part in group(np.zeros(0, dtype=np.int64)))
