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

from mapping.voxel_keys import point_keys


class ScanVoxels:
    """The points of an (N, 3) scan (those marked ``valid``; ``None``: all) grouped into voxels
    of ``leaf`` metres (same frame). ``keys`` are the distinct voxel keys in ascending order,
    ``counts`` and ``sums`` (M, 3) the number and coordinate sums of each voxel's points."""

    def __init__(self, points: np.ndarray, valid: np.ndarray | None, leaf: float) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        self._rows = None if valid is None else np.flatnonzero(valid)
        grouped = self.points if self._rows is None else self.points[self._rows]
        keys = point_keys(grouped, leaf)
        self._order = np.argsort(keys, kind="stable")  # along a ring, keys come in long sorted runs
        sorted_keys = keys[self._order]
        self._first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if len(keys) else np.zeros(0, bool)
        starts = np.flatnonzero(self._first)
        self.keys = sorted_keys[starts]
        self.counts = np.diff(np.r_[starts, len(keys)])
        self.sums = np.zeros((len(starts), 3))
        for axis in range(3):  # per column: 1-D gathers and sums are several times faster
            if len(starts):
                self.sums[:, axis] = np.add.reduceat(grouped[:, axis].take(self._order), starts)

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def voxel(self) -> np.ndarray:
        """(N,) each point's voxel (index into ``keys``); -1 for points not grouped."""
        voxel = np.full(len(self.points), -1, dtype=np.int64)
        rows = self._order if self._rows is None else self._rows[self._order]
        voxel[rows] = np.cumsum(self._first) - 1
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
