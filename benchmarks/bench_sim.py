"""Simulator speed: frames per second of the LiDAR (and camera), per scenario, against a
rebuild-the-scene-every-frame baseline measured in the same run; plus the share of moving points.

    python benchmarks/bench_sim.py [--frames 30] [--columns 2048]

Target: ``hdl64`` at 2048 columns, street scenario, LiDAR only, at 20 frames per second or more.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import open3d as o3d

from s2mat.sim import SCENARIOS, simulate

TARGET_FPS = 20.0


def rebuild_baseline(seq, frames: int) -> float:
    """Frames per second when every frame merges the posed agent meshes into a fresh scene and
    casts every ray against it (no motion during the sweep): the straightforward alternative."""
    world, scanner = seq.world, seq.scanner
    dirs = scanner.dirs.reshape(-1, 3)
    start = time.perf_counter()
    for index in range(frames):
        t = seq.timestamp(index)
        verts, tris, offset = [world.vertices], [world.triangles], len(world.vertices)
        for agent in world.agents:
            pos, yaw = agent.trajectory.pose(np.array([t]))
            c, s = np.cos(yaw[0]), np.sin(yaw[0])
            v, f = agent.mesh
            verts.append(v @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + pos[0])
            tris.append(f + offset)
            offset += len(v)
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(np.vstack(verts).astype(np.float32)),
                            o3d.core.Tensor(np.vstack(tris).astype(np.uint32)))
        pose = seq.map_T_sensor(t)
        rays = np.empty((len(dirs), 6), np.float32)
        rays[:, :3] = pose[:3, 3]
        rays[:, 3:] = dirs @ pose[:3, :3].T
        result = scene.cast_rays(o3d.core.Tensor(rays))
        result["t_hit"].numpy()
    return frames / (time.perf_counter() - start)


def fps(seq, frames: int) -> tuple[float, float]:
    """Frames per second of producing full frames, and the share of moving points."""
    seq[0]  # warm up
    start = time.perf_counter()
    moving = total = 0
    for index in range(frames):
        frame = seq[index]
        moving += int(frame.ground_truth.moving.sum())
        total += len(frame)
    return frames / (time.perf_counter() - start), moving / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--columns", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"s2mat simulator benchmark: hdl64, {args.columns} columns, {args.frames} frames, "
          f"open3d threads auto\n")
    print(f"{'scenario':18s} {'lidar fps':>10s} {'+camera fps':>12s} {'rebuild fps':>12s} {'speed-up':>9s} "
          f"{'moving pts':>11s} {'points/frame':>13s}")
    street_fps = None
    for name in SCENARIOS:
        seq = simulate(name, sensor="hdl64", frames=args.frames, seed=args.seed, columns=args.columns, camera=False)
        lidar, share = fps(seq, args.frames)
        cam_seq = simulate(name, sensor="hdl64", frames=args.frames, seed=args.seed, columns=args.columns,
                           camera=True)
        with_camera, _ = fps(cam_seq, max(5, args.frames // 3))
        baseline = rebuild_baseline(seq, max(5, args.frames // 3))
        points = len(seq[0])
        print(f"{name:18s} {lidar:10.1f} {with_camera:12.1f} {baseline:12.1f} {lidar / baseline:8.2f}x "
              f"{100 * share:10.2f}% {points:13d}")
        if name == "street":
            street_fps = lidar
    assert street_fps is not None
    verdict = "meets" if street_fps >= TARGET_FPS else f"misses by {100 * (1 - street_fps / TARGET_FPS):.0f}%"
    print(f"\nstreet hdl64@{args.columns}: {street_fps:.1f} frames/s against the {TARGET_FPS:.0f} frames/s target "
          f"({verdict})")


if __name__ == "__main__":
    main()
