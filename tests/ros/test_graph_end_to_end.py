"""A simulated rosbag replayed into the mapping and perception nodes running as separate processes
gives the same poses and moving tracks as the offline ``s2mat map`` on the same bag."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from s2mat.config import S2MATConfig  # noqa: E402
from s2mat.datasets import open_dataset  # noqa: E402
from s2mat.outputs import read_tracks_jsonl  # noqa: E402
from s2mat.run import run_dataset  # noqa: E402
from s2mat.sim import simulate  # noqa: E402
from s2mat_ros.outputs import pose_matrix  # noqa: E402
from tests.ros.harness import (  # noqa: E402
    Listener,
    domain_id,
    map_points,
    node_stats,
    pc2_stamp,
    start_graph,
    start_replay,
    stop,
    write_params,
)

pytestmark = pytest.mark.ros
FRAMES = 15


@pytest.fixture(scope="module")
def street_bag(tmp_path_factory):
    # vlp16 scans (~15k points) fit Fast DDS's shared-memory segment, so best-effort delivery is
    # lossless here and every frame reaches the nodes, as it reaches the offline run.
    out = tmp_path_factory.mktemp("bag") / "street"
    simulate("street", sensor="vlp16", frames=FRAMES, seed=3, columns=1024, camera=False).write(out, format="rosbag")
    return out


def _offline(bag, out):
    run_dataset(open_dataset(bag), S2MATConfig(), out)
    poses = np.loadtxt(out / "poses_kitti.txt").reshape(-1, 3, 4)
    tracks = read_tracks_jsonl(out / "tracks.jsonl")
    return poses, tracks


def _moving_ids(records):
    return {t["id"] for frame in records for t in frame if t["moving"]}


def test_replayed_bag_through_separate_node_processes_equals_offline_map(street_bag, tmp_path):
    domain = domain_id(1)
    params = write_params(tmp_path / "params.yaml", max_pending=1000, lockstep_timeout=30.0, map_update_period=0.5,
                          path_period=0.0, input_reliable=True)
    listener = Listener(domain)
    graph = start_graph(params, domain, tmp_path / "graph.log", processes=True)
    try:
        assert listener.wait_for_graph(60), "the node processes did not come up: " + (tmp_path / "graph.log").read_text()
        # Four times real time: clouds queue up, so frames begin while the last one is tracked.
        replay = start_replay(street_bag, domain, "--rate", "4", "--delay", "1", "--wait-for", "/points")
        done = listener.spin_until(lambda: len(listener.odometry) >= FRAMES and len(listener.tracks) >= FRAMES, 90)
        listener.spin_until(lambda: False, 1.0)  # the last map update
        out, _ = replay.communicate(timeout=30)
        assert done, f"got {len(listener.odometry)} poses, {len(listener.tracks)} track lists of {FRAMES}: " \
                     + (tmp_path / "graph.log").read_text()[-3000:]
    finally:
        rc = stop(graph)
        listener.close()
    log = (tmp_path / "graph.log").read_text()
    assert rc == 0, log[-3000:]
    stats = node_stats(log, "mapping")
    assert stats["processed"] == FRAMES and stats["skipped"] == 0
    assert stats["overlapped"] > 0, "no frame began while the last one was tracked: the overlap went untested"

    poses, offline_tracks = _offline(street_bag, tmp_path / "offline")
    assert len(poses) == FRAMES
    stamps = [s for s, _ in listener.odometry]
    assert stamps == sorted(stamps) and len(set(stamps)) == FRAMES
    online = np.stack([p[:3, :] for _, p in listener.odometry])
    gaps = np.linalg.norm(online[:, :, 3] - poses[:, :, 3], axis=1)
    assert gaps.max() < 0.01, f"online poses differ from offline by up to {gaps.max():.4f} m"
    assert np.abs(online[:, :, :3] - poses[:, :, :3]).max() < 1e-3
    # The ego vehicle really moved, so agreement is not trivial.
    assert np.linalg.norm(poses[-1, :, 3]) > 5.0
    # The path (published every frame here) ends with every pose of the run, as the odometry gave them.
    path = listener.paths[-1]
    assert path.header.frame_id == "map" and [pc2_stamp(p.header.stamp) for p in path.poses] == stamps
    along = np.stack([pose_matrix(p.pose)[:3, :] for p in path.poses])
    assert np.abs(along - online).max() < 1e-9

    online_tracks = [rec["tracks"] for _, rec in listener.tracks]
    offline_frames = [offline_tracks.get(i, []) for i in sorted(offline_tracks)]
    assert _moving_ids(offline_frames), "the offline run tracked no moving object"
    assert _moving_ids(online_tracks) == _moving_ids(offline_frames)
    for got, want in zip(online_tracks, offline_frames, strict=True):
        assert [t["id"] for t in got] == [t["id"] for t in want]
        for a, b in zip(got, want, strict=True):
            assert np.allclose(a["center"], b["center"], atol=0.01)

    # The map arrived incrementally: the union of the updates covers the last full snapshot.
    assert listener.updates and listener.maps
    updates = np.concatenate([map_points(m) for m in listener.updates])
    assert len(updates) >= len(map_points(listener.maps[-1])) > 1000


def test_the_whole_map_waits_for_a_subscriber_and_is_then_the_last_frames(street_bag, tmp_path):
    """With nobody subscribed the node builds no whole map; one that subscribes after the drive
    gets the map of the last frame at once, not the one of the frame it fell due at."""
    domain = domain_id(2)
    params = write_params(tmp_path / "params.yaml", max_pending=1000, lockstep_timeout=30.0, input_reliable=True)
    listener = Listener(domain, whole_map=False)
    graph = start_graph(params, domain, tmp_path / "graph.log", processes=True)
    try:
        assert listener.wait_for_graph(60), "the graph did not come up: " + (tmp_path / "graph.log").read_text()
        replay = start_replay(street_bag, domain, "--delay", "1", "--wait-for", "/points")
        done = listener.spin_until(lambda: len(listener.odometry) >= FRAMES, 90)
        replay.communicate(timeout=30)
        assert done, f"got {len(listener.odometry)} poses of {FRAMES}: " + (tmp_path / "graph.log").read_text()[-3000:]
        listener.spin_until(lambda: False, 1.0)  # the last frame is finished
        listener.subscribe_whole_map()
        got = listener.spin_until(lambda: bool(listener.maps), 10)
        listener.spin_until(lambda: False, 1.0)  # nothing more: the map is published once
    finally:
        rc = stop(graph)
        listener.close()
    assert rc == 0, (tmp_path / "graph.log").read_text()[-3000:]
    assert got and len(listener.maps) == 1
    whole = listener.maps[0]
    # Due at the first frame (map_full_period 10 s is longer than the drive), published after the last.
    assert pc2_stamp(whole.header.stamp) == listener.odometry[-1][0]
    # Its content is the last frame's too: more than every update (the last one came at 1 s) held.
    updates = np.concatenate([map_points(m) for m in listener.updates])
    assert len(map_points(whole)) > len(updates) > 1000
