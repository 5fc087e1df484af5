"""Column store of voxels sorted by key: hit, free-space and point statistics per voxel."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class VoxelTable:
    """Per-voxel evidence, one row per voxel, rows sorted by ``keys``.

    ``hits``: scans that put a static point in the voxel (persistence); ``free``: scans that
    saw through it; ``free_since_hit``: of those, the ones after its latest hit; ``npts`` and
    ``sums`` (metres, world frame): points inserted, for the centroid.
    """

    keys: np.ndarray
    hits: np.ndarray
    free: np.ndarray
    free_since_hit: np.ndarray
    npts: np.ndarray
    sums: np.ndarray

    @classmethod
    def empty(cls) -> VoxelTable:
        return cls.allocate(0)

    @classmethod
    def allocate(cls, n: int) -> VoxelTable:
        z = np.zeros(n, dtype=np.int32)
        return cls(np.zeros(n, dtype=np.int64), z.copy(), z.copy(), z.copy(), z.copy(),
                   np.zeros((n, 3), dtype=np.float64))

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, index: np.ndarray) -> VoxelTable:
        """Rows at ``index`` (bool mask or sorted indices keep the key order)."""
        index = np.asarray(index)
        if index.dtype == bool:  # compress is several times faster than boolean indexing
            return VoxelTable(**{f.name: getattr(self, f.name).compress(index, axis=0) for f in fields(self)})
        return VoxelTable(**{f.name: getattr(self, f.name).take(index, axis=0) for f in fields(self)})

    def centroids(self, rows: slice = slice(None)) -> np.ndarray:
        """(M, 3) mean of the points inserted in each voxel (of ``rows``), world frame, metres."""
        return self.sums[rows] / np.maximum(self.npts[rows], 1)[:, None]

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

    def merged(self, fresh: VoxelTable) -> VoxelTable:
        """This table with the rows of ``fresh`` (sorted keys, none already here) inserted in
        key order: one linear pass per column, no re-sort of the whole table."""
        if len(fresh) == 0:
            return self

        def insert(column: np.ndarray, values: np.ndarray) -> np.ndarray:
            # A 2-D column is inserted through its flat view: several times faster than axis=0.
            width = int(np.prod(column.shape[1:], dtype=np.int64))
            if width == 1:
                return np.insert(column, at, values)
            flat = np.insert(column.reshape(-1), np.repeat(width * at, width), values.reshape(-1))
            return flat.reshape((-1, *column.shape[1:]))

        at = np.searchsorted(self.keys, fresh.keys)
        return VoxelTable(**{f.name: insert(getattr(self, f.name), getattr(fresh, f.name)) for f in fields(self)})
