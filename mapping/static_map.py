"""Static map: a voxel map of hits and ray-cast free-space evidence.

Every scan adds free-space evidence to the voxels it sees through (all returns count, moving
ones included: the space in front of a car is still empty) and hits to the voxels holding its
*static* points (points the caller marks dynamic never enter). A voxel that was occupied and
later seen through is carved: it stops counting as map. New voxels are also tested against a
short history of recent scans, so a car that arrives where the road was seen empty is carved
at once. Memory is bounded: voxels farther than ``live_radius`` from the sensor leave the
live table for a frozen archive, which the exported map still contains.

Per-frame cost: the live voxels sit in two sorted tables, ``live`` and ``added`` (the voxels
first hit since the last window check). New voxels go into the small ``added`` table, which
joins ``live`` at the next window check, so the large table is rewritten once every
``window_check_every`` frames rather than in every frame. The free-space test of every live
voxel reads its centroid as float32 offsets from an anchor near the sensor (moved once the
sensor is ``ANCHOR_RADIUS`` away): no float64 work per voxel, and however large the world
coordinates, the offsets stay within a few hundred metres (float32 steps of 0.03 mm at most).
A scan's range image and the live voxels it sees through need no static mask:
:meth:`StaticMap.observe` finds them as soon as the pose is known, and :meth:`StaticMap.commit`
adds the scan once the mask is (:meth:`StaticMap.integrate` does both).

Frames: points passed in are sensor frame; poses are 4x4 world_T_sensor; queries are world
frame. Units are metres.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapping.config import StaticMapConfig
from mapping.errors import ScanError
from mapping.geometry import squared_norms, transform, transform32_columns
from mapping.parallel import MIN_ROWS_PER_THREAD, map_items, map_row_chunks, resolve_threads
from mapping.range_image import RangeImage
from mapping.scan_voxels import ScanVoxels
from mapping.voxel_keys import lookup, point_keys, voxel_centers
from mapping.voxel_table import VoxelTable

log = logging.getLogger(__name__)

ANCHOR_RADIUS = 200.0  # metres the sensor moves before the float32 offsets get a new anchor
# Voxels this close to the live radius are measured in float64 (float32 offsets are good to
# about 0.1 mm within a few hundred metres of the anchor).
BOUNDARY_BAND = 0.01  # metres


@dataclass
class Observation:
    """One scan as :meth:`StaticMap.observe` saw it, for :meth:`StaticMap.commit`."""

    points: np.ndarray  # (N, 3) float64 sensor frame
    pose: np.ndarray  # 4x4 world_T_sensor
    valid: np.ndarray  # (N,) bool: finite, within range
    image: RangeImage | None  # None: no valid point
    seen: list[np.ndarray]  # per live table: the rows the scan sees through, hit or not
    revision: int  # the map's revision it was made on


class StaticMap:
    """Voxel map with hits and free-space evidence; answers the perception map queries.

    ``free_counts`` / ``occupied_counts`` / ``voxel_size`` form the query interface the
    perception side uses (it defines a matching Protocol; nothing here imports it).
    """

    def __init__(self, config: StaticMapConfig | None = None, max_range: float = 100.0) -> None:
        self.config = config or StaticMapConfig()
        self.max_range = float(self.config.max_range or max_range)
        self.voxel_size = float(self.config.voxel_size)
        self.live = VoxelTable.empty()
        self.added = VoxelTable.empty()  # live voxels first hit since the last window check
        self.archive = VoxelTable.empty()
        self.history: deque[tuple[np.ndarray, RangeImage]] = deque(maxlen=self.config.history_scans)
        self.frames = 0
        self.sensor_position = np.zeros(3)
        self.anchor: np.ndarray | None = None  # world point the live voxels' float32 offsets start from
        self.threads = resolve_threads(self.config.num_threads)
        self._revision = 0  # counts changes to the live tables and their offsets (see Observation)

    # ------------------------------------------------------------------ update
    def integrate(self, points: np.ndarray, pose: np.ndarray, static_mask: np.ndarray | None = None) -> None:
        """Add one scan: (N, 3) sensor-frame points, 4x4 world_T_sensor pose, (N,) bool
        static mask (None: every point is static). Non-finite and out-of-range points are
        ignored. The same as :meth:`observe` then :meth:`commit`."""
        self.commit(self.observe(points, pose), static_mask)

    def observe(self, points: np.ndarray, pose: np.ndarray) -> Observation:
        """The part of :meth:`integrate` that needs no static mask: the scan's range image and
        the live voxels it sees through. It may be done as soon as the pose is known (while
        tracking decides which points are dynamic); :meth:`commit` must follow before anything
        else changes the map. It changes no voxel (it may move the offsets' anchor)."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ScanError(f"scan points must have shape (N, 3), got {pts.shape}")
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ScanError(f"pose must be a finite 4x4 matrix, got shape {pose.shape}")
        cfg = self.config
        r2 = squared_norms(pts)
        valid = np.isfinite(r2) & (r2 > 0) & (r2 <= self.max_range**2)
        if not valid.any():
            return Observation(pts, pose, valid, None, [], self._revision)
        image = RangeImage(pts.compress(valid, axis=0), np.deg2rad(cfg.azimuth_resolution_deg),
                           np.deg2rad(cfg.elevation_resolution_deg), cfg.neighbourhood,
                           beams=cfg.beam_radius is not None)
        if self.anchor is None or np.linalg.norm(pose[:3, 3] - self.anchor) > ANCHOR_RADIUS:
            self.set_anchor(pose[:3, 3])
        sensor_T_world = np.linalg.inv(pose)
        seen = [self._seen_through(table, image, sensor_T_world) for table in self._live_tables()]
        return Observation(pts, pose, valid, image, seen, self._revision)

    def commit(self, observation: Observation, static_mask: np.ndarray | None = None) -> None:
        """Add the scan of ``observation`` (from :meth:`observe` on the map as it still is) with
        its (N,) bool ``static_mask`` (None: every point is static)."""
        if observation.revision != self._revision:
            raise ValueError("the observation was made on an earlier state of the map; observe the scan again")
        pts, valid = observation.points, observation.valid
        static = np.ones(len(pts), bool) if static_mask is None else np.asarray(static_mask, bool).reshape(-1)
        if len(static) != len(pts):
            raise ScanError(f"static_mask has {len(static)} values for {len(pts)} points")
        if observation.image is None:
            log.warning("static map: scan %d has no valid points; skipped", self.frames)
            return
        pose = observation.pose
        self.sensor_position = pose[:3, 3].copy()

        # Hits of this scan: static points, grouped per voxel.
        hits = ScanVoxels(transform(pts.compress(valid & static, axis=0), pose), None, self.voxel_size)

        # Free space: live voxels this scan saw through (except those it hit).
        rows = [lookup(table.keys, hits.keys) for table in self._live_tables()]  # -1: not in the table
        for table, seen, pos in zip(self._live_tables(), observation.seen, rows, strict=True):
            hit = np.zeros(len(table), dtype=bool)
            hit[pos[pos >= 0]] = True
            idx = seen[~hit.take(seen)]
            table.free[idx] += 1
            table.free_since_hit[idx] += 1
        # Hits: existing voxels gain a hit; new ones get their history's free evidence.
        self._insert(hits.keys, rows, hits.counts.astype(np.int32), hits.sums)
        self.history.append((np.linalg.inv(pose), observation.image))
        self.frames += 1
        self._revision += 1
        if self.frames % self.config.window_check_every == 0 or len(self.live) + len(self.added) > self.config.max_live_voxels:
            self._update_window()

    def set_anchor(self, point: np.ndarray) -> None:
        """Measure the live voxels' float32 offsets from the world point ``point`` from now on."""
        self.anchor = np.array(point, dtype=np.float64)
        self._revision += 1
        for table in self._live_tables():
            table.offsets[:] = self._offsets(table.sums, table.npts)

    def _offsets(self, sums: np.ndarray, npts: np.ndarray) -> np.ndarray:
        """Centroids of voxels with point ``sums`` (M, 3) and counts ``npts`` (M,), minus the
        anchor (float64; stored as float32)."""
        offsets = VoxelTable.mean(sums, npts)
        offsets -= self.anchor
        return offsets

    def _live_tables(self) -> tuple[VoxelTable, VoxelTable]:
        return self.live, self.added

    def _tables(self) -> tuple[VoxelTable, VoxelTable, VoxelTable]:
        return self.live, self.added, self.archive

    def _seen_through(self, live: VoxelTable, image: RangeImage, sensor_T_world: np.ndarray) -> np.ndarray:
        """Rows of the live table ``live`` that ``image`` (taken from ``sensor_T_world``) sees
        through, ascending."""
        if len(live) == 0:
            return np.zeros(0, dtype=np.intp)
        cfg = self.config
        rot = sensor_T_world[:3, :3]
        rot32 = rot.astype(np.float32)
        anchor_local = (rot @ self.anchor + sensor_T_world[:3, 3]).astype(np.float32)[:, None]

        def seen_in(rows: slice) -> np.ndarray:
            # Nearly every live voxel is within range: testing them all and masking afterwards
            # is cheaper than gathering the ones in range first.
            local = rot32 @ live.offsets[rows].T  # (3, n) sensor frame, one row per axis
            local += anchor_local
            seen = image.seen_through(local, cfg.range_margin, cfg.range_margin_ratio, self._beam_radius())
            seen &= squared_norms(local.T) < np.float32(self.max_range**2)
            return np.flatnonzero(seen) + rows.start

        return np.concatenate(map_row_chunks(seen_in, len(live), self.threads))

    def _insert(self, ukeys: np.ndarray, rows: list[np.ndarray], counts: np.ndarray, sums: np.ndarray) -> None:
        """Hits of this scan: ``ukeys`` sorted voxel keys, ``rows`` their rows in each live
        table (-1: not there; a voxel is in one table at most)."""
        new = np.ones(len(ukeys), dtype=bool)
        for live, pos in zip(self._live_tables(), rows, strict=True):
            old = pos >= 0
            i = pos[old]
            live.hits[i] += 1
            live.free_since_hit[i] = 0
            npts = live.npts[i] + counts[old]
            voxel_sums = live.sums[i] + sums[old]
            live.npts[i] = npts
            live.sums[i] = voxel_sums
            live.offsets[i] = self._offsets(voxel_sums, npts)
            new &= ~old
        if not new.any():
            return
        fresh = VoxelTable.allocate(int(new.sum()))
        fresh.keys[:] = ukeys[new]
        fresh.hits[:] = 1
        fresh.npts[:] = counts[new]
        fresh.sums[:] = sums[new]
        fresh.free[:] = self._history_free(fresh.centroids())
        # Voxels that come back into the live window resume their archived evidence.
        if len(self.archive):
            back = lookup(self.archive.keys, fresh.keys)
            hit = back >= 0
            if hit.any():
                arch = self.archive.take(back[hit])
                fresh.hits[hit] += arch.hits
                fresh.free[hit] = arch.free
                fresh.npts[hit] += arch.npts
                fresh.sums[hit] += arch.sums
                keep = np.ones(len(self.archive), bool)
                keep[back[hit]] = False
                self.archive = self.archive.take(keep)
        fresh.offsets[:] = self._offsets(fresh.sums, fresh.npts)
        self.added = self.added.merged(fresh)

    def _history_free(self, points_world: np.ndarray, recent: int | None = None) -> np.ndarray:
        """Scans in the history (the last ``recent`` if given) that saw through each world point."""
        history = list(self.history)[-recent:] if recent else list(self.history)
        cfg = self.config

        def count(scans: list[tuple[np.ndarray, RangeImage]]) -> np.ndarray:
            free = np.zeros(len(points_world), dtype=np.int32)
            for sensor_T_world, image in scans:
                local = transform32_columns(points_world, sensor_T_world)
                free += image.seen_through(local, cfg.range_margin, cfg.range_margin_ratio, self._beam_radius())
            return free

        threads = self.threads if len(points_world) * len(history) >= MIN_ROWS_PER_THREAD else 1
        return np.sum(map_items(count, history, threads), axis=0, dtype=np.int32)

    def _beam_radius(self) -> float | None:
        r = self.config.beam_radius
        return None if r is None else r * self.voxel_size

    def _update_window(self) -> None:
        """Join the added voxels to the live table, and move voxels beyond live_radius (or over
        the voxel budget) into the archive: each live column is gathered once."""
        tables = self._live_tables()
        far = [self._beyond(table, self.config.live_radius) for table in tables]
        if sum(int((~f).sum()) for f in far) > self.config.max_live_voxels:
            # The nearest max_live_voxels stay; the same rank over both tables as over their union.
            d2 = [table.squared_distances(self.sensor_position) for table in tables]
            order = np.argsort(np.concatenate(d2))[self.config.max_live_voxels:]
            cut = len(self.live)
            far[0][order[order < cut]] = True
            far[1][order[order >= cut] - cut] = True
        leaving = self.live.take(far[0]).merged(self.added.take(far[1]))
        self.archive = self.archive.merged(leaving)  # sorted runs, disjoint keys: no re-sort
        self.live = self.live.merged(self.added.take(~far[1]), keep=~far[0])
        self.added = VoxelTable.empty()

    def _beyond(self, live: VoxelTable, radius: float) -> np.ndarray:
        """(M,) bool: voxels of the live table ``live`` whose centroid lies farther than ``radius``
        from the sensor. Measured on the float32 offsets; those within BOUNDARY_BAND of the radius
        are measured again in float64 from the point sums, so the answer is the float64 one."""
        if len(live) == 0:
            return np.zeros(0, dtype=bool)
        sensor = (self.sensor_position - self.anchor).astype(np.float32)
        d2 = np.zeros(len(live), dtype=np.float32)
        axis_offset = np.empty(len(live), dtype=np.float32)
        for axis in range(3):  # one column at a time: several times faster than on (M, 3) rows
            np.subtract(live.offsets[:, axis], sensor[axis], out=axis_offset)
            axis_offset *= axis_offset
            d2 += axis_offset
        far = d2 > np.float32((radius + BOUNDARY_BAND) ** 2)
        unsure = np.flatnonzero(~far & (d2 >= np.float32(max(radius - BOUNDARY_BAND, 0.0) ** 2)))
        far[unsure] = live.take(unsure).squared_distances(self.sensor_position) > radius**2
        return far

    # ------------------------------------------------------------------ queries
    def carved(self, table: VoxelTable) -> np.ndarray:
        """(M,) bool: voxels of ``table`` whose free-space evidence outweighs their hits."""
        cfg = self.config
        since = table.free_since_hit
        return ((since >= cfg.misses_to_free) & (since >= cfg.free_since_hit_ratio * table.hits)) | (
            (table.free >= cfg.misses_to_free) & (table.free >= cfg.free_ratio * table.hits))

    def _voxels_of(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The distinct voxels of (N, 3) world points: their keys, each point's voxel (index into
        them), and each voxel's row in each of :meth:`_tables` (-1 where absent)."""
        keys = point_keys(np.asarray(points_world, dtype=np.float64).reshape(-1, 3), self.voxel_size)
        ukeys, inverse = np.unique(keys, return_inverse=True)
        return ukeys, inverse.reshape(-1), [lookup(table.keys, ukeys) for table in self._tables()]

    def _occupied(self, rows: list[np.ndarray]) -> np.ndarray:
        out = np.zeros(len(rows[0]), dtype=np.int64)
        for table, idx in zip(self._tables(), rows, strict=True):
            m = idx >= 0
            found = table.take(idx[m])
            out[m] = np.where(self.carved(found), 0, found.hits)
        return out

    def _free(self, keys: np.ndarray, rows: list[np.ndarray], recent: int | None) -> np.ndarray:
        out = np.zeros(len(keys), dtype=np.int64)
        unknown = np.ones(len(keys), dtype=bool)
        for table, idx in zip(self._tables(), rows, strict=True):
            m = idx >= 0
            out[m] = table.free[idx[m]]
            unknown &= ~m
        if unknown.any():
            centres = voxel_centers(keys[unknown], self.voxel_size)
            out[unknown] = self._history_free(centres, recent)
        return out

    def occupied_counts(self, points_world: np.ndarray) -> np.ndarray:
        """(N,) int: scans that hit the voxel of each world point with static points; 0 for
        voxels never hit or carved since (a parked car that left no longer counts)."""
        _, inverse, rows = self._voxels_of(points_world)
        return self._occupied(rows)[inverse]

    def free_counts(self, points_world: np.ndarray, recent: int | None = None) -> np.ndarray:
        """(N,) int: scans that saw through the voxel of each world point. For voxels in the
        map this counts every scan since the history before its first hit; for empty space it
        counts the scans kept in the history (only the last ``recent`` of them if given)."""
        keys, inverse, rows = self._voxels_of(points_world)
        return self._free(keys, rows, recent)[inverse]

    def evidence(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``free_counts`` and ``occupied_counts`` of the same points, finding their voxels once."""
        keys, inverse, rows = self._voxels_of(points_world)
        return self._free(keys, rows, None)[inverse], self._occupied(rows)[inverse]

    def is_static(self, points_world: np.ndarray) -> np.ndarray:
        """(N,) bool: world points inside a voxel the map keeps (hit and not carved)."""
        return self.occupied_counts(points_world) > 0

    def table(self) -> VoxelTable:
        """Live and archived voxels together, sorted by key."""
        return VoxelTable.concat(list(self._tables()))

    def points(self) -> np.ndarray:
        """(M, 3) float64 centroids of every kept voxel (live and archive), world frame."""
        full = self.table()
        return full.centroids()[~self.carved(full)]

    def kept_since(self, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, fresh)``: the sorted keys of every kept voxel (live and archive), and the (M, 3)
        world-frame centroids of those among them not in the sorted keys ``known`` (for example
        the ``keys`` of an earlier call: what the map gained since)."""
        keys, fresh = [], []
        for table in self._tables():
            rows = np.flatnonzero(~self.carved(table))
            kept = table.keys[rows]
            keys.append(kept)
            fresh.append(table.take(rows[lookup(known, kept) < 0]).centroids())
        merged = np.concatenate(keys)
        merged.sort(kind="stable")  # sorted runs: merged, not re-sorted
        return merged, np.concatenate(fresh)

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the map as PLY + JSON sidecar (+ history), atomically; see :mod:`mapping.map_io`."""
        from mapping.map_io import save_map

        return save_map(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StaticMap:
        """Read a map written by :meth:`save`; integrating further scans continues it."""
        from mapping.map_io import load_map

        return load_map(path)
