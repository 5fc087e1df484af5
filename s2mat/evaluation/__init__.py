"""Evaluation of s2mat outputs against ground truth: static map and odometry scores."""

from s2mat.evaluation.odometry import (
    OdometryScores,
    absolute_trajectory_error,
    odometry_scores,
    relative_errors,
)
from s2mat.evaluation.static_map import (
    StaticMapScores,
    kept_by_cloud,
    preservation_rejection,
    static_map_scores,
)

__all__ = [
    "OdometryScores",
    "StaticMapScores",
    "absolute_trajectory_error",
    "kept_by_cloud",
    "odometry_scores",
    "preservation_rejection",
    "relative_errors",
    "static_map_scores",
]
