"""Integer voxel keys: three signed 21-bit voxel indices packed into one int64."""

from __future__ import annotations

import numpy as np

_BITS = 21
_OFFSET = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


def _pack_axis(keys: np.ndarray, index: np.ndarray, axis: int) -> None:
    """OR the int64 voxel indices ``index`` (each within +-2^20) of ``axis`` into ``keys``, in
    place; ``index`` is overwritten."""
    index += _OFFSET
    index <<= (2 - axis) * _BITS
    keys |= index


def pack(indices: np.ndarray) -> np.ndarray:
    """Pack (N, 3) voxel indices (each within +-2^20) into (N,) int64 keys."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1, 3)
    keys = np.zeros(len(idx), dtype=np.int64)
    for axis in range(3):
        _pack_axis(keys, idx[:, axis].copy(), axis)
    return keys


def unpack(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack`: (N,) keys to (N, 3) int64 voxel indices."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.empty((len(keys), 3), dtype=np.int64)
    out[:, 0] = (keys >> (2 * _BITS)) & _MASK
    out[:, 1] = (keys >> _BITS) & _MASK
    out[:, 2] = keys & _MASK
    return out - _OFFSET


def point_keys(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """(N,) int64 keys of the voxels holding (N, 3) points (metres) on a grid of ``voxel_size``
    metres: the packed floor of each coordinate over the size, one column at a time into reused
    buffers."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    keys = np.zeros(len(pts), dtype=np.int64)
    scaled = np.empty(len(pts))
    index = np.empty(len(pts), dtype=np.int64)
    for axis in range(3):
        np.divide(pts[:, axis], voxel_size, out=scaled)
        np.floor(scaled, out=scaled)
        np.copyto(index, scaled, casting="unsafe")
        _pack_axis(keys, index, axis)
    return keys


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of (N,) packed keys, by radix passes: the keys are
    re-packed without gaps (the same order) and sorted by 16 bits at a time, least significant
    first, as numpy sorts 16-bit integers stably by radix. A scan's keys span a few thousand
    voxels per axis, so two or three passes take about half the time of the general stable
    sort (1.4-1.8 against 2.8-3.2 ms for a 126k-point scan)."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) < 2:
        return np.argsort(keys, kind="stable")
    x, y, z = keys >> (2 * _BITS), (keys >> _BITS) & _MASK, keys & _MASK
    lo = [int(a.min()) for a in (x, y, z)]
    span = [int(a.max()) - low + 1 for a, low in zip((x, y, z), lo, strict=True)]
    total = span[0] * span[1] * span[2]
    if total > 1 << 48:
        return np.argsort(keys, kind="stable")
    compact = x  # ((x - x0) * ny + (y - y0)) * nz + (z - z0), in place
    compact -= lo[0]
    compact *= span[1]
    compact += y
    compact -= lo[1]
    compact *= span[2]
    compact += z
    compact -= lo[2]
    order = np.argsort(compact.astype(np.uint16), kind="stable")  # the low 16 bits
    for shift in range(16, max(int(total - 1).bit_length(), 1), 16):
        digit = (compact >> shift).astype(np.uint16)
        order = order.take(np.argsort(digit.take(order), kind="stable"))
    return order


def group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True, return_counts=True)`` of (N,) int64 keys: the
    distinct keys ascending, each key's index into them and how many of each there are, by
    :func:`stable_order`."""
    order = stable_order(keys)
    ordered = keys.take(order)
    first = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered.take(starts), inverse, np.diff(np.append(starts, len(keys)))


def voxel_centers(keys: np.ndarray, voxel_size: float) -> np.ndarray:
    """(N, 3) float64 centres (metres) of the voxels with the given keys."""
    return (unpack(keys).astype(np.float64) + 0.5) * voxel_size


def lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each of ``keys`` in the sorted array ``sorted_keys``, or -1 where absent."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == keys, pos, -1)


_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the shard hash (2^64 over the golden ratio)


def shard_of(keys: np.ndarray, shards: int) -> np.ndarray:
    """(N,) uint16 shard in ``range(shards)`` of each voxel key: a multiplicative hash, so that the
    voxels of any region spread evenly over the shards."""
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    if shards == 1:
        return np.zeros(len(keys), dtype=np.uint16)
    mixed = keys.view(np.uint64) * _SPREAD  # wraps modulo 2^64
    mixed >>= np.uint64(32)
    mixed %= np.uint64(shards)
    return mixed.astype(np.uint16)


def split_by_shard(keys: np.ndarray, shards: int) -> list[np.ndarray]:
    """Per shard, the ascending indices of the ``keys`` in it (sorted keys stay sorted)."""
    shard = shard_of(keys, shards)
    order = np.argsort(shard, kind="stable")  # radix sort of small integers
    bounds = np.searchsorted(shard.take(order), np.arange(shards + 1))
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
