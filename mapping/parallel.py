"""Row-parallel numpy work on a small thread pool.

numpy's element-wise kernels, sorts and ``take`` release the GIL, so independent chunks of one
vectorised computation run on several cores from plain threads. Used by the static map's
free-space test of its live voxels, the largest per-frame cost of the back end.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MIN_ROWS_PER_THREAD = 20_000  # smaller chunks cost more in hand-over than they save
MAX_THREADS = 4  # threads s2mat's pools take by default, at most
_pools: dict[int, ThreadPoolExecutor] = {}


def name_os_thread() -> None:
    """Give the calling thread's Python name to the operating system (Linux, first 15
    characters), so ``top -H``, py-spy and /proc/<pid>/task tell s2mat's threads apart.
    Used as the initializer of s2mat's thread pools; elsewhere it does nothing."""
    try:
        ctypes.CDLL(None).prctl(15, threading.current_thread().name[:15].encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def resolve_threads(threads: int | None) -> int:
    """``threads`` itself, or for ``None`` the machine's cores, at most MAX_THREADS."""
    return int(threads) if threads else max(1, min(os.cpu_count() or 1, MAX_THREADS))


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s2mat-map",
                                             initializer=name_os_thread)
    return _pools[workers]


def _parts(count: int, workers: int) -> list[slice]:
    """``workers`` consecutive slices covering ``range(count)`` as evenly as possible."""
    bounds = [count * i // workers for i in range(workers + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def map_table_rows(fn: Callable[[int, slice], T], lengths: list[int], threads: int) -> list[list[T]]:
    """``fn(i, rows)`` over consecutive slices ``rows`` covering ``range(lengths[i])`` for every
    table ``i``, spread over up to ``threads`` threads (one thread when the rows are few); per
    table, its results in slice order."""
    total = sum(lengths)
    workers = max(1, min(threads, total // MIN_ROWS_PER_THREAD))
    piece = max(1, -(-total // (4 * workers)) if workers > 1 else total)  # a few pieces per thread
    items = [(i, slice(start, min(start + piece, n))) for i, n in enumerate(lengths) for start in range(0, n, piece)]
    out: list[list[T]] = [[] for _ in lengths]
    if not items:
        return out
    for group in map_items(lambda part: [(i, fn(i, rows)) for i, rows in part], items, workers):
        for i, result in group:
            out[i].append(result)
    return out


def map_items(fn: Callable[[list], T], items: list, threads: int) -> list[T]:
    """``fn`` applied to ``threads`` contiguous groups of ``items`` (in order), in parallel."""
    workers = max(1, min(threads, len(items)))
    if workers == 1:
        return [fn(items)]
    return list(_pool(workers).map(fn, [items[part] for part in _parts(len(items), workers)]))
