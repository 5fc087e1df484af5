"""The static map's archive: voxels frozen beyond the live window, as a few sorted runs.

A long drive archives voxels without end. Kept as one sorted table, every window check would
rewrite all of them to add its few thousand, a cost that grows with the distance driven.
Here a window check's voxels become a run of their own, merged into the run before it while
that one is not much larger (as in a log-structured merge tree): each voxel is rewritten a
logarithmic number of times over the drive, and there are only a few runs to search.
"""

from __future__ import annotations

import numpy as np

from mapping.voxel_keys import lookup
from mapping.voxel_table import VoxelTable

# A new run is merged into the run before it while that one holds at most this many times its
# voxels: the runs shrink at least this fast from the first, so there are O(log n) of them.
MERGE_RATIO = 2


class Archive:
    """Archived voxels: sorted runs with disjoint keys, largest first."""

    def __init__(self, table: VoxelTable | None = None) -> None:
        self.runs: list[VoxelTable] = []
        if table is not None:
            self.add(table.take(np.argsort(table.keys, kind="stable")))

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def copy(self) -> Archive:
        """An archive with the same runs, which changes to this one do not touch (runs are
        never changed in place: they are shared)."""
        out = Archive()
        out.runs = list(self.runs)
        return out

    def add(self, table: VoxelTable) -> None:
        """Archive the voxels of ``table`` (sorted keys, none archived already)."""
        if not len(table):
            return
        self.runs.append(table)
        while len(self.runs) > 1 and len(self.runs[-2]) <= MERGE_RATIO * len(self.runs[-1]):
            last = self.runs.pop()
            self.runs[-1] = self.runs[-1].merged(last)

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
            self.runs[i] = self.runs[i].take(keep)
        self.runs = [run for run in self.runs if len(run)]
        return out

    def _find(self, keys: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        out = []
        for i, run in enumerate(self.runs):
            rows = lookup(run.keys, keys)
            found = np.flatnonzero(rows >= 0)
            if len(found):
                out.append((i, found, rows.take(found)))
        return out

    def table(self) -> VoxelTable:
        """Every archived voxel, sorted by key."""
        return VoxelTable.concat(self.runs)
