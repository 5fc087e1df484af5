"""``s2mat map`` and ``s2mat eval`` on simulated KITTI folders and rosbags; bad input and interrupted runs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from s2mat.cli import app
from s2mat.sim import simulate

runner = CliRunner()
FRAMES = 8
OUTPUTS = ("static_map.ply", "static_map.json", "poses_kitti.txt", "poses_tum.txt", "tracks.jsonl",
           "tracks_kitti.txt", "timing.jsonl", "config.yaml", "report.html", "metrics.json")


def _sequence(frames: int = FRAMES):
    return simulate("street", sensor="hdl64", frames=frames, seed=4, columns=1024, camera=False)


@pytest.fixture(scope="module")
def kitti_dir(tmp_path_factory):
    return _sequence().write(tmp_path_factory.mktemp("data") / "kitti", format="kitti")


@pytest.fixture(scope="module")
def kitti_run(kitti_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "kitti"
    result = runner.invoke(app, ["map", str(kitti_dir), "--out", str(out), "--sensor", "hdl64"])
    return out, result


def _poses(path):
    return np.loadtxt(path, ndmin=2)


def test_map_of_a_kitti_folder_writes_every_output_and_valid_metrics(kitti_run):
    out, result = kitti_run
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (out / name).is_file(), f"{name} missing"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"static_map", "tracking", "odometry", "timing"}
    # Judged against the simulator's ground truth: the static world is kept, and even in eight
    # frames (the first scan enters the map before anything is known to move) most of the
    # moving objects' points are kept out.
    assert metrics["static_map"]["sa"] > 90 and metrics["static_map"]["da"] > 40
    assert metrics["odometry"]["ate_m"] < 0.2
    assert metrics["timing"]["frames"] == FRAMES and metrics["timing"]["median_ms"] > 0
    assert _poses(out / "poses_kitti.txt").shape == (FRAMES, 12)
    assert _poses(out / "poses_tum.txt").shape == (FRAMES, 8)
    lines = (out / "tracks.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(FRAMES))
    for record in (json.loads(line) for line in lines):
        for track in record["tracks"]:
            assert {"id", "class", "center", "size", "yaw", "velocity", "moving"} <= set(track)
    assert "ATE" in result.output and "report:" in result.output


def test_eval_rescores_existing_outputs_to_the_same_numbers(kitti_run, kitti_dir):
    out, _ = kitti_run
    result = runner.invoke(app, ["eval", str(out), "--data", str(kitti_dir)])
    assert result.exit_code == 0, result.output
    from s2mat.datasets import open_dataset
    from s2mat.evaluation.run import evaluate_outputs

    again, frames = evaluate_outputs(out, open_dataset(kitti_dir))
    written = json.loads((out / "metrics.json").read_text())
    assert frames == FRAMES
    for section, key in (("static_map", "sa"), ("static_map", "da"), ("odometry", "ate_m"), ("tracking", "MOTA")):
        assert again[section][key] == pytest.approx(written[section][key], abs=1e-6)


def test_map_of_a_rosbag_writes_every_output(tmp_path):
    bag = _sequence(5).write(tmp_path / "bag", format="rosbag")
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", str(bag), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in OUTPUTS[:-1]:
        assert (out / name).is_file(), f"{name} missing"
    assert _poses(out / "poses_kitti.txt").shape == (5, 12)
    if (out / "metrics.json").is_file():  # the bag carries ground-truth odometry
        assert json.loads((out / "metrics.json").read_text())["odometry"]["ate_m"] < 0.2


def test_a_wrong_path_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["map", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no such file or folder" in " ".join(result.output.split())
    result = runner.invoke(app, ["eval", str(tmp_path / "nowhere"), "--data", str(tmp_path)])
    assert result.exit_code == 2


def test_a_bag_without_point_clouds_is_a_clear_error(tmp_path):
    from rosbags.typesys import Stores, get_typestore

    from s2mat.datasets.rosbag import BagWriter

    store = get_typestore(Stores.ROS2_HUMBLE)
    String = store.types["std_msgs/msg/String"]
    with BagWriter(tmp_path / "bag") as bag:
        bag.write("/chatter", String(data="hello"), 1_000_000_000)
    result = runner.invoke(app, ["map", str(tmp_path / "bag"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no sensor_msgs/msg/PointCloud2 topic" in " ".join(result.output.split())


def test_a_folder_mixing_scan_formats_is_a_clear_error(tmp_path):
    from s2mat.datasets.kitti import write_bin
    from s2mat.datasets.pcd import write_pcd

    frame = next(iter(_sequence(1)))
    write_bin(tmp_path / "000000.bin", frame.points)
    write_pcd(tmp_path / "000001.pcd", frame.points)
    result = runner.invoke(app, ["map", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "mixes scan formats" in " ".join(result.output.split())


def test_a_frame_without_points_is_skipped_and_logged(kitti_dir, tmp_path, caplog):
    from s2mat.config import preset
    from s2mat.datasets import open_dataset
    from s2mat.run import run_dataset

    frames = list(open_dataset(kitti_dir))[:4]
    frames[2].points = frames[2].points[:0]
    for name in ("intensity", "times"):
        if getattr(frames[2], name) is not None:
            setattr(frames[2], name, getattr(frames[2], name)[:0])
    frames[2].ground_truth = None

    class Frames(list):
        path, name = kitti_dir, "test"

    with caplog.at_level(logging.WARNING):
        summary = run_dataset(Frames(frames), preset("hdl64"), tmp_path / "out")
    assert "has no points; skipped" in caplog.text
    assert (summary.frames, summary.skipped) == (3, 1)
    assert _poses(tmp_path / "out" / "poses_kitti.txt").shape == (3, 12)
    records = [json.loads(x) for x in (tmp_path / "out" / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 3]


def test_an_exception_mid_run_leaves_valid_outputs(kitti_dir, tmp_path, monkeypatch):
    from mapping.static_map import StaticMap
    from s2mat.config import preset
    from s2mat.datasets import open_dataset
    from s2mat.pipeline import S2MAT
    from s2mat.run import run_dataset

    real_step = S2MAT.step

    def failing_step(self, frame):
        if self.frames == 3:
            raise KeyboardInterrupt
        return real_step(self, frame)

    monkeypatch.setattr(S2MAT, "step", failing_step)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_dataset(open_dataset(kitti_dir), preset("hdl64"), out)
    assert _poses(out / "poses_kitti.txt").shape == (3, 12)
    assert _poses(out / "poses_tum.txt").shape == (3, 8)
    assert len([json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]) == 3
    loaded = StaticMap.load(out / "static_map.ply")
    assert len(loaded.points()) > 1000
    # The partial run can still be scored against the same data.
    result = runner.invoke(app, ["eval", str(out), "--data", str(kitti_dir)])
    assert result.exit_code == 0, result.output
    assert "3 frames" in result.output
