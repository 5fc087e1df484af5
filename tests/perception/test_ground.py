"""Ground segmentation against the simulator's semantic ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from perception.config import GroundConfig
from perception.ground import fit_ground, segment_ground
from s2mat.sim import LIDAR_PRESETS, simulate
from tests.sensor_tilt import seen_through, tilted

# SemanticKITTI classes that are ground: road, parking, sidewalk, other-ground, lane-marking, terrain.
GROUND_IDS = [40, 44, 48, 49, 60, 72]


@pytest.fixture(scope="module")
def street_frames():
    return list(simulate("street", sensor="hdl64", frames=3, seed=0, camera=False, motion_distortion=False))


def recall_precision(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = np.count_nonzero(mask & truth)
    return tp / max(np.count_nonzero(truth), 1), tp / max(np.count_nonzero(mask), 1)


def test_ground_recall_and_precision_on_simulated_street(street_frames):
    for frame in street_frames:
        truth = np.isin(frame.ground_truth.semantic, GROUND_IDS)
        recall, precision = recall_precision(segment_ground(frame.points), truth)
        assert recall >= 0.98, f"frame {frame.index}: ground recall {recall:.4f}"
        assert precision >= 0.85, f"frame {frame.index}: ground precision {precision:.4f}"


def test_objects_standing_on_the_ground_are_mostly_not_ground(street_frames):
    frame = street_frames[0]
    mask = segment_ground(frame.points)
    on_objects = frame.ground_truth.instance > 0
    assert np.count_nonzero(mask & on_objects) / np.count_nonzero(on_objects) < 0.15


def test_ground_follows_a_ramp(street_frames):
    """The road (and everything on it) rises 8 % beyond 10 m ahead: a slope change the
    zone planes must follow without swallowing objects or losing the ramp."""
    frame = street_frames[1]
    pts = frame.points.astype(np.float64).copy()
    pts[:, 2] += 0.08 * np.maximum(pts[:, 0] - 10.0, 0.0)
    truth = np.isin(frame.ground_truth.semantic, GROUND_IDS)
    flat_recall, flat_precision = recall_precision(segment_ground(frame.points), truth)
    recall, precision = recall_precision(segment_ground(pts.astype(np.float32)), truth)
    ahead = truth & (pts[:, 0] > 20.0)  # at least 0.8 m above the flat road
    ramp_recall = np.count_nonzero(segment_ground(pts.astype(np.float32)) & ahead) / np.count_nonzero(ahead)
    print(f"ramp: recall {recall:.4f} precision {precision:.4f}, beyond 20 m {ramp_recall:.4f}")
    assert ramp_recall >= 0.8
    assert recall >= flat_recall - 0.02
    assert precision >= flat_precision - 0.03


def test_far_ground_follows_a_pitched_sensor(street_frames):
    """A sensor pitched by 2 degrees sees the road beyond 40 m 1.4-3.5 m above or below its
    level position. The far rings are sparse, so their bins mostly inherit the ground of
    nearer rings: the inherited planes must keep the sensor's tilt (measured on the near
    ground), not fall back towards the sensor's horizontal."""

    def far_error(pitch_deg: float) -> float:
        rotation = tilted(pitch_deg)
        errors = []
        for frame in street_frames:
            pts = seen_through(frame.points, rotation)
            far = np.isin(frame.ground_truth.semantic, GROUND_IDS) & (np.hypot(pts[:, 0], pts[:, 1]) > 40.0)
            errors.append(np.abs(pts[far, 2] - fit_ground(pts).height_at(pts[far, :2])))
        return float(np.median(np.concatenate(errors)))

    level = far_error(0.0)  # sidewalks stand above the road the planes follow
    for pitch in (-2.0, 2.0):
        error = far_error(pitch)
        print(f"far ground: plane height error median {error:.3f} m at {pitch:+.0f} degrees, {level:.3f} m level")
        assert error <= level + 0.15


def test_sparse_rings_of_a_16_beam_sensor():
    frame = next(iter(simulate("street", sensor="vlp16", frames=1, seed=1, camera=False, motion_distortion=False)))
    truth = np.isin(frame.ground_truth.semantic, GROUND_IDS)
    config = GroundConfig(sensor_height=LIDAR_PRESETS["vlp16"].mounting_height)
    recall, precision = recall_precision(segment_ground(frame.points, config), truth)
    assert recall >= 0.95
    assert precision >= 0.85


def test_ground_height_under_objects_matches_the_ground_they_stand_on(street_frames):
    frame = street_frames[0]
    model = fit_ground(frame.points)
    pose = frame.ground_truth.pose
    errors = []
    for gt in frame.ground_truth.boxes:
        center = (gt.box.center - pose[:3, 3]) @ pose[:3, :3]
        if np.hypot(center[0], center[1]) > 30:
            continue
        bottom = center[2] - gt.box.size[2] / 2
        errors.append(abs(model.height_at(center[None, :2])[0] - bottom))
    assert len(errors) >= 10
    assert np.median(errors) < 0.15
    assert np.percentile(errors, 80) < 0.3


def test_non_finite_points_are_never_ground_and_bad_shapes_raise():
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-20, 20, 2000), rng.uniform(-20, 20, 2000),
                           np.full(2000, -1.73)]).astype(np.float32)
    pts[:10] = np.nan
    pts[10:20, 0] = np.inf
    mask = segment_ground(pts)
    assert not mask[:20].any()
    assert mask[20:].mean() > 0.99
    with pytest.raises(ValueError, match="shape"):
        segment_ground(pts[:, :2])


def test_a_car_roof_seen_over_an_occluder_is_not_ground():
    """Beyond a stretch where something near hides the road, the first surface seen may be a
    car's roof, flat and 1.2 m above the road. The ground extrapolated over the hidden stretch
    may bend only a little per metre, so the roof is not ground; the road before it is."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(-0.15, 0.15, 20000)  # a narrow wedge ahead of the sensor
    near = rng.uniform(2.5, 4.5, 20000)
    road = np.column_stack([near * np.cos(angle), near * np.sin(angle), np.full(20000, -1.73)])
    far = rng.uniform(11.5, 13.0, 4000)
    roof_angle = rng.uniform(-0.1, 0.1, 4000)
    roof = np.column_stack([far * np.cos(roof_angle), far * np.sin(roof_angle), np.full(4000, -1.73 + 1.25)])
    points = np.vstack([road, roof]).astype(np.float32) + rng.normal(0, 0.01, (24000, 3)).astype(np.float32)
    mask = fit_ground(points).mask
    assert mask[:20000].mean() > 0.95
    assert mask[20000:].mean() < 0.05
