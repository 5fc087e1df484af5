"""Static map: a voxel map of hits and ray-cast free-space evidence.

Every scan adds free-space evidence to the voxels it sees through (all returns count, moving
ones included: the space in front of a car is still empty) and hits to the voxels holding its
*static* points (points the caller marks dynamic never enter). A voxel that was occupied and
later seen through is carved: it stops counting as map. New voxels are also tested against a
short history of recent scans, so a car that arrives where the road was seen empty is carved
at once. The per-frame work is bounded: voxels farther than ``live_radius`` from the sensor
leave the live tables for a frozen archive (:mod:`mapping.archive`), which the exported map
still contains.

Per-frame cost: the live voxels are split by a hash of their key into a few ``shards``
(MAX_SHARDS, fewer when ``window_check_every`` is smaller), each a sorted live table. New voxels
go into one small sorted ``added`` table; a shard's window check moves its voxels from ``added``
into its live table and its far voxels into the archive. The shards take their
window checks at evenly spaced frames, so every voxel is still checked every
``window_check_every`` frames, but a check rewrites a share of the live map, not all of it (no
frame pays for the whole map at once). The free-space test of every live voxel reads its
centroid as float32 offsets from an anchor near the sensor (moved once the sensor is
``ANCHOR_RADIUS`` away): no float64 work per voxel, and however large the world coordinates,
the offsets stay within a few hundred metres (float32 steps of 0.03 mm at most). A scan's range
image and the live voxels it sees through need no static mask: :meth:`StaticMap.observe` finds
them as soon as the pose is known, and :meth:`StaticMap.commit` adds the scan once the mask is
(:meth:`StaticMap.integrate` does both).

Frames: points passed in are sensor frame; poses are 4x4 world_T_sensor; queries are world
frame. Units are metres.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapping.archive import Archive
from mapping.config import StaticMapConfig
from mapping.errors import ScanError
from mapping.geometry import squared_norms, transform, transform32_columns
from mapping.parallel import map_table_rows, resolve_threads
from mapping.range_image import RangeImage, seen_through_scans
from mapping.scan_voxels import ScanVoxels
from mapping.voxel_keys import group, lookup, point_keys, shard_of, split_by_shard, voxel_centers
from mapping.voxel_table import VoxelTable

log = logging.getLogger(__name__)

ANCHOR_RADIUS = 200.0  # metres the sensor moves before the float32 offsets get a new anchor
# Voxels this close to the live radius are measured in float64 (float32 offsets are good to
# about 0.1 mm within a few hundred metres of the anchor).
BOUNDARY_BAND = 0.01  # metres


# Shards of the voxel tables, at most. More shards make each window check smaller, but each
# costs numpy calls per frame that contend for the GIL with the pipeline's main thread: over
# 100 simulated street frames, 10 shards slowed the offline loop by 10 ms per frame, 4 by 3 ms
# (while its slowest frame fell by 30 ms).
MAX_SHARDS = 4
# Points times history scans up to which the history's free-space test takes them in one pass
# (above it, scan by scan): 2,000 points against 30 scans take 1.8 ms instead of 2.9, 15,000
# take 11.0 instead of 9.6 (simulated street).
HISTORY_BATCH = 300_000


@dataclass
class Observation:
    """One scan as :meth:`StaticMap.observe` saw it, for :meth:`StaticMap.commit`."""

    points: np.ndarray  # (N, 3) float64 sensor frame
    pose: np.ndarray  # 4x4 world_T_sensor
    valid: np.ndarray  # (N,) bool: finite, within range
    image: RangeImage | None  # None: no valid point
    seen: list[np.ndarray]  # per live table (:meth:`StaticMap._live_tables`): the rows the scan sees through, hit or not
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
        # Per shard, its live voxels up to its last window check; those first hit since then are
        # in the added table, those gone beyond the live radius in the archive.
        self.shards = [VoxelTable.empty() for _ in range(min(self.config.window_check_every, MAX_SHARDS))]
        self.added = VoxelTable.empty()
        self.archive = Archive()
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
        seen = self._seen_through(image, np.linalg.inv(pose))
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
        # Free space in the live voxels the scan saw through (except those it hit), a hit in
        # those it hit; its other hits are new voxels.
        live = np.zeros(len(hits), dtype=bool)
        parts = split_by_shard(hits.keys, len(self.shards))
        for shard, through, voxels in zip(self.shards, observation.seen[:-1], parts, strict=True):
            live[voxels] = self._observed(shard, through, hits, voxels)
        rest = np.flatnonzero(~live)  # a voxel is in one live table at most
        live[rest] = self._observed(self.added, observation.seen[-1], hits, rest)
        self._insert(hits, ~live)
        self.history.append((np.linalg.inv(pose), observation.image))
        self.frames += 1
        self._revision += 1
        if sum(len(table) for table in self._live_tables()) > self.config.max_live_voxels:
            self._update_window(range(len(self.shards)))
        else:
            self._update_window(self._due())

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

    def _live_tables(self) -> list[VoxelTable]:
        """Every shard's live table, then the added table."""
        return [*self.shards, self.added]

    def _tables(self) -> list[VoxelTable]:
        return self._live_tables() + self.archive.runs

    def _due(self) -> list[int]:
        """The shards whose window check falls on this frame: shard ``i`` of ``n`` at frame
        offset ``i * window_check_every // n`` (each shard once every window_check_every frames)."""
        every, n = self.config.window_check_every, len(self.shards)
        phase = self.frames % every
        return [i for i in range(n) if i * every // n == phase]

    def _seen_through(self, image: RangeImage, sensor_T_world: np.ndarray) -> list[np.ndarray]:
        """Per live table (:meth:`_live_tables`), the rows that ``image`` (taken from
        ``sensor_T_world``) sees through, ascending."""
        cfg = self.config
        tables = self._live_tables()
        rot = sensor_T_world[:3, :3]
        rot32 = rot.astype(np.float32)
        anchor_local = (rot @ self.anchor + sensor_T_world[:3, 3]).astype(np.float32)[:, None]

        def seen_in(table: int, rows: slice) -> np.ndarray:
            # Nearly every live voxel is within range: testing them all, then the range of the
            # few seen through, is cheaper than gathering the ones in range first.
            local = rot32 @ tables[table].offsets[rows].T  # (3, n) sensor frame, one row per axis
            local += anchor_local
            seen = np.flatnonzero(image.seen_through(local, cfg.range_margin, cfg.range_margin_ratio,
                                                     self._beam_radius()))
            seen = seen[squared_norms(local.take(seen, axis=1).T) < np.float32(self.max_range**2)]
            return seen + rows.start

        parts = map_table_rows(seen_in, [len(table) for table in tables], self.threads)
        return [np.concatenate(rows) if rows else np.zeros(0, dtype=np.intp) for rows in parts]

    def _observed(self, table: VoxelTable, through: np.ndarray, hits: ScanVoxels, voxels: np.ndarray) -> np.ndarray:
        """Add a scan to the live table ``table``: free space in its rows ``through`` (those the
        scan saw through) that the scan did not hit, and a hit in those it hit. The hits are the
        voxels ``voxels`` (ascending indices into ``hits``). Returns (len(voxels),) bool: the
        hits that were in the table."""
        rows = lookup(table.keys, hits.keys.take(voxels))  # -1: not in the table
        old = rows >= 0
        rows = rows.compress(old)  # take and compress: several times faster than fancy indexing
        voxels = voxels.compress(old)
        table.kept_from[rows.compress(self.carved(table, rows))] = self.frames
        hit = np.zeros(len(table), dtype=bool)
        hit[rows] = True
        idx = through.compress(~hit.take(through))
        table.free[idx] += 1
        table.free_since_hit[idx] += 1
        table.hits[rows] += 1
        table.free_since_hit[rows] = 0
        npts = table.npts.take(rows)
        npts += hits.counts.take(voxels)
        voxel_sums = table.sums.take(rows, axis=0)
        voxel_sums += hits.sums.take(voxels, axis=0)
        table.npts[rows] = npts
        table.sums[rows] = voxel_sums
        table.offsets[rows] = self._offsets(voxel_sums, npts)
        return old

    def _insert(self, hits: ScanVoxels, new: np.ndarray) -> None:
        """The voxels of ``hits`` where ``new`` is True (first hit, or back from the archive) join
        the added table, with their history's free evidence or their archived evidence."""
        fresh = VoxelTable.allocate(int(new.sum()))
        if not len(fresh):
            return
        fresh.keys[:] = hits.keys[new]
        fresh.hits[:] = 1
        fresh.npts[:] = hits.counts[new]
        fresh.sums[:] = hits.sums[new]
        fresh.free[:] = self._history_free(fresh.centroids())
        fresh.kept_from[:] = self.frames
        # Voxels that come back into the live window resume their archived evidence.
        for rows, archived in self.archive.take_out(fresh.keys):
            fresh.hits[rows] += archived.hits
            fresh.free[rows] = archived.free
            fresh.kept_from[rows] = np.where(self.carved(archived), self.frames, archived.kept_from)
            fresh.npts[rows] += archived.npts
            fresh.sums[rows] += archived.sums
        fresh.offsets[:] = self._offsets(fresh.sums, fresh.npts)
        self.added = self.added.merged(fresh)

    def _history_free(self, points_world: np.ndarray, recent: int | None = None,
                      enough: int | None = None) -> np.ndarray:
        """Scans in the history (the last ``recent`` if given) that saw through each world point.
        With ``enough`` the count stops at ``enough``: the newest ``enough`` scans are asked
        first, and only about the points they did not all see through are the others asked
        (most points in free space are settled by them)."""
        history = list(self.history)[-recent:] if recent else list(self.history)
        points_world = np.asarray(points_world, dtype=np.float64)
        if enough is None or enough >= len(history):
            return self._scans_seeing_through(history, points_world)
        free = self._scans_seeing_through(history[-enough:], points_world)
        open_rows = np.flatnonzero(free < enough)
        free[open_rows] += self._scans_seeing_through(history[:-enough], points_world.take(open_rows, axis=0))
        np.minimum(free, enough, out=free)
        return free

    def _scans_seeing_through(self, scans: list[tuple[np.ndarray, RangeImage]], points_world: np.ndarray) -> np.ndarray:
        """(N,) int32: how many of ``scans`` saw through each of the (N, 3) world points. A few
        points are tested against all scans in one pass (per scan, the test's dozens of numpy
        calls would cost more than the points); many, scan by scan (the work arrays of one
        pass over all scans would no longer fit in the cache)."""
        cfg = self.config
        test = (cfg.range_margin, cfg.range_margin_ratio, self._beam_radius())
        if len(points_world) * len(scans) > HISTORY_BATCH:
            free = np.zeros(len(points_world), dtype=np.int32)
            for sensor_T_world, image in scans:
                free += image.seen_through(transform32_columns(points_world, sensor_T_world), *test)
            return free
        local = np.empty((3, len(scans), len(points_world)), dtype=np.float32)
        for s, (sensor_T_world, _) in enumerate(scans):
            local[:, s] = transform32_columns(points_world, sensor_T_world)
        seen = seen_through_scans([image for _, image in scans], local, *test)
        return seen.sum(axis=0, dtype=np.int32)

    def _beam_radius(self) -> float | None:
        r = self.config.beam_radius
        return None if r is None else r * self.voxel_size

    def _update_window(self, numbers: Iterable[int]) -> None:
        """Window check of the shards ``numbers``: each one's added voxels join its live table,
        and its voxels beyond live_radius (or, when all of them are checked, over the voxel
        budget) move into the archive. Each live column is gathered once."""
        numbers = list(numbers)
        if not numbers:
            return
        tables = [self.shards[i] for i in numbers] + [self.added]
        far = [self._beyond(table, self.config.live_radius) for table in tables]
        if len(numbers) == len(self.shards) and sum(int((~f).sum()) for f in far) > self.config.max_live_voxels:
            # The nearest max_live_voxels stay; the same rank over all tables as over their union.
            d2 = [table.squared_distances(self.sensor_position) for table in tables]
            order = np.argsort(np.concatenate(d2))[self.config.max_live_voxels:]
            bounds = np.cumsum([0] + [len(table) for table in tables])
            table_of = np.searchsorted(bounds, order, side="right") - 1
            for i, f in enumerate(far):
                f[order[table_of == i] - bounds[i]] = True
        far_added = far[-1]
        shard_of_added = shard_of(self.added.keys, len(self.shards))
        stays = np.ones(len(self.added), dtype=bool)
        for number, far_live in zip(numbers, far[:-1], strict=True):
            live = self.shards[number]
            joins = shard_of_added == number
            stays &= ~joins
            self.archive.add(live.take(far_live).merged(self.added.take(joins & far_added)))
            self.shards[number] = live.merged(self.added.take(joins & ~far_added), keep=~far_live)
        self.added = self.added.take(stays)

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
    def carved(self, table: VoxelTable, rows: np.ndarray | None = None) -> np.ndarray:
        """(M,) bool: voxels of ``table`` (its ``rows`` if given) whose free-space evidence
        outweighs their hits."""
        hits, free, free_since_hit = table.hits, table.free, table.free_since_hit
        if rows is not None:
            hits, free, free_since_hit = hits.take(rows), free.take(rows), free_since_hit.take(rows)
        cfg = self.config
        return ((free_since_hit >= cfg.misses_to_free) & (free_since_hit >= cfg.free_since_hit_ratio * hits)) | (
            (free >= cfg.misses_to_free) & (free >= cfg.free_ratio * hits))

    def _voxels_of(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[VoxelTable, np.ndarray, np.ndarray]]]:
        """The distinct voxels of (N, 3) world points: their keys, each point's voxel (index into
        them), and where they are: per table that holds some, ``(table, voxels, rows)`` (indices
        into the keys, and their rows in the table)."""
        keys = point_keys(np.asarray(points_world, dtype=np.float64).reshape(-1, 3), self.voxel_size)
        ukeys, inverse, _ = group(keys)
        found = []
        places = [(self.added, np.arange(len(ukeys)))]
        places += zip(self.shards, split_by_shard(ukeys, len(self.shards)), strict=True)
        live = np.zeros(len(ukeys), dtype=bool)
        for table, voxels in places:
            rows = lookup(table.keys, ukeys.take(voxels))
            there = rows >= 0
            if there.any():
                found.append((table, voxels[there], rows[there]))
                live[voxels[there]] = True
        rest = np.flatnonzero(~live)  # a voxel is live or archived, not both
        found += [(run, rest.take(voxels), rows) for run, voxels, rows in self.archive.find(ukeys.take(rest))]
        return ukeys, inverse.reshape(-1), found

    def _occupied(self, count: int, found: list[tuple[VoxelTable, np.ndarray, np.ndarray]]) -> np.ndarray:
        out = np.zeros(count, dtype=np.int64)
        for table, voxels, rows in found:
            out[voxels] = np.where(self.carved(table, rows), 0, table.hits.take(rows))
        return out

    def _free(self, keys: np.ndarray, found: list[tuple[VoxelTable, np.ndarray, np.ndarray]], recent: int | None,
              enough: int | None = None) -> np.ndarray:
        out = np.zeros(len(keys), dtype=np.int64)
        unknown = np.ones(len(keys), dtype=bool)
        for table, voxels, rows in found:
            out[voxels] = table.free[rows]
            unknown[voxels] = False
        if unknown.any():
            centres = voxel_centers(keys[unknown], self.voxel_size)
            out[unknown] = self._history_free(centres, recent, enough)
        return out

    def occupied_counts(self, points_world: np.ndarray) -> np.ndarray:
        """(N,) int: scans that hit the voxel of each world point with static points; 0 for
        voxels never hit or carved since (a parked car that left no longer counts)."""
        keys, inverse, found = self._voxels_of(points_world)
        return self._occupied(len(keys), found)[inverse]

    def free_counts(self, points_world: np.ndarray, recent: int | None = None) -> np.ndarray:
        """(N,) int: scans that saw through the voxel of each world point. For voxels in the
        map this counts every scan since the history before its first hit; for empty space it
        counts the scans kept in the history (only the last ``recent`` of them if given)."""
        keys, inverse, found = self._voxels_of(points_world)
        return self._free(keys, found, recent)[inverse]

    def evidence(self, points_world: np.ndarray, free_enough: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``free_counts`` and ``occupied_counts`` of the same points, finding their voxels once.
        With ``free_enough`` the free counts of voxels the map does not hold (never hit, so
        never occupied) stop at that number: for a caller that only asks whether space was seen
        free that often, the history's scans need not all be asked (several times faster)."""
        keys, inverse, found = self._voxels_of(points_world)
        return self._free(keys, found, None, free_enough)[inverse], self._occupied(len(keys), found)[inverse]

    def is_static(self, points_world: np.ndarray) -> np.ndarray:
        """(N,) bool: world points inside a voxel the map keeps (hit and not carved)."""
        return self.occupied_counts(points_world) > 0

    def table(self) -> VoxelTable:
        """Live and archived voxels together, sorted by key."""
        return VoxelTable.concat(self._tables())

    def live_table(self) -> VoxelTable:
        """The live voxels (those the scans update), sorted by key."""
        return VoxelTable.concat(self._live_tables())

    def archive_table(self) -> VoxelTable:
        """The archived voxels (frozen beyond the live window), sorted by key."""
        return self.archive.table()

    def snapshot(self) -> StaticMap:
        """A copy of the map that later scans leave as it is, to read on another thread while
        mapping goes on (for example to publish the whole map). Only the live tables are copied
        (a few milliseconds for a full live window): the archive's runs and the history's range
        images are never changed in place, so the copy shares them."""
        copy = StaticMap.__new__(StaticMap)
        copy.__dict__.update(self.__dict__)
        copy.shards = [table.copy() for table in self.shards]
        copy.added = self.added.copy()
        copy.archive = self.archive.copy()
        copy.history = self.history.copy()
        copy.sensor_position = self.sensor_position.copy()
        copy.anchor = None if self.anchor is None else self.anchor.copy()
        return copy

    def restore(self, live: VoxelTable, archive: VoxelTable) -> None:
        """Replace the voxels by the live and archived voxels of ``live`` and ``archive`` (any
        order; the live ones' offsets are set if the map has an anchor)."""
        self.added = VoxelTable.empty()
        live = live.take(np.argsort(live.keys, kind="stable"))
        self.shards = [live.take(rows) for rows in split_by_shard(live.keys, len(self.shards))]
        self.archive = Archive(archive)
        self._revision += 1
        if self.anchor is not None:
            self.set_anchor(self.anchor)

    def points(self) -> np.ndarray:
        """(M, 3) float64 centroids of every kept voxel (live and archive), world frame, in no
        particular order."""
        return self.kept_since(0)

    def kept_since(self, frame: int) -> np.ndarray:
        """(M, 3) world-frame centroids of the voxels (live and archive) kept since frame number
        ``frame`` or later (``frames`` counts the scans added): new voxels, and voxels a hit made
        kept again after they were carved. Called with the ``frames`` of an earlier call, it
        gives what the map gained since, at the cost of one comparison per voxel."""
        return np.concatenate(list(self.kept_parts(frame)))

    def kept_parts(self, frame: int) -> Iterator[np.ndarray]:
        """:meth:`kept_since` in parts, one voxel table at a time (each a few milliseconds; there
        is always a live one), for work that pauses between them."""
        for table in self._tables():
            rows = np.flatnonzero(table.kept_from >= frame)
            rows = rows.compress(~self.carved(table, rows))
            yield VoxelTable.mean(table.sums.take(rows, axis=0), table.npts.take(rows))

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
