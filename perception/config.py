"""Settings of the perception front end (ground, clustering, detection, tracking)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GroundConfig(_Section):
    """Ground segmentation."""

    sensor_height: float = Field(1.73, gt=0, description="Nominal sensor height above the road, metres.")
    distance_threshold: float = Field(0.2, gt=0, description="Points within this height of the local ground plane are ground, metres.")


class ClusteringConfig(_Section):
    """Clustering of non-ground points."""

    voxel_size: float = Field(0.3, gt=0, description="Connectivity voxel size, metres.")
    min_points: int = Field(8, ge=1, description="Smallest cluster kept.")
    max_extent: float = Field(15.0, gt=0, description="Clusters longer than this are structure, metres.")


class DetectionConfig(_Section):
    """Map-aware dynamic detection."""

    max_range: float = Field(50.0, gt=0, description="Detections farther than this are ignored, metres.")
    free_evidence: int = Field(2, ge=1, description="Free observations of a voxel that make an object there new.")


class TrackingConfig(_Section):
    """Multi-target tracker."""

    min_hits: int = Field(3, ge=1, description="Hits before a tentative track is confirmed.")
    max_coast_frames: int = Field(5, ge=0, description="Frames a track may coast unmatched before deletion.")
    moving_speed: float = Field(0.5, ge=0, description="Speed above which an object may be moving, m/s.")
