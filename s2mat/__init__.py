"""s2mat: Simultaneous and Self-reinforced Mapping And Tracking.

Importing s2mat limits numpy's BLAS to ``S2MAT_BLAS_THREADS`` threads (default 1). The loop's
matrix products are skinny ((N, 3) by (3, 3)), where BLAS threads cost far more in hand-over
than they save: on a busy 2-core machine one such product over 400k points took 107 ms with
two OpenBLAS threads and 2 ms with one. The loop's own parallel work uses its thread pools.
"""

import os
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s2mat")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def limit_blas_threads(threads: int | None = None) -> None:
    """Cap numpy's BLAS thread pool (``threads`` or S2MAT_BLAS_THREADS, default 1)."""
    import numpy  # noqa: F401  (loads the BLAS library the limit applies to)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(threads or os.environ.get("S2MAT_BLAS_THREADS", "1")), user_api="blas")


limit_blas_threads()

__all__ = ["__version__", "limit_blas_threads"]
