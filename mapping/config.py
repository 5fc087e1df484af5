"""Settings of the mapping back end (odometry and static map)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OdometryConfig(_Section):
    """Scan-to-local-map registration on static points."""

    voxel_size: float | None = Field(None, gt=0, description="Local-map voxel size in metres; None derives max_range / 100.")
    local_map_horizon: int = Field(100, ge=1, description="Local-map voxels not refreshed for this many insertions are dropped (bounds memory).")
    initial_threshold: float = Field(2.0, gt=0, description="Correspondence threshold before motion statistics exist, metres.")
    min_motion_th: float = Field(0.1, ge=0, description="Motion below which the adaptive threshold is not updated, metres.")
    deskew: bool = Field(False, description="Correct motion distortion with per-point time when present.")
    max_iterations: int = Field(50, ge=1, description="Registration iterations per frame.")
    min_range: float = Field(0.0, ge=0, description="Returns closer than this are dropped before registration, metres.")
    num_threads: int | None = Field(1, ge=1, description="Threads of the registration kernel; None: the machine's cores, at most 4. More than one is faster but not bit-reproducible (parallel sums), so 1 is the default. The point covariances it starts from are estimated on the machine's cores (at most 4) either way: each point's comes from its own neighbours, so they do not depend on the count.")
    min_points: int = Field(100, ge=1, description="Scans with fewer valid points are skipped.")
    max_time_gap: float = Field(1.0, gt=0, description="A larger gap between frames drops the constant-velocity guess, seconds.")
    map_update_every: int = Field(1, ge=1, description="Insert static points into the local map every this many frames.")


class StaticMapConfig(_Section):
    """Voxel map with hit and ray-cast free-space evidence."""

    voxel_size: float = Field(0.1, gt=0, description="Static map resolution in metres (0.1 keeps feet and wheels out of road voxels).")
    hits_to_occupy: int = Field(2, ge=1, description="Hits before a voxel counts as persistently occupied.")
    misses_to_free: int = Field(2, ge=1, description="Free-space observations that carve an occupied voxel.")
    live_radius: float = Field(100.0, gt=0, description="Voxels farther than this from the sensor leave the live map for the archive, metres.")
    max_live_voxels: int = Field(5_000_000, ge=1000, description="Budget of voxels in the live map.")
    azimuth_resolution_deg: float = Field(0.2, gt=0, description="Azimuth bin of the range image used for free-space tests, degrees.")
    elevation_resolution_deg: float = Field(0.4, gt=0, description="Elevation bin of the range image used for free-space tests, degrees.")
    range_margin: float = Field(0.3, ge=0, description="A voxel is seen through only when the beam ends this far behind it, metres.")
    range_margin_ratio: float = Field(0.02, ge=0, description="Extra margin proportional to the voxel range (beam divergence, noise).")
    neighbourhood: int = Field(1, ge=0, description="Half width of the pixel window whose nearest return must lie behind a voxel.")
    beam_radius: float | None = Field(0.25, gt=0, description="A voxel also counts as seen through when the beam of its own range-image pixel passes within this fraction of a voxel of it (vertically) and returns far behind it; None keeps only the windowed test. Carves what stood just above the road (feet).")
    history_scans: int = Field(30, ge=0, description="Recent range images kept to give new voxels their past free-space evidence.")
    free_ratio: float = Field(1.0, gt=0, description="A voxel is carved when free observations reach this ratio of its hits (and misses_to_free).")
    free_since_hit_ratio: float = Field(0.5, ge=0, description="A voxel is also carved when the free observations since its last hit reach this ratio of its hits (and misses_to_free): what stood long must be seen gone for a while.")
    max_range: float | None = Field(None, gt=0, description="Returns beyond this are not inserted; None takes the sensor's max range.")
    num_threads: int | None = Field(None, ge=1, description="Threads of the free-space test of the live voxels (numpy releases the GIL); None: the machine's cores, at most 4. The test of a few points against the recent scans runs on one (threads cost more than they save there).")
    window_check_every: int = Field(10, ge=1, description="Frames between two window checks of a voxel (far voxels move into the archive). The voxels are split into this many shards (at most four), which take their checks in turn at evenly spaced frames, so no frame rewrites the whole live map.")
