"""Static map: carving of what moved or left, dynamic points kept out, save/load continuity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from raycast_scene import street_scans

from mapping import map_io
from mapping.config import StaticMapConfig
from mapping.errors import MapFileError
from mapping.static_map import StaticMap
from mapping.voxel_keys import point_keys, shard_of


@pytest.fixture(scope="module")
def scans():
    return street_scans(frames=30, depart_frame=12)


def _world(scan):
    return scan.points.astype(np.float64) @ scan.pose[:3, :3].T + scan.pose[:3, 3]


EVIDENCE = ("keys", "hits", "free", "free_since_hit", "kept_from", "npts", "sums")  # the columns that make a map


def _assert_same_voxels(a, b):
    ta, tb = a.table(), b.table()
    for name in EVIDENCE:
        assert np.array_equal(getattr(ta, name), getattr(tb, name)), name


def _rows(points):
    """The (N, 3) rows of ``points`` in lexicographic order (``points()`` has no particular order)."""
    return points[np.lexsort(points.T[::-1])]


def test_parked_box_that_leaves_is_carved_and_structure_is_kept(scans):
    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    for i, scan in enumerate(scans):
        smap.integrate(scan.points, scan.pose)
        if i == 11:  # while parked, the box is part of the map
            parked = _world(scan)[scan.labels == 1]
            assert smap.is_static(parked).mean() > 0.9
    assert len(parked) > 100
    assert smap.is_static(parked).mean() < 0.2
    assert smap.occupied_counts(parked).mean() < smap.occupied_counts(_world(scans[5])[scans[5].labels == 0]).mean()
    static = np.concatenate([_world(s)[s.labels == 0] for s in scans])
    assert smap.is_static(static).mean() > 0.98
    moving = np.concatenate([_world(s)[s.labels == 2] for s in scans])
    assert smap.is_static(moving).mean() < 0.2
    # the road where the mover drove has been seen free many times
    assert np.median(smap.free_counts(moving)) >= smap.config.misses_to_free


def test_points_marked_dynamic_never_enter(scans):
    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    for scan in scans[:10]:
        smap.integrate(scan.points, scan.pose, static_mask=scan.labels != 2)
    mover = np.concatenate([_world(s)[s.labels == 2] for s in scans[:10]])
    above_road = mover[mover[:, 2] > -1.2]  # clear of road voxels
    assert len(above_road) > 100
    assert (smap.occupied_counts(above_road) == 0).all()


def test_saved_map_continues_identically(scans, tmp_path):
    a = StaticMap(StaticMapConfig(window_check_every=5, live_radius=20.0), max_range=80.0)
    b = StaticMap(StaticMapConfig(window_check_every=5, live_radius=20.0), max_range=80.0)
    for scan in scans[:13]:  # saved between window checks: voxels added since the last one too
        a.integrate(scan.points, scan.pose)
        b.integrate(scan.points, scan.pose)
    assert len(b.added) > 0
    path = b.save(tmp_path / "map")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["resolution"] == a.voxel_size and meta["frame"] == "world"
    assert not list(tmp_path.glob(".*tmp"))
    c = StaticMap.load(path)
    assert len(c.archive_table()) == len(a.archive_table()) > 0
    assert np.array_equal(c.anchor, a.anchor)
    for scan in scans[13:]:
        a.integrate(scan.points, scan.pose)
        c.integrate(scan.points, scan.pose)
    _assert_same_voxels(a, c)
    assert np.array_equal(_rows(a.points()), _rows(c.points()))
    assert np.array_equal(a.live_table().offsets, c.live_table().offsets)


def _offsets_follow_the_centroids(smap):
    table = smap.live_table()
    assert np.array_equal(table.offsets, (table.centroids() - smap.anchor).astype(np.float32))


def test_offsets_follow_the_centroids_and_a_moving_anchor_changes_no_decision(scans, monkeypatch):
    config = StaticMapConfig(window_check_every=5, live_radius=20.0)
    fixed = StaticMap(config, max_range=80.0)
    for scan in scans:
        fixed.integrate(scan.points, scan.pose)
    _offsets_follow_the_centroids(fixed)
    monkeypatch.setattr("mapping.static_map.ANCHOR_RADIUS", 0.5)  # a new anchor every few frames
    moving = StaticMap(config, max_range=80.0)
    anchors = set()
    for i, scan in enumerate(scans):
        moving.integrate(scan.points, scan.pose)
        anchors.add(tuple(moving.anchor))
        if i % 7 == 3:  # also between window checks, with voxels in the added table
            _offsets_follow_the_centroids(moving)
    assert len(anchors) > 3
    ta, tb = fixed.table(), moving.table()
    assert np.array_equal(ta.keys, tb.keys) and np.array_equal(ta.hits, tb.hits)
    assert np.array_equal(fixed.carved(ta), moving.carved(tb))
    assert (ta.free != tb.free).mean() < 1e-3  # float32 rounding: a free observation here or there


def test_a_map_saved_without_an_anchor_continues(scans, tmp_path):
    a = StaticMap(StaticMapConfig(), max_range=80.0)
    for scan in scans[:10]:
        a.integrate(scan.points, scan.pose)
    path = a.save(tmp_path / "map")
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["anchor"]
    sidecar.write_text(json.dumps(meta))
    c = StaticMap.load(path)
    assert c.anchor is None
    for scan in scans[10:]:
        a.integrate(scan.points, scan.pose)
        c.integrate(scan.points, scan.pose)
    _offsets_follow_the_centroids(c)
    ta, tc = a.table(), c.table()
    assert np.array_equal(ta.keys, tc.keys) and np.array_equal(a.carved(ta), c.carved(tc))


def test_a_map_of_version_1_loads_kept_from_the_first_frame(scans, tmp_path):
    from numpy.lib import recfunctions

    a = StaticMap(StaticMapConfig(), max_range=80.0)
    for scan in scans[:10]:
        a.integrate(scan.points, scan.pose)
    path = a.save(tmp_path / "map")
    header, body = path.read_bytes().split(b"end_header\n", 1)
    rows = recfunctions.drop_fields(np.frombuffer(body, dtype=map_io._DTYPE), "kept_from", usemask=False)
    path.write_bytes(header.replace(b"property int kept_from\n", b"") + b"end_header\n" + rows.tobytes())
    sidecar = path.with_suffix(".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "version": 1}))
    c = StaticMap.load(path)
    ta, tc = a.table(), c.table()
    assert (tc.kept_from == 0).all() and (ta.kept_from > 0).any()
    assert np.array_equal(ta.keys, tc.keys) and np.array_equal(ta.hits, tc.hits)
    assert np.array_equal(_rows(c.kept_since(0)), _rows(a.points()))


def test_loading_a_damaged_map_names_the_file(scans, tmp_path):
    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    smap.integrate(scans[0].points, scans[0].pose)
    path = smap.save(tmp_path / "map.ply")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(MapFileError, match="map.ply"):
        StaticMap.load(path)
    (tmp_path / "map.json").write_text("{not json")
    with pytest.raises(MapFileError, match="map.json"):
        StaticMap.load(path)


def test_live_window_is_bounded_and_archive_is_exported(scans):
    smap = StaticMap(StaticMapConfig(live_radius=15.0, window_check_every=1), max_range=80.0)
    for scan in scans[:10]:
        smap.integrate(scan.points, scan.pose)
    d = np.linalg.norm(smap.live_table().centroids() - scans[9].pose[:3, 3], axis=1)
    assert d.max() <= 15.0 and len(smap.archive_table()) > 0
    assert len(smap.points()) > len(smap.live_table())


def test_shards_take_their_window_checks_in_turn(scans):
    # Four shards, one checked per frame: only its new voxels leave the added table for its live
    # table, and every voxel in a shard's live table lies within the live radius of where the
    # sensor was at one of the last four frames (give or take a voxel: hits after the check move
    # centroids).
    smap = StaticMap(StaticMapConfig(live_radius=15.0, window_check_every=4), max_range=80.0)
    assert len(smap.shards) == 4
    positions = []
    for i, scan in enumerate(scans[:16]):
        smap.integrate(scan.points, scan.pose)
        positions.append(scan.pose[:3, 3])
        if i >= 4:
            assert len(set(shard_of(smap.added.keys, 4).tolist())) == 3
        live = np.concatenate([shard.centroids() for shard in smap.shards])
        d = np.linalg.norm(live[:, None] - np.array(positions[-4:])[None], axis=2)
        assert d.min(axis=1).max() <= 15.0 + smap.voxel_size
    assert len(smap.archive_table()) > 0


def test_shards_change_no_evidence(scans):
    # Nothing beyond the live radius can be seen or hit: one shard or several, the same map.
    one, several = (StaticMap(StaticMapConfig(live_radius=80.0, window_check_every=n), max_range=80.0) for n in (1, 7))
    assert len(one.shards) == 1 and len(several.shards) > 1
    for scan in scans:
        for smap in (one, several):
            smap.integrate(scan.points, scan.pose, static_mask=scan.labels != 2)
    _assert_same_voxels(one, several)
    probe = np.concatenate([_world(s) for s in scans[::5]])
    for a, b in zip(one.evidence(probe), several.evidence(probe), strict=True):
        assert np.array_equal(a, b)
    assert min(len(shard) for shard in several.shards) > 0.5 * len(several.live_table()) / len(several.shards)


def test_voxel_budget_keeps_the_nearest_voxels_of_every_shard(scans):
    # Over the budget every frame checks the window of every shard: the live voxels and the
    # scan's new ones (the added tables) are ranked together by distance to the sensor.
    smap = StaticMap(StaticMapConfig(max_live_voxels=1000), max_range=80.0)
    for i, scan in enumerate(scans[:6]):
        known = smap.archive_table().keys
        smap.integrate(scan.points, scan.pose)
        live, archive = smap.live_table(), smap.archive_table()
        assert len(live) == 1000 and len(smap.added) == 0
        for table in smap.shards + smap.archive.runs:
            assert np.all(np.diff(table.keys) > 0)
        if i == 0:
            continue
        here = scan.pose[:3, 3]
        moved = archive.take(np.isin(archive.keys, known, invert=True))
        kept = np.linalg.norm(live.centroids() - here, axis=1)
        assert len(moved) > 0 and kept.max() <= np.linalg.norm(moved.centroids() - here, axis=1).min()


def test_kept_since_gives_what_the_map_gained(scans):
    """``kept_since(mark)``: the voxels kept now that, at some frame since ``mark``, were not
    (new, or carved then hit again)."""
    smap = StaticMap(StaticMapConfig(live_radius=15.0, window_check_every=1), max_range=80.0)
    for scan in scans[:5]:
        smap.integrate(scan.points, scan.pose)
    assert np.array_equal(_rows(smap.kept_since(0)), _rows(smap.points()))
    mark = smap.frames

    def kept_keys():
        table = smap.table()
        return table.keys[~smap.carved(table)]

    kept_before = []
    for scan in scans[5:20]:  # the box leaves (carved voxels) and voxels move to the archive
        kept_before.append(kept_keys())
        smap.integrate(scan.points, scan.pose)
    table = smap.table()
    kept = ~smap.carved(table)
    always = np.logical_and.reduce([np.isin(table.keys, keys) for keys in kept_before])
    expected = table.centroids()[kept & ~always]
    gained = smap.kept_since(mark)
    assert len(smap.archive_table()) > 0 and 0 < len(gained) < kept.sum()
    assert np.array_equal(_rows(gained), _rows(expected))
    assert np.isin(table.keys[kept & ~always], kept_before[0]).any()  # kept at the mark, carved, hit again
    assert len(smap.kept_since(smap.frames)) == 0


def test_a_snapshot_stays_as_the_map_was(scans):
    smap = StaticMap(StaticMapConfig(live_radius=15.0, window_check_every=2), max_range=80.0)
    for scan in scans[:8]:
        smap.integrate(scan.points, scan.pose)
    then, points = smap.table(), smap.points()
    snapshot = smap.snapshot()
    for scan in scans[8:20]:  # the box leaves, window checks archive voxels and merge runs
        smap.integrate(scan.points, scan.pose)
    assert len(smap) != len(then)
    for name in EVIDENCE:
        assert np.array_equal(getattr(snapshot.table(), name), getattr(then, name)), name
    assert np.array_equal(_rows(snapshot.points()), _rows(points))


def test_static_map_answers_the_perception_map_query(scans):
    from perception.map_query import MapQuery

    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    smap.integrate(scans[0].points, scans[0].pose)
    assert isinstance(smap, MapQuery)
    pts = _world(scans[0])[:50]
    assert smap.free_counts(pts).shape == smap.occupied_counts(pts).shape == (50,)


def test_evidence_with_enough_free_stops_counting_only_in_space_the_map_does_not_hold(scans):
    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    for scan in scans:
        smap.integrate(scan.points, scan.pose, scan.labels != 2)
    # the moving box's points (never held: free space for most of the scans) and the structure
    moving = np.concatenate([_world(s)[s.labels == 2] for s in scans[-5:]])
    static = _world(scans[-1])[scans[-1].labels == 0]
    points = np.concatenate([moving, static])
    free, occupied = smap.evidence(points)
    capped_free, capped_occupied = smap.evidence(points, free_enough=2)
    assert np.array_equal(occupied, capped_occupied)
    held = np.isin(point_keys(points, smap.voxel_size), smap.table().keys)
    assert held.any() and not held.all()
    assert np.array_equal(capped_free[held], free[held])
    assert np.array_equal(capped_free[~held], np.minimum(free[~held], 2))
    assert (free[~held] > 2).mean() > 0.5  # the cap does cut counts short there


def test_simulated_car_that_pulls_out_is_carved_from_the_map():
    sim = pytest.importorskip("s2mat.sim", reason="the simulator is not available")
    frames = list(sim.simulate("parked-departure", sensor="hdl64", frames=40, seed=0, camera=False,
                               columns=1024))
    smap = StaticMap(StaticMapConfig(), max_range=100.0)
    for f in frames:
        smap.integrate(f.points, f.ground_truth.pose)

    def world(f, mask):
        return f.points[mask].astype(np.float64) @ f.ground_truth.pose[:3, :3].T + f.ground_truth.pose[:3, 3]

    # the departing car: standing in the first second, moving in the last frames
    gts = [f.ground_truth for f in frames]
    early = [f for f in frames if f.timestamp < 1.0]
    standing = set(np.concatenate([f.ground_truth.instance[~f.ground_truth.moving] for f in early]).tolist())
    leaving = set(np.concatenate([g.instance[g.moving] for g in gts[-10:]]).tolist())
    departed = (standing & leaving) - {0}
    assert len(departed) == 1
    car = departed.pop()
    parked_points = np.concatenate([world(f, f.ground_truth.instance == car) for f in early])
    assert len(parked_points) > 500
    assert smap.is_static(parked_points).mean() < 0.1
    structure = np.concatenate([world(f, f.ground_truth.instance == 0) for f in frames[::4]])
    assert smap.is_static(structure).mean() > 0.98


def test_thread_count_does_not_change_the_map(scans):
    # The ROS graph picks the free-space tests' thread count from the machine; the map must not
    # depend on it.
    maps = [StaticMap(StaticMapConfig(num_threads=n), max_range=80.0) for n in (1, 3)]
    for scan in scans:
        for smap in maps:
            smap.integrate(scan.points, scan.pose, scan.labels != 2)
    assert len(maps[0]) >= 3 * 20_000  # enough voxels that the carve is split over three threads
    _assert_same_voxels(*maps)
    probe = np.concatenate([_world(s) for s in scans[::10]]) + 0.37  # voxels seen, missed and new
    for query in ("free_counts", "occupied_counts"):
        np.testing.assert_array_equal(getattr(maps[0], query)(probe), getattr(maps[1], query)(probe), err_msg=query)


def _state(smap):
    table = smap.table()
    return [getattr(table, name).copy() for name in EVIDENCE]


def test_observing_a_scan_changes_no_voxel_and_a_stale_observation_is_refused(scans):
    smap = StaticMap(StaticMapConfig(), max_range=80.0)
    for scan in scans[:5]:
        smap.integrate(scan.points, scan.pose)
    before = _state(smap)
    early = smap.observe(scans[5].points, scans[5].pose)
    assert sum(len(rows) for rows in early.seen) > 100  # the scan sees through live voxels
    for got, want in zip(_state(smap), before, strict=True):
        np.testing.assert_array_equal(got, want)
    smap.integrate(scans[6].points, scans[6].pose)  # the map changes after the look
    with pytest.raises(ValueError, match="earlier state"):
        smap.commit(early, scans[5].labels != 2)
