"""Readers on real data and on files written in the test, including every malformed case."""

from __future__ import annotations

import numpy as np
import pytest

from s2mat.datasets import open_dataset
from s2mat.datasets.kitti import write_bin
from s2mat.datasets.pcd import read_pcd, write_pcd
from s2mat.datasets.ply import read_ply, write_ply
from s2mat.datasets.poses import (
    read_kitti_poses,
    read_tum_poses,
    write_kitti_poses,
    write_tum_poses,
)
from s2mat.errors import CorruptFileError, DatasetError


def test_udacity_scans_read_as_a_scan_folder_of_22_frames(udacity_dir):
    dataset = open_dataset(udacity_dir)
    assert dataset.name == "scan-folder"
    assert len(dataset) == 22
    frames = list(dataset)
    counts = [len(f) for f in frames]
    assert 100_000 <= min(counts) and max(counts) <= 124_000  # the README's 100-124k points
    assert all(f.points.dtype == np.float32 and f.intensity is not None for f in frames)
    assert np.isfinite(frames[0].points).all()
    assert not dataset.has_ground_truth
    # ten frames a second, in order
    np.testing.assert_allclose(np.diff([f.timestamp for f in frames]), 0.1)


def test_registration_pair_ply_files_read_with_intensity(registration_pair_dir):
    source = read_ply(registration_pair_dir / "source.ply")
    target = read_ply(registration_pair_dir / "target.ply")
    assert 60_000 < len(source) < 80_000 and 60_000 < len(target) < 80_000
    assert "scalar_intensity" in source.dtype.names
    dataset = open_dataset(registration_pair_dir)
    assert len(dataset) == 2
    assert dataset[0].intensity is not None


def _kitti_sequence(root, n=3, labels=True):
    rng = np.random.default_rng(0)
    (root / "velodyne").mkdir(parents=True)
    if labels:
        (root / "labels").mkdir()
    tr = np.array([[0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27]], dtype=float)  # KITTI-like cam0_T_velo
    (root / "calib.txt").write_text(
        "".join(f"P{i}: " + " ".join(["721.5", "0", "609.5", "0", "0", "721.5", "172.8", "0", "0", "0", "1", "0"]) + "\n"
                for i in range(4)) + "Tr: " + " ".join(str(v) for v in tr.reshape(-1)) + "\n")
    lidar_poses = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, 3] = [2.0 * i, 0.1 * i, 0.0]
        c, s = np.cos(0.05 * i), np.sin(0.05 * i)
        pose[:2, :2] = [[c, -s], [s, c]]
        lidar_poses.append(pose)
        pts = rng.normal(size=(100 + i, 3)).astype(np.float32)
        write_bin(root / "velodyne" / f"{i:06d}.bin", pts, rng.random(len(pts)))
        if labels:
            semantic = np.where(np.arange(len(pts)) % 2, 252, 40).astype(np.uint32)
            (semantic | (np.uint32(7) << 16)).astype("<u4").tofile(root / "labels" / f"{i:06d}.label")
    cam_T_lidar = np.vstack([tr, [0, 0, 0, 1]])
    cam_poses = [cam_T_lidar @ p @ np.linalg.inv(cam_T_lidar) for p in lidar_poses]
    write_kitti_poses(root / "poses.txt", np.stack(cam_poses))
    (root / "times.txt").write_text("".join(f"{0.1 * i:.6f}\n" for i in range(n)))
    return np.stack(lidar_poses)


def test_kitti_folder_converts_camera_poses_back_to_lidar_poses(tmp_path):
    lidar_poses = _kitti_sequence(tmp_path / "seq")
    dataset = open_dataset(tmp_path / "seq")
    assert dataset.name == "kitti" and len(dataset) == 3
    np.testing.assert_allclose(dataset.gt_poses(), lidar_poses, atol=1e-6)
    frame = dataset[2]
    assert len(frame) == 102
    assert frame.ground_truth.moving.sum() == 51
    assert set(np.unique(frame.ground_truth.instance)) == {7}
    np.testing.assert_allclose(frame.ground_truth.pose, lidar_poses[2], atol=1e-6)


def test_truncated_bin_and_label_mismatch_name_the_file(tmp_path):
    _kitti_sequence(tmp_path / "seq")
    scan = tmp_path / "seq" / "velodyne" / "000001.bin"
    scan.write_bytes(scan.read_bytes()[:-6])
    dataset = open_dataset(tmp_path / "seq")
    with pytest.raises(CorruptFileError, match=r"000001\.bin: .* not a whole number of 16-byte points"):
        dataset[1]
    label = tmp_path / "seq" / "labels" / "000002.label"
    label.write_bytes(label.read_bytes()[:-4])
    with pytest.raises(CorruptFileError, match=r"000002\.label: 101 labels for 102 points"):
        dataset[2]


def test_pcd_round_trip_keeps_fields_and_viewpoint(tmp_path):
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(40, 3)).astype(np.float32)
    pose = np.eye(4)
    pose[:3, 3] = [1, 2, 3]
    pose[:2, :2] = [[0, -1], [1, 0]]
    for binary in (True, False):
        path = tmp_path / f"scan_{binary}.pcd"
        write_pcd(path, pts, {"intensity": rng.random(40).astype(np.float32), "label": np.arange(40, dtype=np.uint16)},
                  viewpoint=pose, binary=binary)
        cloud, header = read_pcd(path)
        np.testing.assert_allclose(np.stack([cloud["x"], cloud["y"], cloud["z"]], 1), pts, rtol=1e-6)
        np.testing.assert_array_equal(cloud["label"], np.arange(40))
        np.testing.assert_allclose(header.viewpoint, pose, atol=1e-7)


@pytest.mark.parametrize(
    ("mangle", "fragment"),
    [
        (lambda t: t.replace(b"FIELDS x y z intensity", b"FIELDS x y z"), "4 SIZE"),
        (lambda t: t.replace(b"TYPE F F F F", b"TYPE F F Q F"), "unsupported TYPE Q"),
        (lambda t: t.replace(b"POINTS 20", b"POINTS 21"), "POINTS 21 differs"),
        (lambda t: t.replace(b"WIDTH 20", b"WIDTH twenty"), "non-numeric"),
        (lambda t: t.split(b"DATA")[0], "ended before the DATA line"),
        (lambda t: t[:-10], "truncated"),
    ],
)
def test_broken_pcd_raises_corrupt_file_error_naming_the_file(tmp_path, mangle, fragment):
    good = tmp_path / "good.pcd"
    write_pcd(good, np.zeros((20, 3)), {"intensity": np.zeros(20, np.float32)})
    bad = tmp_path / "bad.pcd"
    bad.write_bytes(mangle(good.read_bytes()))
    with pytest.raises(CorruptFileError, match="bad.pcd") as info:
        read_pcd(bad)
    assert fragment in str(info.value)


def test_ply_round_trip_and_truncation(tmp_path):
    pts = np.arange(30, dtype=np.float32).reshape(10, 3)
    write_ply(tmp_path / "a.ply", pts, {"intensity": np.ones(10, np.float32)})
    cloud = read_ply(tmp_path / "a.ply")
    np.testing.assert_array_equal(cloud["y"], pts[:, 1])
    (tmp_path / "b.ply").write_bytes((tmp_path / "a.ply").read_bytes()[:-3])
    with pytest.raises(CorruptFileError, match="b.ply: PLY vertex data is truncated"):
        read_ply(tmp_path / "b.ply")


def test_path_errors_are_specific(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        open_dataset(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_pcd(mixed / "0.pcd", np.zeros((3, 3)))
    write_bin(mixed / "1.bin", np.zeros((3, 3)))
    with pytest.raises(DatasetError, match=r"mixes scan formats \(1 \.bin, 1 \.pcd\)"):
        open_dataset(mixed)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a rosbag2"):
        open_dataset(tmp_path / "notes.txt")


def test_pose_files_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    from scipy.spatial.transform import Rotation

    poses = np.tile(np.eye(4), (6, 1, 1))
    poses[:, :3, :3] = Rotation.from_rotvec(rng.normal(size=(6, 3)) * 0.3).as_matrix()
    poses[:, :3, 3] = rng.normal(size=(6, 3)) * 10
    write_kitti_poses(tmp_path / "p.txt", poses)
    np.testing.assert_allclose(read_kitti_poses(tmp_path / "p.txt"), poses, atol=1e-8)
    stamps = np.arange(6) * 0.1 + 1e9
    write_tum_poses(tmp_path / "p.tum", stamps, poses)
    t, back = read_tum_poses(tmp_path / "p.tum")
    np.testing.assert_allclose(t, stamps)
    np.testing.assert_allclose(back, poses, atol=1e-8)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(CorruptFileError, match=r"bad.txt:1: a KITTI pose line needs 12 numbers, found 3"):
        read_kitti_poses(tmp_path / "bad.txt")
