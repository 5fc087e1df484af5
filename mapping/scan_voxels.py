"""One scan's valid points grouped by downsampling voxel, for clouds of several subsets of them.

Odometry downsamples each scan twice with different points left out: registration leaves out
the points believed dynamic before tracking, the local map those found dynamic after it. Both
clouds come from one grouping: per voxel the sum and count of all valid points, from which
the left-out points' share is subtracted. The centroids equal a voxel-grid downsampling of the
subset (the mean of its points in each voxel of ``leaf`` metres, voxels left empty dropped).
"""

from __future__ import annotations

import numpy as np

from mapping.voxel_keys import point_keys


class ScanVoxels:
    """Valid points of an (N, 3) scan grouped into voxels of ``leaf`` metres (same frame)."""

    def __init__(self, points: np.ndarray, valid: np.ndarray, leaf: float) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        rows = np.flatnonzero(valid)
        keys = point_keys(self.points[rows], leaf)
        order = np.argsort(keys, kind="stable")  # along a ring, keys come in long sorted runs
        sorted_keys = keys[order]
        first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if len(keys) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        # Each valid point's voxel (index into the sorted distinct keys); -1 for invalid points.
        self.voxel = np.full(len(self.points), -1, dtype=np.int64)
        self.voxel[rows[order]] = np.cumsum(first) - 1
        self.counts = np.diff(np.r_[starts, len(keys)])
        self.sums = np.zeros((len(starts), 3))
        for axis in range(3):  # per column: 1-D gathers and sums are several times faster
            if len(starts):
                self.sums[:, axis] = np.add.reduceat(self.points[rows, axis].take(order), starts)

    def __len__(self) -> int:
        return len(self.counts)

    def centroids(self, leave_out: np.ndarray) -> np.ndarray:
        """(M, 3) centroids of the voxels over their valid points not in ``leave_out`` ((N,) bool);
        voxels with no such point are dropped. Ordered by voxel key."""
        out = np.flatnonzero(np.asarray(leave_out, dtype=bool) & (self.voxel >= 0))
        voxel = self.voxel[out]
        counts = self.counts - np.bincount(voxel, minlength=len(self))
        sums = self.sums.copy()
        for axis in range(3):
            sums[:, axis] -= np.bincount(voxel, weights=self.points[out, axis], minlength=len(self))
        kept = counts > 0
        return sums[kept] / counts[kept, None]
