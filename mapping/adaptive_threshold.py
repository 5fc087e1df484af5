"""Correspondence threshold that adapts to how far registration corrects the motion guess."""

from __future__ import annotations

import numpy as np


class AdaptiveThreshold:
    """Estimates sigma, the typical point displacement left by the constant-velocity guess.

    After each frame the correction between the guess and the registered pose is turned into
    the largest displacement it causes on a point at ``max_range`` (rotation) plus the
    translation. Sigma is the root mean square of those, over frames whose correction exceeds
    ``min_motion``; until one exists it is ``initial``. Registration uses 3 sigma as its
    correspondence distance.
    """

    def __init__(self, initial: float, min_motion: float, max_range: float) -> None:
        self.initial = float(initial)
        self.min_motion = float(min_motion)
        self.max_range = float(max_range)
        self._sum_sq = 0.0
        self._count = 0

    @property
    def sigma(self) -> float:
        """Current threshold estimate in metres."""
        if self._count == 0:
            return self.initial
        return float(np.sqrt(self._sum_sq / self._count))

    def update(self, correction: np.ndarray) -> None:
        """Add one frame's 4x4 correction (guess_T_registered)."""
        cos = np.clip((np.trace(correction[:3, :3]) - 1.0) / 2.0, -1.0, 1.0)
        theta = float(np.arccos(cos))
        error = 2.0 * self.max_range * np.sin(theta / 2.0) + float(np.linalg.norm(correction[:3, 3]))
        if error > self.min_motion:
            self._sum_sq += error * error
            self._count += 1

    def reset(self) -> None:
        """Forget the motion statistics."""
        self._sum_sq = 0.0
        self._count = 0
