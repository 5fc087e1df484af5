"""Column store of voxels sorted by key: hit, free-space and point statistics per voxel."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class VoxelTable:
    """Per-voxel evidence, one row per voxel, rows sorted by ``keys``.

    ``hits``: scans that put a static point in the voxel (persistence); ``free``: scans that
    saw through it; ``free_since_hit``: of those, the ones after its latest hit;
    ``kept_from``: the frame from which the voxel is kept, if it is (its first hit, or the
    latest hit that found it carved; the owner numbers the frames); ``npts`` and ``sums``
    (metres, world frame): points inserted, for the centroid. ``offsets``: the
    centroid minus an anchor point the owner chooses, in float32 (the per-frame free-space
    tests read it); tables start it at zero and the owner keeps it up to date where it reads
    it (the static map: in its live tables, not in the archive).
    """

    keys: np.ndarray
    hits: np.ndarray
    free: np.ndarray
    free_since_hit: np.ndarray
    kept_from: np.ndarray
    npts: np.ndarray
    sums: np.ndarray
    offsets: np.ndarray

    @classmethod
    def empty(cls) -> VoxelTable:
        return cls.allocate(0)

    @classmethod
    def allocate(cls, n: int) -> VoxelTable:
        z = np.zeros(n, dtype=np.int32)
        return cls(np.zeros(n, dtype=np.int64), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(),
                   np.zeros((n, 3), dtype=np.float64), np.zeros((n, 3), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, index: np.ndarray) -> VoxelTable:
        """Rows at ``index`` (bool mask or sorted indices keep the key order)."""
        index = np.asarray(index)
        if index.dtype == bool:  # compress is several times faster than boolean indexing
            return VoxelTable(**{f.name: getattr(self, f.name).compress(index, axis=0) for f in fields(self)})
        return VoxelTable(**{f.name: getattr(self, f.name).take(index, axis=0) for f in fields(self)})

    def copy(self) -> VoxelTable:
        return VoxelTable(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def centroids(self, rows: slice = slice(None)) -> np.ndarray:
        """(M, 3) mean of the points inserted in each voxel (of ``rows``), world frame, metres."""
        return self.mean(self.sums[rows], self.npts[rows])

    @staticmethod
    def mean(sums: np.ndarray, npts: np.ndarray) -> np.ndarray:
        """(M, 3) float64 centroids of voxels with point ``sums`` (M, 3) and counts ``npts`` (M,)."""
        return sums / np.maximum(npts, 1)[:, None]

    def squared_distances(self, point: np.ndarray) -> np.ndarray:
        """(M,) squared distance from ``point`` (3,) to each voxel's centroid, one column at a time
        (without building the (M, 3) centroids: half the time)."""
        count = np.maximum(self.npts, 1)
        out = np.zeros(len(self))
        axis_offset = np.empty(len(self))
        for axis in range(3):
            np.divide(self.sums[:, axis], count, out=axis_offset)
            axis_offset -= point[axis]
            axis_offset *= axis_offset
            out += axis_offset
        return out

    @staticmethod
    def concat(tables: list[VoxelTable]) -> VoxelTable:
        """Rows of all tables (keys must be disjoint), sorted by key."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return VoxelTable.empty()
        merged = VoxelTable(**{f.name: np.concatenate([getattr(t, f.name) for t in tables])
                               for f in fields(VoxelTable)})
        return merged.take(np.argsort(merged.keys, kind="stable"))

    def merged(self, fresh: VoxelTable, keep: np.ndarray | None = None) -> VoxelTable:
        """This table's rows (those where the (M,) bool ``keep`` is True, if given) with the rows
        of ``fresh`` (sorted keys, none already here) inserted in key order: one gather per
        column, no re-sort (twice as fast as ``np.insert`` when ``fresh`` is large)."""
        rows = None if keep is None else np.flatnonzero(keep)
        if len(fresh) == 0:
            return self if rows is None else self.take(rows)
        if len(self) == 0 or (rows is not None and len(rows) == 0):
            return fresh
        keys = self.keys if rows is None else self.keys.take(rows)
        slots = np.searchsorted(keys, fresh.keys)
        slots += np.arange(len(fresh))  # the merged rows that hold fresh's rows
        source = np.ones(len(keys) + len(fresh), dtype=np.intp)
        source[slots] = 0
        np.cumsum(source, out=source)
        source -= 1  # every other merged row: its row among the kept ones
        np.maximum(source, 0, out=source)
        if rows is not None:
            source = rows.take(source)  # ... and its row here

        def column(old: np.ndarray, new: np.ndarray) -> np.ndarray:
            out = old.take(source, axis=0)
            out[slots] = new
            return out

        return VoxelTable(**{f.name: column(getattr(self, f.name), getattr(fresh, f.name)) for f in fields(self)})
