"""Per-frame wall-clock budget of a node: where one frame's time goes (setting ``timing_log``).

A node opens a :class:`FrameClock` when it starts a frame, adds the measured span of each
phase with :meth:`FrameClock.add` and, when the frame ends, logs :meth:`FrameClock.line`:
``frame timing: node=mapping seq=12 total=231.4 begin=20.1 ...`` in milliseconds. ``benchmarks/bench_ros.py`` reads these lines back with
:func:`parse_line` and prints the budget table.
"""

from __future__ import annotations

import re
import time

PREFIX = "frame timing:"
_PAIR = re.compile(r"(\w+)=([-\w.]+)")


class FrameClock:
    """Milliseconds per named phase of one frame, measured with ``time.perf_counter``."""

    def __init__(self, node: str, seq: int) -> None:
        self.node = node
        self.seq = seq
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    def add(self, name: str, ms: float) -> None:
        """Add ``ms`` milliseconds to phase ``name``."""
        self.ms[name] = self.ms.get(name, 0.0) + ms

    def total(self) -> float:
        """Milliseconds since the frame started."""
        return (time.perf_counter() - self.started) * 1e3

    def line(self) -> str:
        """The log line: node, sequence number, total and every phase, in milliseconds."""
        phases = " ".join(f"{k}={v:.1f}" for k, v in self.ms.items())
        return f"{PREFIX} node={self.node} seq={self.seq} total={self.total():.1f} {phases}"


def parse_line(line: str) -> dict[str, float | str] | None:
    """The fields of a ``frame timing:`` log line (numbers as floats), or ``None`` for other lines."""
    at = line.find(PREFIX)
    if at < 0:
        return None
    out: dict[str, float | str] = {}
    for key, value in _PAIR.findall(line[at + len(PREFIX):]):
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out
