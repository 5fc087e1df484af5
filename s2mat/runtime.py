"""Process-wide settings for the per-frame work, applied when s2mat is imported.

- numpy's BLAS is capped at ``S2MAT_BLAS_THREADS`` threads (default 1). The loop's matrix
  products are skinny ((N, 3) by (3, 3)), where BLAS threads cost far more in hand-over than
  they save: on a busy 2-core machine one such product over 400k points took 107 ms with two
  OpenBLAS threads and 2 ms with one. The loop's own parallel work uses its thread pools.
- glibc's allocator keeps freed memory instead of returning it to the kernel. Every frame
  allocates and frees dozens of arrays of one to ten megabytes; by default glibc unmaps or
  trims them and the next frame page-faults the same memory back in, zeroed. On 40 simulated
  hdl64 frames that cost 3,600 page faults and 13 ms of CPU per frame (of about 190); keeping
  the memory cut it to 1,100 faults and 4 ms. The process keeps its peak heap, which the loop
  reaches within a few frames anyway. ``S2MAT_KEEP_FREED_MEMORY=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def limit_blas_threads(threads: int | None = None) -> None:
    """Cap numpy's BLAS thread pool (``threads`` or S2MAT_BLAS_THREADS, default 1)."""
    import numpy  # noqa: F401  (loads the BLAS library the limit applies to)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(threads or os.environ.get("S2MAT_BLAS_THREADS", "1")), user_api="blas")


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve large arrays from the heap and never trim it (see the module
    docstring). Returns whether the settings were applied (False off glibc or when
    ``S2MAT_KEEP_FREED_MEMORY=0``)."""
    if os.environ.get("S2MAT_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, 1 << 30),  # arrays up to 1 GiB come from the heap, not mmap
        (_M_TRIM_THRESHOLD, 2**31 - 1),  # never give the heap's top back
        (_M_TOP_PAD, 64 << 20),  # grow the heap 64 MiB at a time
    ))
    if not ok:
        log.debug("mallopt rejected a setting; the allocator keeps its defaults in part")
    return ok
