"""What detection asks of a static map, so that ``perception`` never imports ``mapping``.

Any object with these members can gate detection; the mapping back end's static map is one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class MapQuery(Protocol):
    """Free and occupied evidence of a voxel map, queried at world-frame positions."""

    voxel_size: float
    """Edge of one map voxel, metres."""

    def free_counts(self, points_world: np.ndarray) -> np.ndarray:
        """How often the voxel holding each (N, 3) world-frame point was crossed by a ray
        (seen free); (N,) int, 0 where the map knows nothing."""
        ...

    def occupied_counts(self, points_world: np.ndarray) -> np.ndarray:
        """How often the voxel holding each (N, 3) world-frame point was hit by a static
        return (seen occupied); (N,) int, 0 where the map knows nothing."""
        ...
