"""Settings of the perception front end (ground, clustering, detection, tracking)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GroundConfig(_Section):
    """Ground segmentation: planes fitted per bin of a concentric polar grid (sensor frame)."""

    sensor_height: float = Field(1.73, gt=0, description="Nominal sensor height above the road, metres.")
    distance_threshold: float = Field(0.2, gt=0, description="Points within this height of the local ground plane are ground, metres.")
    min_range: float = Field(2.0, ge=0, description="Inner radius of the polar grid, metres.")
    max_range: float = Field(100.0, gt=0, description="Outer radius of the polar grid; farther points use the last ring's planes, metres.")
    min_ring_width: float = Field(0.75, gt=0, description="Narrowest ring of the polar grid, metres.")
    ring_growth: float = Field(0.12, ge=0, description="Ring width as a fraction of its inner radius (far rings are wider).")
    sector_arc: float = Field(2.0, gt=0, description="Target arc length of one sector, metres.")
    min_sectors: int = Field(16, ge=4, description="Fewest sectors per ring.")
    max_sectors: int = Field(96, ge=4, description="Most sectors per ring.")
    seed_band: float = Field(0.3, gt=0, description="Seeds of a bin's plane are points within this height of its lowest point, metres.")
    max_slope_deg: float = Field(20.0, gt=0, lt=90, description="Steepest plane accepted as ground, degrees.")
    max_bend_deg: float = Field(10.0, gt=0, lt=90, description="Largest change of grade between a bin's plane and the ground extrapolated from the nearer ring, degrees.")
    elevation_tolerance: float = Field(0.35, gt=0, description="A bin's plane may step this far from the plane extrapolated from nearer rings, metres.")
    slope_change_deg: float = Field(4.0, ge=0, lt=90, description="Allowed change of grade per metre of extrapolation, degrees.")
    max_flatness: float = Field(0.12, gt=0, description="Largest RMS residual of an accepted plane, metres.")
    refine_iterations: int = Field(1, ge=0, description="Plane refits on the inliers of the previous fit.")
    fit_stride: int = Field(3, ge=1, description="Every n-th point is used to fit planes (all points are classified).")


class ClusteringConfig(_Section):
    """Clustering of non-ground points by 3D voxel connectivity (sensor frame)."""

    voxel_size: float = Field(0.4, gt=0, description="Connectivity voxel size, metres (bridges gaps such as car windows).")
    min_points: int = Field(8, ge=1, description="Smallest cluster kept.")
    max_extent: float = Field(15.0, gt=0, description="Clusters longer than this are structure, metres.")
    max_range: float = Field(50.0, gt=0, description="Points farther than this (horizontally) are not clustered, metres.")
    min_z: float = Field(-4.0, description="Lowest sensor-frame height clustered, metres.")
    max_z: float = Field(1.5, description="Highest sensor-frame height clustered (cuts overhanging canopy), metres.")
    merge_gap: float = Field(1.6, ge=0, description="Largest gap along the beams between the low front face and the taller face behind it of one vehicle seen end-on, metres (0 turns the merge off).")
    merge_rise: float = Field(0.3, ge=0, description="The farther face of such a pair must reach this much higher than the nearer one, metres.")
    merge_max_length: float = Field(6.0, gt=0, description="Longest extent along the beams of a merged pair, metres.")
    hint_margin: float = Field(0.3, ge=0, description="Predicted boxes are grown by this much when they guide clustering, metres.")
    hint_majority: float = Field(0.5, gt=0, le=1, description="A cluster this much inside one predicted box joins it whole.")
    split_walkers: bool = Field(True, description="Split clusters of a walker's height and a small group's footprint whose upper bodies stand apart into one cluster per walker. On the 9 simulated street, crowd and intersection runs of make bench-tracking, mean MOTA 72.8 -> 75.2 and IDF1 81.1 -> 82.6 (crowd seeds 0 and 2: +7.7 and +10.3 MOTA). It costs about 1 ms per 120k-point scan.")
    yaw_steps: int = Field(18, ge=3, description="Headings tried by the rectangle fit over 90 degrees (then refined).")
    box_criterion: str = Field("closeness", pattern="^(closeness|area)$", description="Rectangle fit: L-shape closeness or minimum area.")


class DetectionConfig(_Section):
    """Map-aware dynamic detection."""

    max_range: float = Field(50.0, gt=0, description="Detections farther than this are ignored, metres.")
    free_evidence: int = Field(2, ge=1, description="Free observations of a voxel that make an object there new.")
    occupied_evidence: int = Field(3, ge=1, description="Hits of a voxel that make it persistent static occupancy.")
    dynamic_fraction: float = Field(0.3, gt=0, le=1, description="Share of a cluster's voxels seen free that makes it a dynamic candidate.")
    structure_fraction: float = Field(0.6, gt=0, le=1, description="Share of a cluster's voxels in persistent occupancy that makes it structure.")
    keep_structured_objects: bool = Field(True, description="Object-shaped clusters (car, pedestrian, cyclist) inside static occupancy are still reported (parked cars), only never as dynamic candidates.")
    open_above_share: float = Field(0.1, ge=0, le=1, description="Object-shaped clusters inside static occupancy are kept only when at least this share of their vertical columns has space the map has seen free just above their top (a parked car stands in the open; a piece of a facade, trunk or pole goes on upwards); 0 turns the test off.")
    partly_static_share: float = Field(0.1, ge=0, le=1, description="Clusters with at least this share of their voxels in persistent static occupancy, less than dynamic_fraction seen free, and fewer than open_above_share of their columns seen free above their top are structure: a piece of a facade cut to a car's or walker's shape, seen too few times yet to be inside occupancy (structure_fraction). On the 36 simulated street, crowd and intersection runs (seeds 0-11), mean MOTA 87.5 -> 88.1, street false positives 990 -> 828 (scored before boxes on hidden objects were ignored); 1 turns it off, as does open_above_share 0.")
    max_ground_gap: float = Field(0.8, gt=0, description="Clusters whose lowest point is this far or more above the ground under them are structure, not road users, metres.")
    max_hidden_top: float = Field(2.3, gt=0, description="A cluster too high above the ground to stand on it, but whose top is at most this high and whose lower part is hidden behind something nearer, is the top of a road user (the roof of a car behind another car, a walker's head), metres.")
    overhead_reach: float = Field(2.5, ge=0, description="Pedestrian- or cyclist-shaped clusters with scan returns this close above their top are structure (trunks, poles), metres; 0 turns the test off.")
    complete_boxes: bool = Field(True, description="Boxes of partly seen road users grow away from the sensor to their class's typical footprint (the hidden side lies behind the seen one).")
    max_height: float = Field(4.5, gt=0, description="Clusters taller than this are structure (trees, poles, facades), metres.")
    far_free_range: float = Field(40.0, ge=0, description="Non-ground points at least this far (horizontally) that belong to a low object (far_object_height) or lie in space the map has seen free are reported as far dynamic points (traffic beyond the reach of the clusters' tests), which registration leaves out, metres; 0 turns both off.")
    far_object_height: float = Field(2.0, ge=0, description="With the map check, far non-ground points (far_free_range) grouped coarsely into objects none of whose points stands more than this high above the ground may be road users: registration leaves them out (a car that drives away, or along with the sensor, would drag it); taller structure keeps anchoring it, metres; 0 turns it off (see README, limitations).")


class ClassTrackingParams(_Section):
    """Tracker settings of one object class (defaults: a car seen at 10 Hz)."""

    min_hits: int = Field(2, ge=1, description="Hits before a tentative track is confirmed.")
    max_coast_frames: int = Field(15, ge=0, description="Frames a confirmed track may coast unmatched before deletion; never more than its number of hits (evidence buys coasting time).")
    birth_score: float = Field(-1e9, description="Detections scoring below this never start a track (they may still extend one).")
    pos_std: float = Field(0.3, gt=0, description="Measurement noise of a detected centre, metres.")
    accel_std: float = Field(4.0, gt=0, description="White-noise acceleration of the constant-velocity model, m/s^2.")
    turn_accel_std: float = Field(1.5, gt=0, description="White-noise acceleration of the coordinated-turn model, m/s^2.")
    turn_rate_std: float = Field(0.6, gt=0, description="Turn-rate random walk of the coordinated-turn model, rad/s per sqrt(s).")
    init_speed_std: float = Field(8.0, gt=0, description="Uncertainty of a new track's unknown velocity, m/s.")
    max_pos_std: float = Field(1.0, gt=0, description="Bound on a track's position uncertainty while it coasts (caps the gate), metres.")
    gate_chi2: float = Field(13.8, gt=0, description="Mahalanobis gate on the centre (2 dof; 13.8 = 99.9 %).")
    max_distance: float = Field(5.0, gt=0, description="Hard gate on centre distance to the prediction, metres.")
    size_std: float = Field(0.3, gt=0, description="Relative noise of a detected box size (log scale).")
    still_speed_std: float | None = Field(None, gt=0, description="Noise of a zero-velocity pseudo-measurement given every frame to a track that moved less than stationary_displacement over the last motion window while stationary, m/s (a parked car's partly seen boxes jitter: without it the filter reads speed into the jitter and the track drifts while it coasts); None: off.")


def _params(**kw: float | None) -> ClassTrackingParams:
    return ClassTrackingParams(**kw)


class TrackingConfig(_Section):
    """Multi-target tracker: IMM filters, gated optimal assignment, lifecycle and moving state."""

    # Cars: 8 m/s^2 of white-noise acceleration covers braking and the apparent accelerations
    # of objects seen from a turning vehicle when tracking in the sensor frame.
    # A parked car's boxes jitter as more or less of it is seen: a zero-velocity pseudo-measurement
    # while it stands still. On the simulated runs of make bench-tracking (seeds 0-2): mean MOTA
    # 82.90 -> 83.11, IDF1 87.11 -> 88.12, moving flag at least 95.4 % on every run; KITTI car
    # scores within 0.02. For walkers too, crowd seed 2's moving flag fell to 95.0 %.
    car: ClassTrackingParams = Field(default_factory=lambda: _params(accel_std=8.0, turn_accel_std=8.0,
                                                                     still_speed_std=1.0))
    pedestrian: ClassTrackingParams = Field(
        default_factory=lambda: _params(
            min_hits=2, pos_std=0.2, accel_std=2.0, turn_accel_std=1.0, turn_rate_std=1.0,
            init_speed_std=2.5, max_distance=2.5, size_std=0.3,
        )
    )
    cyclist: ClassTrackingParams = Field(
        default_factory=lambda: _params(
            min_hits=2, pos_std=0.25, accel_std=3.0, turn_accel_std=1.5, turn_rate_std=0.8,
            init_speed_std=6.0, max_distance=4.0,
        )
    )
    other: ClassTrackingParams = Field(
        default_factory=lambda: _params(min_hits=3, init_speed_std=5.0, max_distance=4.0)
    )
    weight_iou: float = Field(1.0, ge=0, description="Cost weight of (1 - 3D IoU) between prediction and detection.")
    weight_size: float = Field(0.5, ge=0, description="Cost weight of the size mismatch (normalised log ratio).")
    seen_part_margin: float | None = Field(0.3, ge=0, description="A LiDAR detection's box is grown from the part the sensor saw, and lands off along the object when its near end is hidden. When that seen part fits in a confirmed or coasting track's box grown by this margin, the track is measured where its box holds the seen part (moved the least from where the track stands, for a parked car, or from the detection's box), and the pair may match even when the grown box's centre lies outside the gate. Metres; None: off.")
    model_stay: float = Field(0.95, gt=0, lt=1, description="IMM probability of staying in the same motion model per frame.")
    moving_speed: float = Field(0.5, ge=0, description="Speed above which an object may become moving, m/s.")
    stationary_speed: float = Field(0.25, ge=0, description="Speed below which a moving object may become stationary, m/s.")
    moving_displacement: float = Field(0.5, ge=0, description="Displacement over the window that, with the speed, makes an object moving, metres.")
    stationary_displacement: float = Field(0.2, ge=0, description="Displacement over the window below which a moving object may stop, metres.")
    motion_window: float = Field(1.0, gt=0, description="Window for the displacement test, seconds.")

    def for_class(self, name: str) -> ClassTrackingParams:
        """Parameters of an object class by its value ('car', 'pedestrian', 'cyclist', 'other')."""
        return getattr(self, name)
