"""Multi-object tracking: IMM motion models, gated optimal association, lifecycle, moving state."""

from perception.tracking.tracker import MultiObjectTracker

__all__ = ["MultiObjectTracker"]
