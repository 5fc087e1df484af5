"""The whole S2MAT loop: reciprocity ablation, speed against KISS-ICP + DUFOMap, and the real scans.

On simulated 64-beam sequences (ground truth from the simulator) it runs, on the same frames:

- the full loop (both couplings on);
- map-only: ``coupling.tracks_to_map`` off (tracks do not decide what the map and odometry
  may absorb; the map's own free-space candidates still do) -> compared on DA and ATE;
- tracking-only: ``coupling.map_to_detection`` off (detection does not consult the static
  map) -> compared on MOTA and false tracks of static structure;
- KISS-ICP (odometry) and DUFOMap (dynamic removal, fed KISS-ICP's poses), through the
  helpers of ``bench_mapping.py``, for the time per frame.

Scores come from :func:`s2mat.evaluation.run.evaluate_run` (the numbers ``s2mat map``
writes): SA/DA (DynamicMap), MOTA/IDF1/HOTA at 3D IoU 0.25 on objects within 40 m with at
least 10 points (boxes on those with fewer count neither way), false tracks, moving-flag
accuracy, ATE and relative error. Then it maps the real udacity_city_22 scans with ``s2mat
map``'s runner and prints where the report is.

    .venv/bin/python benchmarks/bench_pipeline.py [--frames 150] [--scenarios street crowd parked-departure]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mapping import REAL, fmt, print_table, run_dufomap, run_kiss  # noqa: E402

from s2mat.config import preset, with_overrides  # noqa: E402
from s2mat.evaluation.run import RunGroundTruth, evaluate_run  # noqa: E402
from s2mat.pipeline import S2MAT  # noqa: E402

VARIANTS = {
    "full loop": {},
    "map-only (tracks_to_map off)": {"coupling.tracks_to_map": False},
    "tracking-only (map_to_detection off)": {"coupling.map_to_detection": False},
}


def run_loop(frames: list, overrides: dict) -> tuple[dict, list[float]]:
    """The S2MAT loop over ``frames``; its scores and per-frame milliseconds."""
    config = with_overrides(preset("hdl64"), overrides) if overrides else preset("hdl64")
    s2mat = S2MAT(config)
    truth = RunGroundTruth()
    poses, totals, tracks = [], [], {}
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        result = s2mat.step(frame)
        totals.append(1000 * (time.perf_counter() - t0))
        truth.add(frame, config.sensor.min_range, config.sensor.max_range)
        poses.append(result.pose)
        tracks[i] = [(t.track_id, t.box, t.moving) for t in result.tracks]
    return evaluate_run(truth, np.stack(poses), s2mat.static_map().is_static, tracks, totals), totals


def peers(frames: list) -> tuple[float, float]:
    """Milliseconds per frame of KISS-ICP and of DUFOMap on KISS-ICP's poses."""
    data = {"points": [f.points for f in frames],
            "times": [f.times if f.times is not None else np.zeros(len(f), np.float32) for f in frames],
            "stamps": np.array([f.timestamp for f in frames])}
    kiss_poses, ms_kiss = run_kiss(data)
    few = [np.arange(min(10, len(p))) for p in data["points"]]  # DUFOMap's scores are bench_mapping's job
    _, ms_dufo = run_dufomap(data, kiss_poses, few)
    return ms_kiss, ms_dufo


def bench_sim(name: str, args: argparse.Namespace) -> tuple[list[list[str]], list[str]]:
    from s2mat.sim import simulate

    t = time.perf_counter()
    frames = list(simulate(name, sensor="hdl64", frames=args.frames, seed=args.seed, camera=False))
    print(f"[{name}] {len(frames)} frames simulated in {time.perf_counter() - t:.1f} s", flush=True)
    rows, timing = [], {}
    for label, overrides in VARIANTS.items():
        metrics, totals = run_loop(frames, overrides)
        timing[label] = totals
        m, tr, od = metrics["static_map"], metrics["tracking"], metrics["odometry"]
        rows.append([name, label, fmt(m["sa"]), fmt(m["da"]), fmt(od["ate_m"], 4), fmt(od["rel_translation_pct"]),
                     fmt(tr["MOTA"], 1), fmt(tr["IDF1"], 1), fmt(tr["HOTA"], 1), str(tr["IDS"]),
                     str(tr["false_tracks"]), fmt(tr["moving_flag_accuracy"], 1),
                     fmt(float(np.median(totals)), 1)])
        print(f"[{name}] {label}: done", flush=True)
    ms_kiss, ms_dufo = peers(frames)
    full = timing["full loop"]
    speed = [name, fmt(float(np.median(full)), 1), fmt(float(np.mean(full)), 1), fmt(ms_kiss, 1), fmt(ms_dufo, 1),
             fmt(float(np.median(full)) / (ms_kiss + ms_dufo)), fmt(float(np.mean(full)) / (ms_kiss + ms_dufo))]
    return rows, speed


def bench_real(out: Path) -> None:
    from s2mat.datasets import open_dataset
    from s2mat.run import run_dataset

    if not REAL.is_dir():
        print(f"real scans not found at {REAL}; skipped")
        return
    summary = run_dataset(open_dataset(REAL), preset("hdl64"), out, overwrite=True)
    timing = [float(line.split('"total":')[1].rstrip("}\n")) for line in (out / "timing.jsonl").read_text().splitlines()]
    print(f"udacity_city_22: {summary.frames} frames, median {np.median(timing):.1f} ms/frame, "
          f"95th percentile {np.percentile(timing, 95):.1f} ms; report: {summary.report}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", nargs="+", default=["street", "crowd", "parked-departure"])
    parser.add_argument("--real-out", type=Path, default=None, help="output folder of the udacity_city_22 run")
    parser.add_argument("--no-real", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    rows, speed = [], []
    for name in args.scenarios:
        r, s = bench_sim(name, args)
        rows.extend(r)
        speed.append(s)
    print()
    print_table(["sequence", "variant", "SA", "DA", "ATE m", "rel %", "MOTA", "IDF1", "HOTA", "IDS", "false tracks",
                 "moving flag %", "ms/frame (median)"], rows)
    print()
    print_table(["sequence", "loop median ms", "loop mean ms", "kiss-icp ms", "dufomap ms",
                 "median/(kiss+dufo)", "mean/(kiss+dufo)"], speed)
    if not args.no_real:
        print()
        bench_real(args.real_out or Path(tempfile.mkdtemp(prefix="s2mat_udacity_")))


if __name__ == "__main__":
    main()
