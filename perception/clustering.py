"""Clustering of non-ground points by 3D voxel connectivity, optionally guided by predicted boxes.

Points are binned into cubic voxels on a dense grid around the sensor; occupied voxels that
touch (26-neighbourhood) form one cluster, found as connected components of a sparse graph.
Predicted object boxes (from the tracker) can then re-draw the cluster borders: a cluster
mostly inside one predicted box joins it whole (so a car seen in two pieces stays one), and
the parts of a cluster inside two different boxes are split between them (so two walkers
side by side stay two). Everything is in the sensor frame, metres.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from perception.config import ClusteringConfig
from perception.types import Box3D, box_arrays, boxes_contain

# Half of the 26-neighbourhood: the other half is the same edges seen from the far voxel.
_HALF_NEIGHBOURS = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)
                             if (dx, dy, dz) > (0, 0, 0)])


@dataclass(frozen=True)
class Clusters:
    """Clusters of one scan.

    ``labels`` gives every input point its cluster (0..count-1) or -1 (ground, out of the
    clustered volume, or in a cluster smaller than ``min_points``). The voxel arrays hold one
    row per occupied connectivity voxel of a kept cluster: point centroid (sensor frame) and
    cluster, grouped by cluster; they are a light stand-in for the points when testing against
    maps or fitting.
    """

    labels: np.ndarray  # (N,) int32
    count: int
    point_counts: np.ndarray  # (count,) points per cluster
    voxel_centroids: np.ndarray  # (V, 3) float64
    voxel_labels: np.ndarray  # (V,) int32
    voxel_counts: np.ndarray  # (V,) points per voxel
    voxel_starts: np.ndarray  # (count,) first voxel of each cluster (voxels are grouped by cluster)
    members: np.ndarray  # (M,) indices of the clustered points, grouped by cluster
    starts: np.ndarray  # (count,) first row of each cluster in ``members``

    def indices(self) -> list[np.ndarray]:
        """Point indices of every cluster, in cluster order."""
        ends = np.append(self.starts[1:], len(self.members))
        return [self.members[a:b] for a, b in zip(self.starts.tolist(), ends.tolist(), strict=True)]

    def cluster_indices(self, cluster: int) -> np.ndarray:
        """Point indices of one cluster."""
        end = self.starts[cluster + 1] if cluster + 1 < self.count else len(self.members)
        return self.members[self.starts[cluster]:end]

    def cluster_voxels(self, cluster: int) -> np.ndarray:
        """(V, 3) centroids of one cluster's connectivity voxels."""
        end = self.voxel_starts[cluster + 1] if cluster + 1 < self.count else len(self.voxel_labels)
        return self.voxel_centroids[self.voxel_starts[cluster]:end]


FACE_MAX_HEIGHT = 1.2  # metres; the two faces of a car seen end-on are each at most this tall
FACE_WIDTH_RATIO = 0.5  # the farther face is at least this share of the nearer one's width


_BUFFERS = threading.local()


def _dense_buffers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """An all-False bool grid and an int32 grid of ``size`` cells, kept per thread from scan
    to scan (fresh pages cost more than the work on them). The caller must leave the bool
    grid all False again."""
    cached = getattr(_BUFFERS, "grids", None)
    if cached is None or cached[0].size != size:
        cached = (np.zeros(size, dtype=bool), np.empty(size, dtype=np.int32))
        _BUFFERS.grids = cached
    return cached


def run_starts(counts: np.ndarray) -> np.ndarray:
    """(K,) int64 first index of each of K consecutive runs of the given lengths (empty for none)."""
    return np.r_[0, np.cumsum(counts)][:-1].astype(np.int64)


def run_indices(starts: np.ndarray | int, lengths: np.ndarray) -> np.ndarray:
    """(sum(lengths),) int64: ``arange(start, start + length)`` of each run, concatenated
    (``starts`` 0: each element's position within its run)."""
    lengths = np.asarray(lengths)
    return np.repeat(np.asarray(starts) - run_starts(lengths), lengths) + np.arange(int(lengths.sum()))


def _first_min_per_run(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row of the smallest of ``values`` in each run of equal ``groups`` (non-empty, sorted so
    that equal groups are adjacent), the first such row on ties."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    lowest = values == np.repeat(np.minimum.reduceat(values, starts), np.diff(np.append(starts, len(values))))
    pick = np.flatnonzero(lowest)
    return pick[np.r_[True, groups[pick][1:] != groups[pick][:-1]]]


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of non-negative integer ``keys``, by a radix sort on
    16-bit digits (least significant first; numpy sorts 16-bit keys by radix, far faster than
    its comparison sorts of wider ones)."""
    keys = np.asarray(keys)
    if keys.dtype.kind not in "iu" or not len(keys) or int(keys.min()) < 0 or int(keys.max()) >= 1 << 62:
        return np.argsort(keys, kind="stable")
    top = int(keys.max())
    order = None
    shift = 0
    while True:
        # The last digit in 8 bits when it fits (fewer radix passes).
        narrow = np.uint8 if top >> shift < 1 << 8 else np.uint16
        digit = ((keys >> shift) & 0xFFFF).astype(narrow) if shift or top >= 1 << 16 else keys.astype(narrow)
        if order is None:
            order = np.argsort(digit, kind="stable")
        else:
            order = order[np.argsort(digit[order], kind="stable")]
        shift += 16
        if top >> shift == 0:
            return order


def _grid_shape(config: ClusteringConfig) -> tuple[int, int, int]:
    n_xy = int(np.ceil(2 * config.max_range / config.voxel_size)) + 3
    n_z = int(np.ceil((config.max_z - config.min_z) / config.voxel_size)) + 3
    return n_xy, n_xy, n_z


def cluster_points(points: np.ndarray, ground_mask: np.ndarray | None, config: ClusteringConfig | None = None,
                   hints: list[Box3D] | None = None) -> Clusters:
    """Cluster the non-ground points of an (N, 3) sensor-frame scan.

    ``hints`` are predicted object boxes in the sensor frame; see the module docstring.
    """
    config = config or ClusteringConfig()
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    n = len(pts)
    vs = config.voxel_size
    x = np.ascontiguousarray(pts[:, 0], dtype=np.float32)
    y = np.ascontiguousarray(pts[:, 1], dtype=np.float32)
    z = np.ascontiguousarray(pts[:, 2], dtype=np.float32)
    reach = np.float32(config.max_range - vs)  # keep one padding voxel on every side of the grid
    cand = np.abs(x) < reach
    cand &= np.abs(y) < reach
    cand &= z >= np.float32(config.min_z)
    cand &= z < np.float32(config.max_z)
    if ground_mask is not None:
        cand &= ~np.asarray(ground_mask, dtype=bool)
    idx = np.flatnonzero(cand)
    px, py, pz = np.take(x, idx), np.take(y, idx), np.take(z, idx)

    nx, ny, nz = _grid_shape(config)
    inv = np.float32(1.0 / vs)
    ix = ((px + np.float32(config.max_range)) * inv).astype(np.int32)
    iy = ((py + np.float32(config.max_range)) * inv).astype(np.int32)
    iz = ((pz - np.float32(config.min_z)) * inv).astype(np.int32) + 1
    flat = (ix * ny + iy) * nz + iz
    occupied, lookup = _dense_buffers(nx * ny * nz)  # lookup is only read where occupied
    occupied[flat] = True
    vox = None
    try:
        vox = np.flatnonzero(occupied).astype(np.int32)
        n_vox = len(vox)
        lookup[vox] = np.arange(n_vox, dtype=np.int32)
        point_vox = np.take(lookup, flat)

        # Connected components of the voxel adjacency graph, built directly in the compressed
        # sparse row form (one row per voxel: its occupied half-neighbours) with the float64
        # weights scipy works on, which spares it two conversions.
        steps = (_HALF_NEIGHBOURS * np.array([ny * nz, nz, 1])).sum(axis=1).astype(np.int32)
        nb = vox[:, None] + steps  # (V, 13) neighbour cells
        hit = np.take(occupied, nb)
        neighbours = np.take(lookup, nb[hit])
    finally:
        occupied[flat if vox is None else vox] = False  # the distinct cells: fewer writes
    indptr = np.zeros(n_vox + 1, dtype=np.int32)
    np.cumsum(np.count_nonzero(hit, axis=1), out=indptr[1:])
    graph = csr_matrix((np.ones(len(neighbours)), neighbours, indptr), shape=(n_vox, n_vox))
    _, vlabel = connected_components(graph, directed=False)
    vlabel = vlabel.astype(np.int32)

    counts_v = np.bincount(point_vox, minlength=n_vox)
    inv_count = 1.0 / np.maximum(counts_v, 1)
    centroids = np.stack([np.bincount(point_vox, v, n_vox) * inv_count for v in (px, py, pz)], axis=1)

    if config.merge_gap > 0:
        vlabel = _merge_faces(centroids, vlabel, config)
    if hints and n_vox:
        vlabel = _apply_hints(centroids, vlabel, counts_v, hints, config)

    # Keep clusters with enough points; number them compactly.
    n_raw = int(vlabel.max()) + 1 if n_vox else 0
    pcount = np.bincount(vlabel, counts_v, n_raw).astype(np.int64)
    keep = pcount >= config.min_points
    compact = np.full(n_raw, -1, dtype=np.int32)
    compact[keep] = np.arange(int(keep.sum()), dtype=np.int32)
    vlab = np.take(compact, vlabel)
    count = int(keep.sum())
    labels = np.full(n, -1, dtype=np.int32)
    point_label = np.take(vlab, point_vox)
    labels[idx] = point_label
    clustered = point_label >= 0
    return clusters_from_labels(labels, count, vlab, centroids, counts_v, clustered=np.compress(clustered, idx),
                                point_counts=pcount[keep])


def _merge_faces(centroids: np.ndarray, vlabel: np.ndarray, config: ClusteringConfig) -> np.ndarray:
    """Join the two faces of a vehicle seen end-on (voxel level).

    Seen from ahead or behind, a car shows a low face (bumper, grille) and, farther along the
    same beams, a taller one (windscreen, cabin); the hood or boot lid between them is nearly
    parallel to the beams and returns too few points to connect them. Two components are
    joined when each is at most ``FACE_MAX_HEIGHT`` tall, they cover the same azimuths, the farther
    one is at least ``FACE_WIDTH_RATIO`` times as wide across the beams, starts at most ``merge_gap``
    behind the nearer one, reaches at least ``merge_rise`` higher and starts higher, and
    the pair fits in ``merge_max_length`` along the beams.
    """
    n_raw = int(vlabel.max()) + 1 if len(vlabel) else 0
    if n_raw < 2:
        return vlabel
    order = stable_argsort(vlabel)
    lab = np.take(vlabel, order)
    change = np.empty(len(lab), dtype=bool)
    change[0] = True
    np.not_equal(lab[1:], lab[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    c = np.take(centroids, order, axis=0)
    rng = np.hypot(c[:, 0], c[:, 1])
    # Azimuth relative to each component's mean direction (no wrap-around inside a component).
    mean_dir = np.add.reduceat(c[:, :2], starts, axis=0)
    ref = np.arctan2(mean_dir[:, 1], mean_dir[:, 0])
    run = np.diff(np.append(starts, len(lab)))
    rel = (np.arctan2(c[:, 1], c[:, 0]) - np.repeat(ref, run) + np.pi) % (2 * np.pi) - np.pi
    half = 0.5 * config.voxel_size
    r_lo = np.minimum.reduceat(rng, starts) - half
    r_hi = np.maximum.reduceat(rng, starts) + half
    z_lo = np.minimum.reduceat(c[:, 2], starts)
    z_hi = np.maximum.reduceat(c[:, 2], starts)
    pad = half / np.maximum(np.maximum.reduceat(rng, starts), 1.0)
    a_lo = np.minimum.reduceat(rel, starts) + ref - pad
    a_hi = np.maximum.reduceat(rel, starts) + ref + pad
    # Only components small enough to be one face of a vehicle take part.
    small = np.flatnonzero((r_hi - r_lo <= config.merge_max_length) & (run >= 2) & (z_hi - z_lo <= FACE_MAX_HEIGHT))
    if len(small) < 2:
        return vlabel
    # Candidate pairs: the pair test below needs their nearest ranges within
    # merge_max_length (a hair more here for rounding); each pair once, as (i, j) with i
    # before j in ``small``.
    by_range = np.argsort(r_lo[small], kind="stable")
    near_range = r_lo[small][by_range]
    reach = np.searchsorted(near_range, near_range + (config.merge_max_length + 1e-6), side="right")
    per = np.maximum(reach - np.arange(len(small)) - 1, 0)
    p = np.repeat(np.arange(len(small)), per)
    q = run_indices(np.arange(1, len(small) + 1), per)
    p, q = by_range[p], by_range[q]
    i, j = small[np.minimum(p, q)], small[np.maximum(p, q)]
    near_first = r_lo[i] <= r_lo[j]
    a, b = np.where(near_first, i, j), np.where(near_first, j, i)  # a nearer, b farther
    da = (a_lo[b] - ref[a] + np.pi) % (2 * np.pi) - np.pi + ref[a]  # b's interval near a's angles
    db = da + (a_hi[b] - a_lo[b])
    overlap = np.minimum(a_hi[a], db) - np.maximum(a_lo[a], da)
    narrow = np.minimum(a_hi[a] - a_lo[a], a_hi[b] - a_lo[b])
    ok = overlap >= 0.5 * narrow
    ok &= (r_lo[b] - r_hi[a] <= config.merge_gap) & (r_hi[b] - r_lo[a] <= config.merge_max_length)
    ok &= (z_hi[b] >= z_hi[a] + config.merge_rise) & (z_lo[b] > z_lo[a])
    # The farther face (rear window, roof) spans most of the nearer one's width across the
    # beams; what shows of a walker standing behind a car's end spans a third of it or less.
    ok &= (a_hi[b] - a_lo[b]) * r_lo[b] >= FACE_WIDTH_RATIO * (a_hi[a] - a_lo[a]) * r_lo[a]
    if not ok.any():
        return vlabel
    first = np.take(lab, starts)
    joined = _components(n_raw, np.take(first, a[ok]), np.take(first, b[ok]))
    return np.take(joined, vlabel).astype(np.int32)


def _components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected components of the undirected graph of ``n`` nodes and edges ``src``-``dst``,
    numbered in the order of their smallest node (as scipy's ``connected_components``).

    For the few edges between clusters: every node points to a smaller node of its
    component; each round hooks the larger root of every edge whose ends still differ to
    the smaller one, then shortens all paths to their roots.
    """
    parent = np.arange(n)
    u, v = np.asarray(src, dtype=np.intp), np.asarray(dst, dtype=np.intp)
    while len(u):
        pu, pv = np.take(parent, u), np.take(parent, v)
        differ = pu != pv
        u, v, pu, pv = u[differ], v[differ], pu[differ], pv[differ]
        if not len(u):
            break
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        while True:
            jumped = np.take(parent, parent)
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return (np.cumsum(parent == np.arange(n)) - 1)[parent]


def _apply_hints(centroids: np.ndarray, vlabel: np.ndarray, counts: np.ndarray, hints: list[Box3D],
                 config: ClusteringConfig) -> np.ndarray:
    """Re-draw cluster borders with predicted boxes (voxel level, see module docstring).

    Hint group ``g`` (hints holding each other's centres) becomes cluster ``n_raw + g``.
    """
    n_raw = int(vlabel.max()) + 1
    # Predicted boxes that hold each other's centres are one object predicted twice (two
    # tracks on one car): they act as one hint, so the object is not cut between them.
    boxes = box_arrays(hints)
    centres_3d = boxes[0]
    holds = boxes_contain(boxes, centres_3d[None], 0.0)  # (hint, centre)
    np.fill_diagonal(holds, False)
    src, dst = np.nonzero(holds)
    group = _components(len(hints), src, dst)
    n_hint = int(group.max()) + 1
    # Voxel -> the hint box containing it whose centre is nearest (the first such hint on
    # ties), or -1. Candidate (hint, voxel) pairs come from a square around each box (its
    # half diagonal, a hair wider for rounding) on the voxels sorted by x.
    n_vox = len(centroids)
    cx = np.ascontiguousarray(centroids[:, 0])
    by_x = np.argsort(cx, kind="stable")
    sorted_x = cx[by_x]
    half = boxes[3] / 2.0 + config.hint_margin
    reach = np.hypot(half[:, 0], half[:, 1]) * (1 + 1e-9) + 1e-9
    lo = np.searchsorted(sorted_x, centres_3d[:, 0] - reach, side="left")
    hi = np.searchsorted(sorted_x, centres_3d[:, 0] + reach, side="right")
    run = np.maximum(hi - lo, 0)
    pair_hint = np.repeat(np.arange(len(hints)), run)
    vox = by_x[run_indices(lo, run)]
    near = np.abs(centroids[vox, 1] - centres_3d[pair_hint, 1]) <= reach[pair_hint]
    pair_hint, vox = pair_hint[near], vox[near]
    inside = boxes_contain(boxes, centroids[vox], config.hint_margin, pair_hint)
    pair_hint, vox = pair_hint[inside], vox[inside]
    owner = np.full(n_vox, -1, dtype=np.int64)
    if len(vox):
        d = np.sum((centroids[vox, :2] - centres_3d[pair_hint, :2]) ** 2, axis=1)
        # Per voxel (pairs grouped by voxel, hints in order within): the nearest centre,
        # the first hint on ties.
        order = stable_argsort(vox)
        vox, pair_hint, d = vox[order], pair_hint[order], d[order]
        nearest = _first_min_per_run(vox, d)
        owner[vox[nearest]] = group[pair_hint[nearest]]
    claimed = owner >= 0
    if not claimed.any():
        return vlabel
    # Points of each raw cluster inside each hint (whole counts: any order sums them
    # exactly), and in total.
    table = np.bincount(vlabel[claimed] * n_hint + owner[claimed], counts[claimed],
                        n_raw * n_hint).reshape(n_raw, n_hint)
    total = np.bincount(vlabel, counts, n_raw)
    inside_share = table.sum(axis=1) / np.maximum(total, 1)
    # Clusters mostly inside hints follow them whole: each free voxel joins the nearest
    # hint among those the cluster touches; clusters mostly outside give up only the
    # voxels inside a hint (a walker next to a wall).
    out = vlabel.copy()
    out[claimed] = n_raw + owner[claimed]
    whole = inside_share >= config.hint_majority
    free = ~claimed & whole[vlabel]
    if free.any():
        fidx = np.flatnonzero(free)
        # The (free voxel, hint) pairs whose hint the voxel's cluster touches, by voxel then
        # hint; per voxel the nearest such hint centre, the first on ties.
        row, hint = np.nonzero(table[vlabel[fidx]][:, group] > 0)
        d = np.sum((centroids[fidx[row], :2] - centres_3d[hint, :2]) ** 2, axis=1)
        pick = _first_min_per_run(row, d)
        out[fidx[row[pick]]] = n_raw + group[hint[pick]]
    # Compact numbering (as np.unique's inverse) so that empty labels cost nothing downstream.
    present = np.zeros(n_raw + n_hint, dtype=bool)
    present[out] = True
    return (np.cumsum(present) - 1)[out].astype(np.int32)


# Walkers side by side touch at 0.4 m voxels; their upper bodies (above WALKER_CHEST over the
# ground) stand apart. Clusters of a walker's height and at most a small group's footprint are
# split between the separate upper bodies found on a fine grid.
WALKER_CHEST = 1.2  # metres above the ground (above a bicycle's handlebar)
WALKER_TOP = (1.1, 2.1)  # metres above the ground: the top voxel centroid of a walker's cluster
WALKER_GROUP_EXTENT = (0.8, 3.5)  # metres: horizontal extent of the voxel centroids of a group
WALKER_FEET = 0.5  # metres: the lowest voxel centroid of a group is at most this high
WALKER_CELL = 0.15  # metres: grid of the upper-body test
WALKER_MIN_POINTS = 8  # points of one upper body
WALKER_PAIR_SPAN = 0.6  # metres: the upper bodies of two walkers span at least this much
WALKER_BODY = 0.9  # metres: widest upper body; a wider blob (a car's roof) keeps the cluster whole
_HALF_NEIGHBOURS_2D = np.array([(1, 0), (0, 1), (1, 1), (1, -1)])
DENSE_CELLS = 1 << 16  # grid_pieces marks its cells on a dense grid of at most this many cells


def grid_pieces(xy: np.ndarray, cell: float, owner: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of (M, 2) positions whose cells of a ``cell`` metre grid touch (side or corner),
    separately per ``owner`` (M,) if given: (M,) the piece of each position, numbered in the
    order of the pieces' first cells, and (M,) its cell (an index into the occupied cells,
    ordered by owner, then x, then y)."""
    grid = np.floor(np.asarray(xy, dtype=np.float64) / cell).astype(np.int64)
    if owner is None:
        grid -= grid.min(axis=0) - 1  # room for a neighbour on either side
    else:  # each owner's cells from its own corner, in a block of its own
        owner = np.asarray(owner, dtype=np.int64)
        corner = np.full((int(owner.max()) + 1, 2), np.iinfo(np.int64).max)
        np.minimum.at(corner, owner, grid)
        grid -= corner[owner] - 1
    span = int(grid.max()) + 2
    key = grid[:, 0] * span + grid[:, 1]
    size = span * span
    if owner is not None:
        key += owner * size
        size *= len(corner)
    # The occupied cells in key order: on a dense grid when it is small (one flag per cell),
    # else by sorting the keys.
    dense = size <= DENSE_CELLS
    if dense:
        occupied = np.zeros(size, dtype=bool)
        occupied[key] = True
        cells = np.flatnonzero(occupied)
        rank = np.cumsum(occupied) - 1
        point_cell = rank[key]
    else:
        cells, point_cell = np.unique(key, return_inverse=True)
    src, dst = [], []
    for dx, dy in _HALF_NEIGHBOURS_2D:  # each touching pair of cells once
        nb = cells + dx * span + dy
        if dense:
            hit = np.flatnonzero(occupied[nb])
            at = rank[nb[hit]]
        else:
            at = np.clip(np.searchsorted(cells, nb), 0, len(cells) - 1)
            hit = np.flatnonzero(cells[at] == nb)
            at = at[hit]
        src.append(hit)
        dst.append(at)
    return _components(len(cells), np.concatenate(src), np.concatenate(dst))[point_cell], point_cell


def split_walkers(points: np.ndarray, clusters: Clusters, ground_height: np.ndarray) -> Clusters:
    """``clusters`` with groups of walkers split into one cluster per walker (sensor frame).

    ``ground_height`` is the ground's height (sensor-frame z) under each cluster. A candidate
    cluster (see the WALKER_* constants) whose points above WALKER_CHEST form two or more
    separate blobs of WALKER_MIN_POINTS on a WALKER_CELL grid (8-neighbourhood), none wider
    than WALKER_BODY, is split: each point, and each connectivity voxel, goes to the blob nearest in the plane. Other
    clusters keep their numbers; the new ones are numbered after them.
    """
    k = clusters.count
    if k == 0:
        return clusters
    vc, vs = clusters.voxel_centroids, clusters.voxel_starts
    lo = np.minimum.reduceat(vc, vs, axis=0)
    hi = np.maximum.reduceat(vc, vs, axis=0)
    top = hi[:, 2] - ground_height
    extent = np.max(hi[:, :2] - lo[:, :2], axis=1)
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero((top >= WALKER_TOP[0]) & (top <= WALKER_TOP[1]) & (extent >= WALKER_GROUP_EXTENT[0])
                              & (extent <= WALKER_GROUP_EXTENT[1]) & (lo[:, 2] - ground_height <= WALKER_FEET))
    if not len(cand):
        return clusters
    pts = np.asarray(points)
    ends = np.append(clusters.starts[1:], len(clusters.members))
    run = ends[cand] - clusters.starts[cand]
    first = np.cumsum(run) - run
    rows = run_indices(clusters.starts[cand], run)
    idx = clusters.members[rows]
    owner = np.repeat(np.arange(len(cand)), run)
    xyz = pts[idx].astype(np.float64)
    upper = xyz[:, 2] >= np.repeat(ground_height[cand] + WALKER_CHEST, run)
    # Two upper bodies side by side span more than one: skip clusters whose upper part is narrow.
    span_xy = np.zeros(len(cand))
    for axis in (0, 1):
        v = xyz[:, axis]
        span_xy = np.maximum(span_xy, np.maximum.reduceat(np.where(upper, v, -np.inf), first)
                             - np.minimum.reduceat(np.where(upper, v, np.inf), first))
    wide_enough = (np.add.reduceat(upper, first) >= 2 * WALKER_MIN_POINTS) & (span_xy >= WALKER_PAIR_SPAN)
    upper &= wide_enough[owner]
    if upper.sum() < 2 * WALKER_MIN_POINTS:
        return clusters
    # Blobs of upper-body points: connected cells of a fine grid, per candidate cluster.
    ux, uo = xyz[upper, :2], owner[upper]
    blob = grid_pieces(ux, WALKER_CELL, uo)[0]
    n_blob = int(blob.max()) + 1
    size = np.bincount(blob, minlength=n_blob)
    big = size >= WALKER_MIN_POINTS
    blob_owner = np.zeros(n_blob, np.int64)
    blob_owner[blob] = uo
    centre = np.stack([np.bincount(blob, ux[:, i], n_blob) for i in range(2)], axis=1) / np.maximum(size, 1)[:, None]
    seeds = np.flatnonzero(big)
    low = np.full((n_blob, 2), np.inf)
    high = np.full((n_blob, 2), -np.inf)
    np.minimum.at(low, blob, ux)
    np.maximum.at(high, blob, ux)
    wide = np.bincount(blob_owner[seeds], np.max(high[seeds] - low[seeds], axis=1) > WALKER_BODY, len(cand)) > 0
    per = np.bincount(blob_owner[seeds], minlength=len(cand))
    split = (per >= 2) & ~wide
    if not split.any():
        return clusters
    seeds = seeds[split[blob_owner[seeds]]]
    seed_owner = blob_owner[seeds]  # ascending in candidate order (blobs follow sorted keys)
    order = np.argsort(seed_owner, kind="stable")
    seeds, seed_owner = seeds[order], seed_owner[order]
    seed_start = np.searchsorted(seed_owner, np.arange(len(cand)))
    # New cluster numbers: a split cluster's first walker keeps its number.
    rank = np.arange(len(seeds)) - seed_start[seed_owner]
    extra = rank > 0
    number = np.where(extra, k + np.cumsum(extra) - 1, cand[seed_owner])

    def nearest(xy: np.ndarray, own: np.ndarray) -> np.ndarray:
        """Cluster number of the nearest seed of each row's candidate cluster ``own``."""
        n_seed = per[own]  # at least 2 for every row
        rep = np.repeat(np.arange(len(xy)), n_seed)
        which = run_indices(seed_start[own], n_seed)
        d = np.sum((xy[rep] - centre[seeds[which]]) ** 2, axis=1)
        pick = _first_min_per_run(rep, d)  # one per row, the first nearest on ties
        return number[which[pick]]

    in_split = split[owner]
    labels = clusters.labels.copy()
    labels[idx[in_split]] = nearest(xyz[in_split, :2], owner[in_split])
    cand_of = np.full(k, -1, np.int64)
    cand_of[cand] = np.arange(len(cand))
    vl = clusters.voxel_labels.astype(np.int64)
    v_split = (cand_of[vl] >= 0) & split[np.maximum(cand_of[vl], 0)]
    vl = vl.copy()
    vl[v_split] = nearest(vc[v_split, :2], cand_of[vl[v_split]])
    count = k + int(extra.sum())
    if (np.bincount(labels[labels >= 0], minlength=count)[number] == 0).any() or (
            np.bincount(vl, minlength=count)[number] == 0).any():
        return clusters  # a walker left without points or voxels: keep the group whole
    return clusters_from_labels(labels, count, vl, clusters.voxel_centroids, clusters.voxel_counts)


def clusters_from_labels(labels: np.ndarray, count: int, voxel_labels: np.ndarray, voxel_centroids: np.ndarray,
                         voxel_counts: np.ndarray, clustered: np.ndarray | None = None,
                         point_counts: np.ndarray | None = None) -> Clusters:
    """The :class:`Clusters` of point ``labels`` and connectivity-voxel ``voxel_labels`` (rows of
    ``voxel_centroids`` / ``voxel_counts``), both numbered ``0 .. count - 1`` and -1 for none.
    A caller that knows them passes the (ascending) indices of the labelled points and the
    points per cluster."""
    idx = np.flatnonzero(labels >= 0) if clustered is None else clustered
    lab = np.take(labels, idx)
    order = np.argsort(lab.astype(np.int16) if count < 32767 else lab, kind="stable")  # 16 bits: radix sort
    members = np.take(idx, order)
    if point_counts is None:
        point_counts = np.bincount(lab, minlength=count)
    point_counts = point_counts.astype(np.int64)
    starts = run_starts(point_counts)
    kv = np.flatnonzero(voxel_labels >= 0)
    kv = kv[np.argsort(voxel_labels[kv].astype(np.int16) if count < 32767 else voxel_labels[kv], kind="stable")]
    vlab = voxel_labels[kv].astype(np.int32)
    voxel_starts = run_starts(np.bincount(vlab, minlength=count))
    return Clusters(labels=labels.astype(np.int32, copy=False), count=count, point_counts=point_counts,
                    voxel_centroids=np.take(voxel_centroids, kv, axis=0), voxel_labels=vlab,
                    voxel_counts=np.take(voxel_counts, kv), voxel_starts=voxel_starts,
                    members=members, starts=starts)
