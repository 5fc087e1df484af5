"""The static map's archive: voxels frozen beyond the live window, as sorted runs.

A long drive archives voxels without end. Kept as one sorted table, every window check would
rewrite all of them to add its few thousand, a cost that grows with the distance driven.
Here a window check's voxels become a run of their own, merged into the run before it while
that one is not much larger (as in a log-structured merge tree), so each voxel is rewritten a
logarithmic number of times. A run stops taking merges at MAX_RUN voxels, so no window check
rewrites more than that however long the drive (one merge of a million voxels took 170 ms).
Each run keeps a box that holds its voxels. A query first drops, in one array operation, the
runs whose box misses the box of the queried keys: those left behind by a long drive, so a
query near the sensor does not cost more the longer the drive. In each run left it searches
only the queried keys within the run's least and greatest key (a slice of the keys in order).
Testing every key against every run's box instead made a frame's two lookups cost 22.9 ms after
2,000 frames (1.6 km, 94 runs, 9.4M voxels) of the simulated street, against 2.2 ms now.
"""

from __future__ import annotations

import numpy as np

from mapping.voxel_keys import lookup, unpack
from mapping.voxel_table import VoxelTable

# A new run is merged into the run before it while that one holds at most this many times its
# voxels (and the two at most MAX_RUN): the runs shrink at least this fast from the last full
# one, so there are O(log MAX_RUN) of them besides the full ones.
MERGE_RATIO = 2
# Voxels a merge may make a run hold: a merge rewrites at most this many (about 20 ms), and a
# run covers some 50 m of a street drive, so a query near the sensor searches only a few runs.
MAX_RUN = 1 << 17


def _box(keys: np.ndarray) -> np.ndarray:
    """(2, 3) least and greatest voxel index of the voxels with ``keys`` (at least one)."""
    index = unpack(keys)
    return np.stack([index.min(axis=0), index.max(axis=0)])


class Archive:
    """Archived voxels: sorted runs with disjoint keys, oldest first."""

    def __init__(self, table: VoxelTable | None = None) -> None:
        self.runs: list[VoxelTable] = []
        self._boxes = np.empty((0, 2, 3), dtype=np.int64)  # per run, a box (as in _box) that holds its voxels
        if table is not None:  # in runs of MAX_RUN consecutive keys: slabs of the world
            ordered = table.take(np.argsort(table.keys, kind="stable"))
            for start in range(0, len(ordered), MAX_RUN):
                self.add(ordered.take(np.arange(start, min(start + MAX_RUN, len(ordered)))))

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def copy(self) -> Archive:
        """An archive with the same runs, which changes to this one do not touch (runs are
        never changed in place: they are shared)."""
        out = Archive()
        out.runs, out._boxes = list(self.runs), self._boxes.copy()
        return out

    def add(self, table: VoxelTable) -> None:
        """Archive the voxels of ``table`` (sorted keys, none archived already)."""
        if not len(table):
            return
        self.runs.append(table)
        self._boxes = np.concatenate([self._boxes, _box(table.keys)[None]])
        while len(self.runs) > 1 and len(self.runs[-2]) <= MERGE_RATIO * len(self.runs[-1]) \
                and len(self.runs[-2]) + len(self.runs[-1]) <= MAX_RUN:
            last = self.runs.pop()
            self.runs[-1] = self.runs[-1].merged(last)
            np.minimum(self._boxes[-2, 0], self._boxes[-1, 0], out=self._boxes[-2, 0])
            np.maximum(self._boxes[-2, 1], self._boxes[-1, 1], out=self._boxes[-2, 1])
            self._boxes = self._boxes[:-1]

    def find(self, keys: np.ndarray) -> list[tuple[VoxelTable, np.ndarray, np.ndarray]]:
        """Where the voxels with ``keys`` are archived: per run that holds some, ``(run, found,
        rows)``, the indices into ``keys`` and their rows in the run."""
        return [(self.runs[i], found, rows) for i, found, rows in self._find(keys)]

    def take_out(self, keys: np.ndarray) -> list[tuple[np.ndarray, VoxelTable]]:
        """The archived voxels with ``keys``, removed from the archive: per run that held some,
        the indices into ``keys`` and those voxels, in the same order."""
        out = []
        for i, found, rows in self._find(keys):
            out.append((found, self.runs[i].take(rows)))
            keep = np.ones(len(self.runs[i]), dtype=bool)
            keep[rows] = False
            self.runs[i] = self.runs[i].take(keep)  # its box still holds its voxels
        self._boxes = self._boxes[[len(run) > 0 for run in self.runs]]
        self.runs = [run for run in self.runs if len(run)]
        return out

    def _find(self, keys: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        out = []
        if not len(keys) or not self.runs:
            return out
        index = unpack(keys)
        low, high = index.min(axis=0), index.max(axis=0)
        near = (self._boxes[:, 0] <= high).all(axis=1) & (self._boxes[:, 1] >= low).all(axis=1)
        order = np.argsort(keys, kind="stable")
        ordered = keys.take(order)
        for i in np.flatnonzero(near).tolist():  # not the runs left far behind
            run = self.runs[i].keys
            start = np.searchsorted(ordered, run[0])  # the keys within the run's least and greatest
            stop = np.searchsorted(ordered, run[-1], side="right")
            if start == stop:
                continue
            rows = lookup(run, ordered[start:stop])
            found = np.flatnonzero(rows >= 0)
            if len(found):
                out.append((i, order[start:stop].take(found), rows.take(found)))
        return out

    def table(self) -> VoxelTable:
        """Every archived voxel, sorted by key."""
        return VoxelTable.concat(self.runs)
