"""Speed of the perception front end (ground + clustering + detection) on real scans.

As in the loop, each scan is first turned into the perception frame by the near ground's tilt
measured so far (these scans lean about 1.2 degrees, so they are turned).

Runs s2mat's front end on the 22 real 64-beam scans of ``../shared/data/udacity_city_22``
and, as the peer, the classic pipeline of RANSAC ground plane + DBSCAN clustering from
open3d on the same scans, and prints median milliseconds per scan and the ratio.

    .venv/bin/python benchmarks/bench_frontend.py [--repeats 5] [--peer-repeats 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perception.config import ClusteringConfig, DetectionConfig, GroundConfig  # noqa: E402
from perception.detection import detect_objects  # noqa: E402
from perception.ground import fit_ground  # noqa: E402
from perception.levelling import Levelling  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "udacity_city_22"
TARGET_MS = 15.0


def load_scans() -> list[np.ndarray]:
    try:
        from s2mat.datasets import open_dataset

        return [frame.points for frame in open_dataset(DATA)]
    except ImportError:  # the dataset readers are optional for this benchmark
        import open3d as o3d

        return [o3d.t.io.read_point_cloud(str(p)).point.positions.numpy() for p in sorted(DATA.glob("*.pcd"))]


def run_s2mat(scans: list[np.ndarray], repeats: int) -> dict[str, list[float]]:
    g_cfg, c_cfg, d_cfg = GroundConfig(), ClusteringConfig(), DetectionConfig()
    times: dict[str, list[float]] = {"ground": [], "detect": [], "total": [], "cpu": [], "detections": []}
    for _ in range(repeats):
        levelling = Levelling()
        for scan in scans:
            c0 = time.process_time()
            t0 = time.perf_counter()
            pts = levelling.to_perception(scan)
            ground = fit_ground(pts, g_cfg)
            levelling.update(ground.tilt)
            t1 = time.perf_counter()
            out = detect_objects(pts, ground, d_cfg, clustering=c_cfg)
            t2 = time.perf_counter()
            c2 = time.process_time()
            times["ground"].append((t1 - t0) * 1e3)
            times["detect"].append((t2 - t1) * 1e3)
            times["total"].append((t2 - t0) * 1e3)
            times["cpu"].append((c2 - c0) * 1e3)
            times["detections"].append(len(out.detections))
    return times


def run_peer(scans: list[np.ndarray], repeats: int) -> list[float]:
    """RANSAC plane (0.2 m) + DBSCAN (eps 0.5 m, 8 points) of open3d, within 50 m."""
    import open3d as o3d

    out = []
    for _ in range(repeats):
        for pts in scans:
            t0 = time.perf_counter()
            pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
            _, inliers = pcd.segment_plane(distance_threshold=0.2, ransac_n=3, num_iterations=100)
            rest = pcd.select_by_index(inliers, invert=True)
            xyz = np.asarray(rest.points)
            rest = rest.select_by_index(np.flatnonzero(np.hypot(xyz[:, 0], xyz[:, 1]) < 50.0))
            rest.cluster_dbscan(eps=0.5, min_points=8)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes over the 22 scans for s2mat")
    parser.add_argument("--peer-repeats", type=int, default=1, help="passes for the open3d peer (0 skips it)")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return 0
    scans = load_scans()
    n_pts = statistics.median(len(s) for s in scans)
    run_s2mat(scans[:2], 1)  # warm-up (grid caches, imports)
    t = run_s2mat(scans, args.repeats)
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f"front end on {len(scans)} real scans (median {n_pts:.0f} points), {args.repeats} passes")
    print(f"  s2mat ground            {med['ground']:7.2f} ms median")
    print(f"  s2mat cluster+detect    {med['detect']:7.2f} ms median")
    print(f"  s2mat total             {med['total']:7.2f} ms median  (p90 {np.percentile(t['total'], 90):.2f} ms,"
          f" target {TARGET_MS:.0f} ms: {'met' if med['total'] <= TARGET_MS else 'NOT met'})")
    print(f"  s2mat total CPU time    {med['cpu']:7.2f} ms median  (process time; less sensitive to other"
          " processes on a shared machine)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  machine: {os.cpu_count()} CPUs, load average {load:.2f} during the run")
    print(f"  detections per scan     {med['detections']:7.0f} median")
    if args.peer_repeats > 0:
        peer = statistics.median(run_peer(scans, args.peer_repeats))
        print(f"  open3d RANSAC+DBSCAN    {peer:7.2f} ms median  (s2mat is {peer / med['total']:.1f}x faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
