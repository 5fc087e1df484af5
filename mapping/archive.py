"""The static map's archive: voxels frozen beyond the live window, as sorted runs.

A long drive archives voxels without end. Kept as one sorted table, every window check would
rewrite all of them to add its few thousand, a cost that grows with the distance driven.
Here a window check's voxels become a run of their own, merged into the run before it while
that one is not much larger (as in a log-structured merge tree), so each voxel is rewritten a
logarithmic number of times. A run stops taking merges at MAX_RUN voxels, so no window check
rewrites more than that however long the drive (one merge of a million voxels took 170 ms).
Each run keeps a box that holds its voxels: a key is searched only in the runs whose box holds
it, not in those left far behind.
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
        self._boxes: list[np.ndarray] = []  # per run, a box (as in _box) that holds its voxels
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
        out.runs, out._boxes = list(self.runs), list(self._boxes)
        return out

    def add(self, table: VoxelTable) -> None:
        """Archive the voxels of ``table`` (sorted keys, none archived already)."""
        if not len(table):
            return
        self.runs.append(table)
        self._boxes.append(_box(table.keys))
        while len(self.runs) > 1 and len(self.runs[-2]) <= MERGE_RATIO * len(self.runs[-1]) \
                and len(self.runs[-2]) + len(self.runs[-1]) <= MAX_RUN:
            last, box = self.runs.pop(), self._boxes.pop()
            self.runs[-1] = self.runs[-1].merged(last)
            self._boxes[-1] = np.stack([np.minimum(self._boxes[-1][0], box[0]), np.maximum(self._boxes[-1][1], box[1])])

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
        self._boxes = [box for run, box in zip(self.runs, self._boxes, strict=True) if len(run)]
        self.runs = [run for run in self.runs if len(run)]
        return out

    def _find(self, keys: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        out = []
        index = unpack(keys)
        for i, (run, box) in enumerate(zip(self.runs, self._boxes, strict=True)):
            inside = np.flatnonzero(((index >= box[0]) & (index <= box[1])).all(axis=1))
            if not len(inside):
                continue  # the runs left far behind
            rows = lookup(run.keys, keys.take(inside))
            found = rows >= 0
            if found.any():
                out.append((i, inside.compress(found), rows.compress(found)))
        return out

    def table(self) -> VoxelTable:
        """Every archived voxel, sorted by key."""
        return VoxelTable.concat(self.runs)
