"""A scan's points grouped per voxel: the voxel keys, point counts and coordinate sums.

The static map adds each scan's static points as per-voxel hits (counts and sums). Odometry
downsamples each scan twice with different points left out: registration leaves out the
points believed dynamic before tracking, the local map those found dynamic after it. Both
clouds come from one grouping: per voxel the sum and count of all valid points, from which
the left-out points' share is subtracted. The centroids equal a voxel-grid downsampling of the
subset (the mean of its points in each voxel of ``leaf`` metres, voxels left empty dropped).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from mapping.voxel_keys import group, point_keys


class ScanVoxels:
    """The points of an (N, 3) scan (those marked ``valid``; ``None``: all) grouped into voxels
    of ``leaf`` metres (same frame). ``keys`` are the distinct voxel keys in ascending order,
    ``counts`` and ``sums`` (M, 3) the number and coordinate sums of each voxel's points."""

    def __init__(self, points: np.ndarray, valid: np.ndarray | None, leaf: float) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        self._rows = None if valid is None else np.flatnonzero(valid)
        grouped = self.points if self._rows is None else self.points.take(self._rows, axis=0)
        # self._voxel: each grouped point's voxel; the sums add each voxel's points in scan order.
        self.keys, self._voxel, self.counts = group(point_keys(grouped, leaf))
        self.sums = np.empty((len(self.keys), 3))
        for axis in range(3):  # per column: 1-D weighted counts are several times faster
            self.sums[:, axis] = np.bincount(self._voxel, weights=grouped[:, axis], minlength=len(self.keys))

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def voxel(self) -> np.ndarray:
        """(N,) each point's voxel (index into ``keys``); -1 for points not grouped."""
        if self._rows is None:
            return self._voxel
        voxel = np.full(len(self.points), -1, dtype=np.int64)
        voxel[self._rows] = self._voxel
        return voxel

    def centroids(self, leave_out: np.ndarray) -> np.ndarray:
        """(M, 3) centroids of the voxels over their grouped points not in ``leave_out`` ((N,)
        bool); voxels with no such point are dropped. Ordered by voxel key."""
        out = np.flatnonzero(np.asarray(leave_out, dtype=bool) & (self.voxel >= 0))
        voxel = self.voxel[out]
        counts = self.counts - np.bincount(voxel, minlength=len(self))
        sums = self.sums.copy()
        for axis in range(3):
            sums[:, axis] -= np.bincount(voxel, weights=self.points[out, axis], minlength=len(self))
        kept = counts > 0
        return sums[kept] / counts[kept, None]
