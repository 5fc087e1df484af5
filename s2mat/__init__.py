"""s2mat: Simultaneous and Self-reinforced Mapping And Tracking.

Importing s2mat applies the process-wide settings of :mod:`s2mat.runtime`: numpy's BLAS runs
``S2MAT_BLAS_THREADS`` threads (default 1) and glibc's allocator keeps freed memory for the
next frame (``S2MAT_KEEP_FREED_MEMORY=0`` to leave it alone).
"""

from importlib.metadata import PackageNotFoundError, version

from s2mat.runtime import keep_freed_memory, limit_blas_threads

try:
    __version__ = version("s2mat")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

limit_blas_threads()
keep_freed_memory()

__all__ = ["__version__", "keep_freed_memory", "limit_blas_threads"]
