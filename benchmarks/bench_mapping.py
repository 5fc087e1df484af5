"""Mapping back end side by side with KISS-ICP (odometry) and DUFOMap (dynamic removal).

On simulated sequences (64-beam, ground truth from the simulator) it runs, on the same frames:
ours (static-point odometry + static map, map alone: the only dynamic mask is the map's own
free-space evidence), KISS-ICP (python API, default config), and DUFOMap with its paper
parameters (v = 0.1 m, d_s = 0.2 m, d_p = 1), fed ground-truth poses and, for the "own poses"
column, KISS-ICP's poses. It prints one table: ATE and KITTI-style relative error; SA, DA,
AA, HA (DynamicMap benchmark, point-wise, ground truth = the simulator's per-point moving
flag) with ground-truth poses and with each system's own poses; milliseconds per frame; and
the ratio of our time to KISS-ICP + DUFOMap. On the real udacity_city_22 scans it reports our
trajectory against KISS-ICP's and the timing.

    .venv/bin/python benchmarks/bench_mapping.py [--frames 150] [--scenarios street crowd parked-departure]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mapping.config import OdometryConfig, StaticMapConfig  # noqa: E402
from mapping.geometry import transform  # noqa: E402
from mapping.odometry import Odometry  # noqa: E402
from mapping.static_map import StaticMap  # noqa: E402
from s2mat.evaluation import odometry_scores, static_map_scores  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "udacity_city_22"
MAX_RANGE = 100.0
DUFOMAP_PAPER = {"resolution": 0.1, "d_s": 0.2, "d_p": 1}
MAP_MASK_RECENT = 5  # history scans consulted for the odometry's dynamic mask

# ----------------------------------------------------------------------------- data


def load_sim(name: str, frames: int, seed: int, cache: Path | None) -> dict:
    """Frames of a simulated sequence as plain arrays (cached as .npz when asked)."""
    path = cache / f"{name}_{frames}_{seed}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            n = int(z["n"])
            return {"points": [z[f"p{i}"] for i in range(n)], "times": [z[f"t{i}"] for i in range(n)],
                    "moving": [z[f"m{i}"] for i in range(n)], "stamps": z["stamps"], "gt": z["gt"]}
    from s2mat.sim import simulate

    seq = simulate(name, sensor="hdl64", frames=frames, seed=seed, camera=False)
    data: dict = {"points": [], "times": [], "moving": [], "stamps": [], "gt": []}
    for frame in seq:
        data["points"].append(frame.points)
        data["times"].append(frame.times if frame.times is not None else np.zeros(len(frame.points), np.float32))
        data["moving"].append(frame.ground_truth.moving.astype(bool))
        data["stamps"].append(frame.timestamp)
        data["gt"].append(frame.ground_truth.pose)
    data["stamps"] = np.asarray(data["stamps"])
    data["gt"] = np.asarray(data["gt"])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"n": np.array(len(data["points"])), "stamps": data["stamps"], "gt": data["gt"]}
        for i in range(len(data["points"])):
            arrays[f"p{i}"], arrays[f"t{i}"], arrays[f"m{i}"] = data["points"][i], data["times"][i], data["moving"][i]
        np.savez(path, **arrays)
    return data


def load_real() -> dict | None:
    if not REAL.is_dir():
        return None
    import open3d as o3d

    pts = [o3d.t.io.read_point_cloud(str(p)).point.positions.numpy().astype(np.float32)
           for p in sorted(REAL.glob("*.pcd"))]
    return {"points": pts, "times": [None] * len(pts), "stamps": 0.1 * np.arange(len(pts))}


# ----------------------------------------------------------------------------- systems


def run_ours(data: dict, poses: np.ndarray | None = None, map_mask: bool = True) -> tuple[np.ndarray, StaticMap, float]:
    """Our back end. With ``poses`` only the static map runs (fed those poses); otherwise
    odometry runs too, its dynamic mask taken from the map's free-space evidence."""
    odo = Odometry(OdometryConfig(deskew=False), MAX_RANGE)
    smap = StaticMap(StaticMapConfig(), MAX_RANGE)
    out = []
    t0 = time.perf_counter()
    for i, pts in enumerate(data["points"]):
        stamp = float(data["stamps"][i])
        if poses is not None:
            smap.integrate(pts, poses[i])
            out.append(poses[i])
            continue
        static = None
        if map_mask and len(smap):
            guess = odo.predict(stamp)
            world = transform(pts, guess)
            static = smap.free_counts(world, recent=MAP_MASK_RECENT) < smap.config.misses_to_free
        pose = odo.register(pts, static, data["times"][i], stamp)
        odo.update_map(static)
        scan = odo.last_scan
        smap.integrate(scan.points if scan is not None else pts, pose, static)
        out.append(pose)
    ms = 1000 * (time.perf_counter() - t0) / len(data["points"])
    return np.asarray(out), smap, ms


def run_kiss(data: dict) -> tuple[np.ndarray, float]:
    from kiss_icp.config import load_config
    from kiss_icp.kiss_icp import KissICP

    cfg = load_config(None)
    cfg.data.max_range = MAX_RANGE
    cfg.data.deskew = False
    cfg.mapping.voxel_size = MAX_RANGE / 100.0
    kiss = KissICP(cfg)
    poses = []
    t0 = time.perf_counter()
    for pts, times in zip(data["points"], data["times"], strict=True):
        if times is None:
            stamps = np.zeros(0)
        else:  # KISS-ICP expects per-point times normalised to [0, 1] over the sweep
            span = float(times.max() - times.min()) or 1.0
            stamps = ((times - times.min()) / span).astype(np.float64)
        kiss.register_frame(pts.astype(np.float64), stamps)
        poses.append(kiss.last_pose.copy())
    return np.asarray(poses), 1000 * (time.perf_counter() - t0) / len(data["points"])


def run_dufomap(data: dict, poses: np.ndarray, eval_idx: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """DUFOMap on all frames; returns the kept flag of the evaluation points and ms/frame."""
    from dufomap import dufomap

    d = dufomap(DUFOMAP_PAPER["resolution"], DUFOMAP_PAPER["d_s"], DUFOMAP_PAPER["d_p"], num_threads=0)
    t0 = time.perf_counter()
    for pts, pose in zip(data["points"], poses, strict=True):
        d.run(pts, pose, cloud_transform=True)
    d.oncePropagateCluster(if_propagate=True, if_cluster=False)
    ms = 1000 * (time.perf_counter() - t0) / len(data["points"])
    kept = [d.segment(pts[idx], pose, cloud_transform=True) == 0
            for pts, pose, idx in zip(data["points"], poses, eval_idx, strict=True)]
    return np.concatenate(kept), ms


# ----------------------------------------------------------------------------- evaluation


def eval_points(data: dict, poses: np.ndarray, eval_idx: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([transform(pts[idx], pose)
                           for pts, pose, idx in zip(data["points"], poses, eval_idx, strict=True)])


def map_scores(data: dict, poses: np.ndarray, eval_idx: list[np.ndarray], kept: np.ndarray) -> tuple:
    dynamic = np.concatenate([m[idx] for m, idx in zip(data["moving"], eval_idx, strict=True)])
    # point-wise on the labelled points; positions in the frame the map was built in
    s = static_map_scores(eval_points(data, poses, eval_idx), dynamic, kept)
    return s.sa, s.da, s.aa, s.ha


def fmt(v: float, digits: int = 2) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def bench_sim(name: str, args: argparse.Namespace) -> list[list[str]]:
    t = time.perf_counter()
    data = load_sim(name, args.frames, args.seed, args.cache)
    print(f"[{name}] {len(data['points'])} frames ready in {time.perf_counter() - t:.1f} s", flush=True)
    rng = np.random.default_rng(0)
    eval_idx = [np.sort(rng.choice(len(p), size=max(1, len(p) // args.eval_stride), replace=False))
                for p in data["points"]]
    gt = data["gt"]

    _, map_gt, ms_map_gt = run_ours(data, poses=gt)
    ours_poses, map_own, ms_ours = run_ours(data)
    kiss_poses, ms_kiss = run_kiss(data)
    dufo_gt, ms_dufo = run_dufomap(data, gt, eval_idx)
    dufo_own, _ = run_dufomap(data, kiss_poses, eval_idx)

    rows = []
    o_ours, o_kiss = odometry_scores(gt, ours_poses), odometry_scores(gt, kiss_poses)
    m_ours_gt = map_scores(data, gt, eval_idx, map_gt.is_static(eval_points(data, gt, eval_idx)))
    m_ours_own = map_scores(data, ours_poses, eval_idx, map_own.is_static(eval_points(data, ours_poses, eval_idx)))
    m_dufo_gt = map_scores(data, gt, eval_idx, dufo_gt)
    m_dufo_own = map_scores(data, kiss_poses, eval_idx, dufo_own)
    ratio = ms_ours / (ms_kiss + ms_dufo)
    rows.append([name, "ours", fmt(o_ours.ate_rmse, 3), fmt(o_ours.rel_translation_pct),
                 *map(fmt, m_ours_gt), *map(fmt, m_ours_own), fmt(ms_ours, 1), fmt(ratio)])
    rows.append([name, "kiss-icp", fmt(o_kiss.ate_rmse, 3), fmt(o_kiss.rel_translation_pct),
                 *["-"] * 8, fmt(ms_kiss, 1), ""])
    rows.append([name, "dufomap (kiss poses)", "", "", *map(fmt, m_dufo_gt), *map(fmt, m_dufo_own),
                 fmt(ms_dufo, 1), ""])
    for row in rows:
        print("  " + " | ".join(row), flush=True)
    print(f"[{name}] ours map-only with GT poses: {ms_map_gt:.1f} ms/frame; relative-error lengths "
          f"{o_ours.lengths} m over a {o_ours.path_length:.0f} m path", flush=True)
    return rows


def bench_real() -> list[str] | None:
    data = load_real()
    if data is None:
        print(f"real scans not found at {REAL}; skipped")
        return None
    ours, _, ms_ours = run_ours(data)
    kiss, ms_kiss = run_kiss(data)
    diff = np.linalg.norm(ours[:, :3, 3] - kiss[:, :3, 3], axis=1)
    return [f"{len(ours)}", fmt(float(np.linalg.norm(ours[-1, :3, 3])), 2), fmt(float(np.linalg.norm(kiss[-1, :3, 3])), 2),
            fmt(float(diff.max()), 3), fmt(ms_ours, 1), fmt(ms_kiss, 1)]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", nargs="+", default=["street", "crowd", "parked-departure"])
    parser.add_argument("--eval-stride", type=int, default=4, help="evaluate every n-th point (random subset)")
    parser.add_argument("--cache", type=Path, default=None, help="folder caching simulated frames")
    parser.add_argument("--no-real", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows: list[list[str]] = []
    for name in args.scenarios:
        rows.extend(bench_sim(name, args))
    header = ["sequence", "system", "ATE m", "rel %", "SA gt", "DA gt", "AA gt", "HA gt",
              "SA own", "DA own", "AA own", "HA own", "ms/frame", "ours/(kiss+dufo)"]
    print()
    print_table(header, rows)
    if not args.no_real:
        real = bench_real()
        if real is not None:
            print()
            print_table(["udacity_city_22 frames", "ours path m", "kiss path m", "max |ours-kiss| m",
                         "ours ms/frame", "kiss ms/frame"], [real])


if __name__ == "__main__":
    main()
