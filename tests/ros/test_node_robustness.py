"""Malformed clouds are logged and dropped, the graph keeps working; stamps follow the input under
use_sim_time, and a replay that jumps back in time resets the graph cleanly."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat.sim import simulate  # noqa: E402
from tests.ros.harness import Listener, domain_id, start_graph, start_replay, stop, write_params  # noqa: E402

pytestmark = pytest.mark.ros


def _bad_clouds(good: PointCloud2, stamp: float) -> dict[str, PointCloud2]:
    frame = pc2.to_frame(good)
    frame.timestamp = stamp

    def fresh() -> PointCloud2:
        return pc2.from_frame(frame, frame_id="lidar", backend="rclpy")

    short = fresh()
    short.data = bytes(short.data)[: len(short.data) // 2]
    wrong_step = fresh()
    wrong_step.point_step = 8  # fields reach beyond it
    nan = fresh()
    nan_cloud = pc2.decode(nan).copy()
    nan_cloud["x"] = np.nan
    nan.data = nan_cloud.tobytes()
    empty = pc2.encode(pc2.frame_cloud(frame)[:0], stamp=stamp, frame_id="lidar", backend="rclpy")
    int_x = fresh()
    int_x.fields[0].datatype = pc2.INT32
    return {"short data": short, "wrong point_step": wrong_step, "NaN coordinates": nan, "zero points": empty,
            "non-float x": int_x}


def _dropped_lines(text):
    return [line for line in text.splitlines() if "[mapping]" in line and "dropped a malformed PointCloud2" in line]


def _dropped(log):
    return len(_dropped_lines(log.read_text())) if log.exists() else 0


def test_malformed_clouds_are_logged_and_dropped_and_the_graph_keeps_going(tmp_path):
    seq = simulate("street", sensor="vlp16", frames=4, seed=1, columns=512, camera=False)
    domain = domain_id(2)
    params = write_params(tmp_path / "params.yaml", max_pending=100, lockstep_timeout=20.0)
    listener = Listener(domain)
    node = listener.node
    publisher = node.create_publisher(PointCloud2, "/points", qos_profile_sensor_data)
    log = tmp_path / "graph.log"
    graph = start_graph(params, domain, log, processes=False)  # composed: one process, an executor thread per node
    try:
        assert listener.wait_for_graph(60), log.read_text()
        listener.spin_until(lambda: False, 1.0)
        good = [pc2.from_frame(f, frame_id="lidar", backend="rclpy") for f in seq]
        sent_bad = 0
        for i, msg in enumerate(good):
            publisher.publish(msg)
            assert listener.spin_until(lambda i=i: len(listener.odometry) > i, 30), log.read_text()[-2000:]
            if i < len(good) - 1:
                stamp = seq[i].timestamp + 0.05
                for bad in _bad_clouds(msg, stamp).values():
                    publisher.publish(bad)
                    sent_bad += 1
                    # Each one is logged before the next goes out: a node busy with a frame must
                    # not lose a queued best-effort cloud to the test's pace.
                    assert listener.spin_until(lambda n=sent_bad: _dropped(log) >= n, 30), log.read_text()[-2000:]
        assert listener.spin_until(lambda: len(listener.tracks) >= len(good), 30)
        assert graph.poll() is None, "the graph process died"
    finally:
        rc = stop(graph)
        listener.close()
    text = log.read_text()
    assert rc == 0, text[-2000:]
    # Only the good clouds produced output, each once, stamped as its input.
    assert [s for s, _ in listener.odometry] == [round(f.timestamp * 1e9) for f in seq]
    dropped = _dropped_lines(text)
    assert len(dropped) == 5 * (len(good) - 1), text[-3000:]
    for reason in ("shorter than row_step", "beyond point_step", "finite x, y, z", "no points", "FLOAT32 or FLOAT64"):
        assert any(reason in line for line in dropped), reason


def test_sim_time_stamps_equal_input_and_a_replay_jumping_back_resets(tmp_path):
    frames = 6
    bag = tmp_path / "bag"
    simulate("street", sensor="vlp16", frames=frames, seed=4, columns=1024, camera=False).write(bag, format="rosbag")
    domain = domain_id(3)
    params = write_params(tmp_path / "params.yaml", max_pending=1000, lockstep_timeout=20.0, input_reliable=True)
    listener = Listener(domain)
    log = tmp_path / "graph.log"
    graph = start_graph(params, domain, log, processes=True, sim_time=True)
    try:
        assert listener.wait_for_graph(60), log.read_text()
        # --loop plays the bag again: bag time jumps back to the first stamp.
        replay = start_replay(bag, domain, "--rate", "0.25", "--delay", "1", "--wait-for", "/points", "--loop", "--clock")
        assert listener.spin_until(lambda: len(listener.odometry) >= 2 * frames and len(listener.tracks) >= 2 * frames,
                                   90), log.read_text()[-2000:]
        replay.terminate()
        replay.communicate(timeout=20)
    finally:
        rc = stop(graph)
        listener.close()
    text = log.read_text()
    assert rc == 0, text[-2000:]
    stamps = [s for s, _ in listener.odometry[: 2 * frames]]
    first = stamps[:frames]
    assert stamps[frames:] == first, "the second loop must carry the same input stamps"
    assert [s for s, _ in listener.tracks[: 2 * frames]] == stamps
    assert "back in time" in text
    # A clean reset: the second loop starts a new world frame and repeats the first loop exactly.
    loop1 = np.stack([p for _, p in listener.odometry[:frames]])
    loop2 = np.stack([p for _, p in listener.odometry[frames: 2 * frames]])
    np.testing.assert_allclose(loop2[0], np.eye(4), atol=1e-9)
    np.testing.assert_allclose(loop2, loop1, atol=1e-6)
    assert np.linalg.norm(loop1[-1][:3, 3]) > 2.0
    ids1 = [[t["id"] for t in rec["tracks"]] for _, rec in listener.tracks[:frames]]
    ids2 = [[t["id"] for t in rec["tracks"]] for _, rec in listener.tracks[frames: 2 * frames]]
    assert ids1 == ids2
