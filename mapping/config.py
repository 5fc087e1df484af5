"""Settings of the mapping back end (odometry and static map)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OdometryConfig(_Section):
    """Scan-to-local-map registration on static points."""

    voxel_size: float | None = Field(None, gt=0, description="Local-map voxel size in metres; None derives max_range / 100.")
    max_points_per_voxel: int = Field(20, ge=1, description="Points kept per local-map voxel.")
    initial_threshold: float = Field(2.0, gt=0, description="Correspondence threshold before motion statistics exist, metres.")
    min_motion_th: float = Field(0.1, ge=0, description="Motion below which the adaptive threshold is not updated, metres.")
    local_map_radius: float | None = Field(None, gt=0, description="Local map kept within this distance of the sensor; None uses max_range.")
    deskew: bool = Field(False, description="Correct motion distortion with per-point time when present.")
    max_iterations: int = Field(50, ge=1, description="Registration iterations per frame.")


class StaticMapConfig(_Section):
    """Voxel map with hit and ray-cast free-space evidence."""

    voxel_size: float = Field(0.2, gt=0, description="Static map resolution in metres.")
    hits_to_occupy: int = Field(2, ge=1, description="Hits before a voxel counts as persistently occupied.")
    misses_to_free: int = Field(2, ge=1, description="Free-space observations that carve an occupied voxel.")
    live_radius: float = Field(100.0, gt=0, description="Voxels farther than this from the sensor leave the live map for the archive, metres.")
    max_live_voxels: int = Field(5_000_000, ge=1000, description="Budget of voxels in the live map.")
