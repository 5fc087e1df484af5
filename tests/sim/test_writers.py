"""Every output format is read back by s2mat's own readers with its ground truth, byte-identical
across runs, and refuses to overwrite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from s2mat.datasets import open_dataset
from s2mat.datasets.pcd import read_pcd
from s2mat.errors import ConfigError, OutputExistsError
from s2mat.sim import simulate
from s2mat.sim.writers import deskewed_world_points


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["kitti", "dynamicmap", "rosbag"])
def test_every_format_is_read_back_with_its_ground_truth(street, written, fmt):
    ds = open_dataset(written[fmt])
    assert len(ds) == len(street)
    assert np.allclose(ds.gt_poses(), street.gt_poses(), atol=1e-6)
    for index in (0, 5):
        got, want = ds[index], street[index]
        assert len(got) == len(want)
        assert got.timestamp == pytest.approx(want.timestamp, abs=1e-6)
        boxes = {b.instance_id: b for b in got.ground_truth.boxes}
        assert boxes.keys() == {b.instance_id for b in want.ground_truth.boxes}
        for b in want.ground_truth.boxes:
            assert np.allclose(boxes[b.instance_id].box.center, b.box.center, atol=1e-5)
            assert boxes[b.instance_id].moving == b.moving
        if fmt == "dynamicmap":
            # Frames are stored deskewed in world coordinates; the reader brings them into the sensor frame.
            world = deskewed_world_points(street, want)
            pose = want.ground_truth.pose
            back = got.points.astype(np.float64) @ pose[:3, :3].T + pose[:3, 3]
            assert np.abs(back - world).max() < 1e-3
        else:
            assert np.array_equal(got.points, want.points)
            assert np.allclose(got.intensity, want.intensity)
        if fmt == "kitti":
            assert np.array_equal(got.ground_truth.semantic, want.ground_truth.semantic)
            assert np.array_equal(got.ground_truth.instance, want.ground_truth.instance)
            assert np.array_equal(got.ground_truth.moving, want.ground_truth.moving)
        if fmt == "rosbag":
            assert np.array_equal(got.times, want.times)
        if fmt in ("kitti", "rosbag"):
            assert np.array_equal(got.image, want.image)
            assert np.allclose(got.camera.K, want.camera.K)
        if fmt == "kitti":
            assert np.allclose(got.camera.camera_T_lidar, want.camera.camera_T_lidar)


def test_dynamicmap_ground_truth_map_marks_exactly_the_moving_points(street, written):
    gt, _ = read_pcd(written["dynamicmap"] / "gt_cloud.pcd")
    labels = np.concatenate([f.ground_truth.moving for f in street]).astype(np.float32)
    assert np.array_equal(gt["intensity"], labels)
    assert 0 < labels.mean() < 0.5


def test_kitti_static_world_is_written_and_dense(street, written):
    cloud, _ = read_pcd(written["kitti"] / "static_world.pcd")
    assert len(cloud) == len(street.static_world) > 100_000


def test_same_arguments_give_byte_identical_files(tmp_path):
    digests = []
    for run in range(2):
        seq = simulate("crowd", sensor="vlp16", frames=3, seed=11, columns=360)
        for fmt in ("kitti", "dynamicmap", "rosbag"):
            seq.write(tmp_path / f"{run}" / fmt, format=fmt)
        digests.append(_digest(tmp_path / f"{run}"))
    assert digests[0] == digests[1]
    other = simulate("crowd", sensor="vlp16", frames=3, seed=12, columns=360)
    other.write(tmp_path / "other", format="kitti")
    assert _digest(tmp_path / "other")["velodyne/000000.bin"] != digests[0]["kitti/velodyne/000000.bin"]


def test_random_access_equals_iteration():
    seq = simulate("street", sensor="vlp16", frames=4, seed=1, columns=360, camera=False)
    frames = list(seq)
    assert np.array_equal(seq[2].points, frames[2].points)
    assert np.array_equal(seq[-1].ground_truth.semantic, frames[3].ground_truth.semantic)


def test_a_non_empty_output_is_refused_and_left_untouched(tmp_path):
    seq = simulate("street", sensor="vlp16", frames=2, seed=1, columns=360, camera=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        seq.write(out, format="kitti")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    seq.write(out, format="kitti", overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "velodyne" / "000001.bin").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    seq = simulate("street", sensor="vlp16", frames=3, seed=1, columns=360, camera=False)

    def broken(frames):
        for i, frame in enumerate(frames):
            if i == 2:
                raise RuntimeError("disk full")
            yield frame

    with pytest.raises(RuntimeError):
        seq.write(tmp_path / "out", format="dynamicmap", progress=broken)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"scenario": "motorway"}, "unknown scenario"),
    ({"sensor": "hdl32"}, "unknown sensor preset"),
    ({"frames": 0}, "frames must be a positive"),
    ({"frames": -3}, "frames must be a positive"),
    ({"columns": 3}, "columns"),
])
def test_bad_arguments_raise_config_errors(kwargs, message):
    args = {"scenario": "street", "sensor": "vlp16", "frames": 2} | kwargs
    with pytest.raises(ConfigError, match=message):
        simulate(args.pop("scenario"), **args)


def test_unknown_format_is_refused(tmp_path):
    seq = simulate("street", sensor="vlp16", frames=1, columns=360, camera=False)
    with pytest.raises(ConfigError, match="unknown output format"):
        seq.write(tmp_path / "x", format="las")
    assert list(tmp_path.iterdir()) == []
