"""The static map's archive: a few sorted runs that a window check adds to without rewriting them all."""

import numpy as np

from mapping import archive as archive_module
from mapping.archive import MERGE_RATIO, Archive
from mapping.voxel_keys import lookup, pack
from mapping.voxel_table import VoxelTable


def _voxels(keys):
    table = VoxelTable.allocate(len(keys))
    table.keys[:] = np.sort(keys)
    table.hits[:] = table.keys % 7
    table.sums[:] = table.keys[:, None] * 0.5
    return table


def test_checks_add_runs_without_rewriting_the_archive(monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_RUN", 10**9)  # no run is full here
    rng = np.random.default_rng(0)
    keys = rng.permutation(200_000)
    archive = Archive()
    archive.add(_voxels(keys[:100_000]))  # what a long drive left behind
    rewrites = 0  # of the largest run
    for lo in range(100_000, 200_000, 2_000):  # fifty window checks of a few thousand voxels
        first = archive.runs[0]
        archive.add(_voxels(keys[lo:lo + 2_000]))
        rewrites += archive.runs[0] is not first
        sizes = [len(run) for run in archive.runs]
        assert all(a > MERGE_RATIO * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    assert rewrites == 1  # once the new runs add up to half of it; a single table: fifty times
    assert len(archive.runs) <= 1 + np.log2(100_000 / 2_000) + 1
    table = archive.table()
    assert np.array_equal(table.keys, np.arange(200_000))
    assert np.array_equal(table.hits, table.keys % 7)
    for run in archive.runs:
        assert np.all(np.diff(run.keys) > 0)


def test_voxels_taken_out_leave_the_archive_with_their_evidence():
    rng = np.random.default_rng(1)
    archive = Archive(_voxels(rng.permutation(5_000)))
    archive.add(_voxels(np.arange(5_000, 6_000)))
    wanted = np.array([5_500, 17, 99_999, 4_999, 5_000])
    found = {}
    for run, rows, at in archive.find(wanted):
        for i, r in zip(rows, at, strict=True):
            found[int(wanted[i])] = int(run.hits[r])
    assert found == {k: k % 7 for k in (5_500, 17, 4_999, 5_000)}
    taken = {int(wanted[i]): (int(v.keys[j]), int(v.hits[j])) for rows, v in archive.take_out(wanted)
             for j, i in enumerate(rows)}
    assert taken == {k: (k, k % 7) for k in (5_500, 17, 4_999, 5_000)}
    assert len(archive) == 6_000 - 4 and not archive.find(wanted)
    assert np.array_equal(Archive(archive.table()).table().keys, archive.table().keys)


def test_full_runs_take_no_merge_and_queries_search_only_the_runs_near_them(monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_RUN", 4_000)
    searched = []
    monkeypatch.setattr(archive_module, "lookup", lambda keys, wanted: searched.append(len(keys)) or lookup(keys, wanted))
    # A drive along x: each window check archives the voxels left 100 voxels behind.
    rng = np.random.default_rng(2)
    index = np.stack([np.repeat(np.arange(400), 100), rng.integers(-50, 50, 40_000), rng.integers(-5, 20, 40_000)], axis=1)
    keys = np.unique(pack(index))
    x = (keys >> 42) - (1 << 20)
    archive = Archive()
    for step in range(0, 400, 4):
        archive.add(_voxels(keys[(x >= step) & (x < step + 4)]))
    sizes = [len(run) for run in archive.runs]
    assert max(sizes) <= 4_000 and len(sizes) >= len(keys) // 4_000
    assert np.array_equal(archive.table().keys, keys)
    searched.clear()
    near = keys[x >= 390]  # where the drive is now, and a voxel at its start
    wanted = np.concatenate([keys[:1], near, pack(np.array([[395, 60, 0]]))])
    found = np.zeros(len(wanted), dtype=bool)
    for run, rows, at in archive.find(wanted):
        assert np.array_equal(run.keys[at], wanted[rows])
        found[rows] = True
    assert found[:-1].all() and not found[-1]
    assert len(searched) <= 4 < len(archive.runs)  # the first run, and the last two or three


def test_queries_in_any_order_find_and_take_out_what_a_search_of_every_run_finds():
    rng = np.random.default_rng(3)
    archive = Archive()
    held = []  # every run's keys, as added
    for _ in range(40):  # runs that overlap, some merged, some not
        keys = np.unique(rng.integers(0, 200_000, int(rng.integers(1, 3_000))))
        keys = keys[~np.isin(keys, np.concatenate(held or [np.empty(0, np.int64)]))]
        archive.add(_voxels(keys))
        held.append(keys)
    stored = np.concatenate(held)
    wanted = rng.permutation(np.concatenate([rng.choice(stored, 5_000, replace=False), rng.integers(0, 250_000, 5_000)]))
    expected = np.flatnonzero(np.isin(wanted, stored))
    answered = np.concatenate([rows for _, rows, _ in archive.find(wanted)])
    assert np.array_equal(np.sort(answered), expected)
    for run, rows, at in archive.find(wanted):
        assert np.array_equal(run.keys[at], wanted[rows]) and np.array_equal(run.hits[at], wanted[rows] % 7)
    taken = archive.take_out(wanted)
    assert np.array_equal(np.sort(np.concatenate([rows for rows, _ in taken])), expected)
    assert all(np.array_equal(voxels.keys, wanted[rows]) for rows, voxels in taken)
    assert np.array_equal(archive.table().keys, np.setdiff1d(stored, wanted))
    assert not archive.find(wanted) and not archive.find(np.empty(0, np.int64))
