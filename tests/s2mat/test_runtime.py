"""Process-wide settings applied on import (s2mat.runtime)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from s2mat.runtime import keep_freed_memory

# In a fresh interpreter: free a 24 MB array, allocate it again, print the page faults of the
# second allocation. By default glibc maps the first one fresh, raises its threshold when it is
# freed and serves the second from a heap that grows into new pages, which fault in again.
REALLOCATE = """
import resource
import numpy as np
import s2mat
first = np.ones(3_000_000)
del first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
second = np.ones(3_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setting: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env["S2MAT_KEEP_FREED_MEMORY"] = setting
    out = subprocess.run([sys.executable, "-c", REALLOCATE], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's (mallopt)")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    kept, default = _faults("1"), _faults("0")
    assert kept < 50, f"{kept} page faults for a re-allocated 24 MB array with freed memory kept"
    assert default > kept, f"glibc's defaults gave {default} page faults, no more than with the setting ({kept})"


def test_the_allocator_is_left_alone_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2MAT_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
    monkeypatch.setenv("S2MAT_KEEP_FREED_MEMORY", "1")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own glibc setting wins
    assert keep_freed_memory() is False
