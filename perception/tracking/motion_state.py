"""Moving / stationary state with hysteresis, from speed and displacement over a window.

A track becomes *moving* when its filtered speed exceeds ``moving_speed`` and it has moved
more than ``moving_displacement`` over the last ``window`` seconds; it becomes *stationary*
again only when the speed drops below ``stationary_speed`` and the displacement over the
window below ``stationary_displacement``. Between the two thresholds the state is kept, so
noise around a threshold does not make the flag flicker. Vectorised over tracks: positions
live in a fixed-length ring buffer per track.
"""

from __future__ import annotations

import numpy as np


class MotionStateBuffer:
    """Ring buffers of (time, x, y) per track plus the hysteresis flag."""

    def __init__(self, length: int = 32) -> None:
        self.length = length
        self.times = np.full((0, length), -np.inf)
        self.xy = np.zeros((0, length, 2))
        self.moving = np.zeros(0, bool)
        self.settled = np.zeros(0, bool)  # stationary, and moved less than the stationary displacement over a full window
        self._head = 0  # one shared write position: every live track is written each frame

    def add(self, count: int) -> None:
        """Make room for ``count`` new tracks (stationary, empty history)."""
        self.times = np.concatenate([self.times, np.full((count, self.length), -np.inf)])
        self.xy = np.concatenate([self.xy, np.zeros((count, self.length, 2))])
        self.moving = np.concatenate([self.moving, np.zeros(count, bool)])
        self.settled = np.concatenate([self.settled, np.zeros(count, bool)])

    def keep(self, mask: np.ndarray) -> None:
        self.times, self.xy, self.moving, self.settled = self.times[mask], self.xy[mask], self.moving[mask], self.settled[mask]

    def update(
        self,
        t: float,
        xy: np.ndarray,
        speed: np.ndarray,
        window: float,
        moving_speed: float,
        stationary_speed: float,
        moving_displacement: float,
        stationary_displacement: float,
    ) -> np.ndarray:
        """Record (N, 2) positions at time ``t`` and return the updated (N,) moving flags."""
        if len(xy) == 0:
            return self.moving
        self.times[:, self._head] = t
        self.xy[:, self._head] = xy
        self._head = (self._head + 1) % self.length
        # Oldest sample inside the window (the current one at worst).
        inside = self.times >= t - window - 1e-6
        oldest = np.argmin(np.where(inside, self.times, np.inf), axis=1)
        rows = np.arange(len(xy))
        ref = self.xy[rows, oldest]
        span = t - self.times[rows, oldest]
        step = xy - ref
        disp = np.sqrt(np.add.reduce(step * step, axis=1))  # Euclidean norm per row
        # Only trust the displacement test once the history covers most of the window.
        full = span >= 0.5 * window
        start = ~self.moving & (speed > moving_speed) & (disp > moving_displacement) & full
        stop = self.moving & (speed < stationary_speed) & (disp < stationary_displacement) & full
        self.moving = (self.moving | start) & ~stop
        self.settled = ~self.moving & full & (disp < stationary_displacement)
        return self.moving
