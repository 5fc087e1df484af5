"""Process-wide settings applied on import (s2mat.runtime)."""

from __future__ import annotations

import resource
import sys

import numpy as np
import pytest

import s2mat  # noqa: F401  (applies the settings)
from s2mat.runtime import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    assert keep_freed_memory()
    # 40 MB is above glibc's largest automatic mmap threshold (32 MB): by default every such
    # array is mapped fresh and its pages fault in again (about 570 faults here, numpy asking
    # for huge pages; 10,000 without them). Kept memory is reused without any.
    first = np.ones(5_000_000)
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = np.ones(5_000_000)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert second.sum() == 5_000_000
    assert faults < 50, f"{faults} page faults for a re-allocated 40 MB array"
