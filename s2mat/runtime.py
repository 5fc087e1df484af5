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
  reaches within a few frames anyway. ``S2MAT_KEEP_FREED_MEMORY=0`` leaves the allocator
  alone, and so do glibc's own malloc settings in the environment (``MALLOC_*_``,
  ``GLIBC_TUNABLES``), which take precedence.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
# Arrays up to this size come from the heap; older glibc caps the threshold at 32 MiB on 64-bit.
_MMAP_THRESHOLDS = (1 << 30, 32 << 20)


def limit_blas_threads(threads: int | None = None) -> None:
    """Cap numpy's BLAS thread pool (``threads`` or S2MAT_BLAS_THREADS, default 1)."""
    import numpy  # noqa: F401  (loads the BLAS library the limit applies to)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(threads or os.environ.get("S2MAT_BLAS_THREADS", "1")), user_api="blas")


def _user_malloc_settings() -> bool:
    return any(name.startswith("MALLOC_") for name in os.environ) or "glibc.malloc" in os.environ.get(
        "GLIBC_TUNABLES", "")


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve large arrays from the heap and never trim it (see the module
    docstring). Returns whether the settings were applied: False off glibc, with
    ``S2MAT_KEEP_FREED_MEMORY=0`` or with glibc's malloc settings in the environment."""
    if os.environ.get("S2MAT_KEEP_FREED_MEMORY", "1") == "0" or _user_malloc_settings():
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    threshold = any(mallopt(_M_MMAP_THRESHOLD, value) == 1 for value in _MMAP_THRESHOLDS)
    trim = mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1  # never give the heap's top back
    pad = mallopt(_M_TOP_PAD, 64 << 20) == 1  # grow the heap 64 MiB at a time
    if not (threshold and trim and pad):
        log.warning("glibc refused part of s2mat's allocator settings (mmap threshold %s, trim %s, top pad %s); "
                    "frames may page-fault their arrays back in", threshold, trim, pad)
    return threshold and trim
