"""Clustering against the simulator's instance ground truth, and guidance by predicted boxes."""

from __future__ import annotations

import numpy as np
import pytest

from perception.clustering import cluster_points, stable_argsort
from perception.config import ClusteringConfig
from perception.ground import segment_ground
from perception.types import Box3D, box_arrays, boxes_contain
from s2mat.sim import simulate


@pytest.fixture(scope="module")
def frame():
    return next(iter(simulate("street", sensor="hdl64", frames=1, seed=2, camera=False, motion_distortion=False)))


def test_clusters_are_pure_and_objects_are_not_split(frame):
    clusters = cluster_points(frame.points, segment_ground(frame.points))
    inst = frame.ground_truth.instance.astype(np.int64)
    labelled = clusters.labels >= 0
    # Purity: the share of clustered points that belong to their cluster's majority instance.
    pairs = clusters.labels[labelled].astype(np.int64) * 1_000_000 + inst[labelled]
    keys, counts = np.unique(pairs, return_counts=True)
    majority = np.zeros(clusters.count)
    np.maximum.at(majority, keys // 1_000_000, counts)
    purity = majority.sum() / counts.sum()
    # Completeness: objects within 40 m with >= 30 points keep >= 90 % of their clustered
    # points in one cluster.
    pose = frame.ground_truth.pose
    split = []
    for gt in frame.ground_truth.boxes:
        mine = (inst == gt.instance_id) & labelled
        center = (gt.box.center - pose[:3, 3]) @ pose[:3, :3]
        if np.count_nonzero(mine) < 30 or np.hypot(center[0], center[1]) > 40:
            continue
        split.append(np.bincount(clusters.labels[mine]).max() / np.count_nonzero(mine))
    print(f"purity {purity:.4f}, objects {len(split)}, min share in one cluster {min(split):.3f}")
    assert purity >= 0.97
    assert len(split) >= 10
    assert np.mean(np.array(split) >= 0.9) >= 0.85


def _blob(center, size, n, rng):
    return center + (rng.random((n, 3)) - 0.5) * size


def test_predicted_boxes_split_two_walkers_that_touch():
    rng = np.random.default_rng(0)
    a = _blob(np.array([10.0, 0.0, -1.0]), [0.4, 0.4, 1.6], 300, rng)
    b = _blob(np.array([10.0, 0.7, -1.0]), [0.4, 0.4, 1.6], 300, rng)
    pts = np.vstack([a, b]).astype(np.float32)
    assert cluster_points(pts, None).count == 1
    hints = [Box3D([10.0, 0.0, -1.0], [0.5, 0.5, 1.7], 0.0), Box3D([10.0, 0.7, -1.0], [0.5, 0.5, 1.7], 0.0)]
    guided = cluster_points(pts, None, hints=hints)
    assert guided.count == 2
    assert len(np.unique(guided.labels[:300])) == 1 and len(np.unique(guided.labels[300:])) == 1
    assert guided.labels[0] != guided.labels[300]


def test_predicted_box_joins_a_car_seen_in_two_pieces():
    rng = np.random.default_rng(1)
    front = _blob(np.array([12.0, 3.0, -1.0]), [1.4, 1.8, 1.2], 400, rng)
    back = _blob(np.array([14.4, 3.0, -1.0]), [1.4, 1.8, 1.2], 400, rng)  # 1 m gap (occluded middle)
    pts = np.vstack([front, back]).astype(np.float32)
    assert cluster_points(pts, None).count == 2
    guided = cluster_points(pts, None, hints=[Box3D([13.2, 3.0, -1.0], [4.4, 1.9, 1.5], 0.0)])
    assert guided.count == 1
    assert np.all(guided.labels == 0)


def test_two_predicted_boxes_on_one_car_do_not_cut_it_in_two():
    """Two tracks on one car (boxes holding each other's centres) act as one hint: the car
    stays one cluster, so the duplicate track is not fed half a car each frame."""
    rng = np.random.default_rng(3)
    car = _blob(np.array([13.0, 3.0, -1.0]), [4.4, 1.8, 1.4], 800, rng)
    pts = car.astype(np.float32)
    hints = [Box3D([12.3, 3.0, -1.0], [4.4, 1.8, 1.5], 0.0), Box3D([13.7, 3.0, -1.0], [4.4, 1.8, 1.5], 0.0)]
    guided = cluster_points(pts, None, hints=hints)
    assert guided.count == 1
    assert np.all(guided.labels == 0)


def _walker(x: float, y: float, rng, n: int = 400) -> np.ndarray:
    """Points on a 0.45 m wide, 1.75 m tall upright walker standing on z = 0."""
    angle = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(0.0, 1.75, n)
    return np.column_stack([x + 0.22 * np.cos(angle), y + 0.22 * np.sin(angle), z])


def test_walkers_who_touch_are_split_between_their_upper_bodies_and_a_car_is_not():
    from perception.clustering import split_walkers

    rng = np.random.default_rng(4)
    a, b = _walker(12.0, 2.0, rng), _walker(12.0, 2.75, rng)  # 0.3 m apart at the shoulders
    hand = np.column_stack([np.full(60, 12.0), rng.uniform(2.2, 2.55, 60), rng.uniform(0.8, 0.9, 60)])  # holding hands
    car = _blob(np.array([20.0, -4.0, 0.75]), [4.4, 1.8, 1.5], 1500, rng)
    pts = np.vstack([a, b, hand, car]).astype(np.float32)
    clusters = cluster_points(pts, None, ClusteringConfig(min_z=-1.0, max_z=2.5))
    assert clusters.count == 2  # the pair is one cluster, the car another
    split = split_walkers(pts, clusters, np.zeros(clusters.count))
    assert split.count == 3
    la, lb, lc = split.labels[:400], split.labels[400:800], split.labels[860:]
    assert len(np.unique(la)) == 1 and len(np.unique(lb)) == 1 and la[0] != lb[0]
    assert len(np.unique(lc)) == 1 and lc[0] not in (la[0], lb[0])
    # The arrays stay consistent: members grouped by cluster, one voxel row group per cluster.
    for c in range(split.count):
        assert np.all(split.labels[split.cluster_indices(c)] == c)
    assert np.array_equal(np.unique(split.voxel_labels), np.arange(split.count))


def test_ground_points_and_small_clusters_are_unlabelled():
    rng = np.random.default_rng(2)
    pts = np.vstack([_blob(np.array([5.0, 5.0, -1.0]), [0.5, 0.5, 1.0], 50, rng),
                     _blob(np.array([-8.0, 2.0, -1.0]), [0.1, 0.1, 0.1], 3, rng)]).astype(np.float32)
    ground = np.zeros(len(pts), dtype=bool)
    ground[:10] = True
    clusters = cluster_points(pts, ground)
    assert clusters.count == 1
    assert np.all(clusters.labels[:10] == -1) and np.all(clusters.labels[10:50] == 0)
    assert np.all(clusters.labels[50:] == -1)
    assert sorted(np.concatenate(clusters.indices()).tolist()) == list(range(10, 50))


def test_stable_argsort_equals_numpy_and_falls_back_outside_its_range():
    rng = np.random.default_rng(0)
    for keys in (rng.integers(0, 1 << 40, 5000), rng.integers(0, 300, 5000).astype(np.uint16),
                 rng.integers(-5, 5, 1000), np.array([-1, 3]), np.array([1.0, np.nan, 0.5]),
                 np.zeros(0, dtype=np.int64)):
        assert np.array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))


def test_boxes_contain_equals_box_contains():
    # The batched box test (hints, points in the moving tracks' boxes) must keep Box3D.contains' arithmetic exactly.
    rng = np.random.default_rng(1)
    boxes = [Box3D(rng.uniform(-20, 20, 3), rng.uniform(0.3, 6, 3), rng.uniform(-np.pi, np.pi)) for _ in range(12)]
    arrays = box_arrays(boxes)
    points = rng.uniform(-25, 25, (4000, 3))
    for margin in (0.0, 0.3):
        want = np.array([b.contains(points, margin) for b in boxes])
        assert want.any()
        np.testing.assert_array_equal(boxes_contain(arrays, points[None], margin), want)
        which = rng.integers(0, len(boxes), len(points))
        np.testing.assert_array_equal(boxes_contain(arrays, points, margin, which), want[which, np.arange(len(points))])


def test_a_car_seen_end_on_is_joined_but_not_with_a_walker_behind_it():
    """Seen from behind, a car is a low face (bumper) and, 1-2 m farther along the beams, a
    taller, as wide one (rear window, roof): one cluster. A walker standing behind a car's end
    shows above it as a face taller than wide: a cluster of their own."""
    rng = np.random.default_rng(5)
    bumper = _blob(np.array([12.0, 3.0, -1.1]), [0.2, 1.8, 0.7], 400, rng)
    cabin = _blob(np.array([13.4, 3.0, -0.55]), [0.3, 1.5, 0.6], 300, rng)
    assert cluster_points(np.vstack([bumper, cabin]).astype(np.float32), None).count == 1
    walker = _blob(np.array([13.6, 3.2, -0.5]), [0.3, 0.45, 1.0], 200, rng)
    clusters = cluster_points(np.vstack([bumper, walker]).astype(np.float32), None)
    assert clusters.count == 2
    assert len(np.unique(clusters.labels[:400])) == 1 and clusters.labels[0] != clusters.labels[-1]
