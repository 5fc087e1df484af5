"""Benchmark: s2mat's tracker against the Kalman + Hungarian baseline on real KITTI detections.

Runs both trackers on the same PointRCNN detections of every sequence in
``../shared/data/kitti_tracking``, scores them with s2mat's KITTI 3D MOT evaluator
(3D IoU 0.25) and prints, per class, the metrics side by side with ratios, plus each
tracker's frames per second: the time inside the tracker's step, all classes in one call per
frame, plus choosing the rows to write. s2mat's tracker is fed through ``step_arrays`` (the
same code ``step`` runs, on detection arrays built once per sequence, as the pipeline's own
arrays would be); the baseline has only ``step`` on :class:`Detection` lists, built before
the clock starts.

A second section runs the whole S2MAT loop (front end + tracker) on simulated hdl64
``street``, ``crowd`` and ``intersection`` sequences from raw LiDAR and scores the reported
tracks as ``s2mat demo`` does (objects within 40 m with at least 10 points, 3D IoU 0.25;
boxes on objects within 40 m with fewer points, hidden behind others, count neither way):
MOTA, IDF1, ID switches, false tracks and the share of matched object-frames whose moving
flag is right, per run and averaged, against the targets MOTA >= 85, IDF1 >= 85, moving flag
>= 95 %; beside them the odometry's absolute trajectory error on the run.

    python benchmarks/bench_tracking.py [--seqs 0000,0002] [--json out.json]
        [--sim-frames 60] [--sim-seeds 0,1,2] [--sim-scenarios street,crowd,intersection]
        [--no-kitti | --no-sim]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.baselines.kalman_hungarian import KalmanHungarianTracker, select_reported  # noqa: E402
from perception.config import TrackingConfig  # noqa: E402
from perception.tracking import MultiObjectTracker  # noqa: E402
from s2mat.datasets.kitti_tracking import KittiTrackingDetections, read_labels  # noqa: E402
from s2mat.evaluation.tracking import evaluate_kitti, json_safe  # noqa: E402
from s2mat.kitti_track import run_sequence, select_measured, sequence_length  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "kitti_tracking"
CLASSES = ("car", "pedestrian", "cyclist")
METRICS = ("sAMOTA", "MOTA", "MOTP", "IDS", "FRAG", "HOTA")
# Published reference (AB3DMOT, KITTI val, PointRCNN, 3D IoU 0.25), evaluated their way.
PUBLISHED = {"car": (93.34, 86.47), "pedestrian": (82.73, 73.86), "cyclist": (93.78, 84.79)}


def run_tracker(name: str, make, select, seqs: list[str], data: Path = DATA) -> dict:
    ds = KittiTrackingDetections(data)
    gt, results, n_frames, seconds, frames = {}, {}, {}, 0.0, 0
    for seq in seqs:
        dets = ds.detections(seq)
        gt[seq] = read_labels(data / "label" / f"{seq}.txt")
        n_frames[seq] = sequence_length(dets, gt[seq])
        run = run_sequence(make(), dets, n_frames[seq], ds.calib(seq), select)
        results[seq] = run.results
        seconds += run.seconds
        frames += run.frames
    metrics = {c: evaluate_kitti(gt, results, c, n_frames) for c in CLASSES}
    return {"name": name, "fps": frames / max(seconds, 1e-9), "frames": frames, "metrics": metrics}


SIM_SCENARIOS = ("street", "crowd", "intersection")
SIM_TARGETS = {"MOTA": 85.0, "IDF1": 85.0, "moving_flag_accuracy": 95.0}


def run_simulated(scenario: str, seed: int, frames: int) -> dict:
    """The S2MAT loop over a simulated hdl64 sequence; its tracking scores as ``s2mat demo``
    computes them (:func:`s2mat.evaluation.run.tracking_metrics` on the reported tracks), and
    the odometry's absolute trajectory error (a jittery pose moves every box and puts static
    structure into space the map saw free)."""
    import numpy as np

    from s2mat.config import preset
    from s2mat.evaluation.odometry import absolute_trajectory_error
    from s2mat.evaluation.run import RunGroundTruth, tracking_metrics
    from s2mat.pipeline import S2MAT
    from s2mat.sim import simulate

    config = preset("hdl64")
    loop = S2MAT(config)
    truth = RunGroundTruth()
    poses, tracks = [], {}
    clock = time.perf_counter()
    for frame in simulate(scenario, sensor="hdl64", frames=frames, seed=seed, camera=False):
        if len(frame) == 0:  # as s2mat map skips them
            continue
        result = loop.step(frame)
        truth.add(frame, config.sensor.min_range, config.sensor.max_range)
        tracks[len(poses)] = [(t.track_id, t.box, t.moving) for t in result.tracks]
        poses.append(result.pose)
    seconds = time.perf_counter() - clock
    scores = tracking_metrics(truth, np.stack(poses), tracks)
    ate = absolute_trajectory_error(np.stack(truth.gt_poses), np.stack(poses))
    return {"scenario": scenario, "seed": seed, "frames": len(poses), "seconds": seconds, "odometry_ate_m": ate,
            **scores}


def simulated_section(console: Console, scenarios: list[str], seeds: list[int], frames: int) -> list[dict]:
    runs = [run_simulated(sc, seed, frames) for sc in scenarios for seed in seeds]
    table = Table(title=f"S2MAT loop on simulated hdl64 sequences from raw LiDAR, {frames} frames "
                        "(objects within 40 m with >= 10 points, 3D IoU 0.25; "
                        "boxes on objects with fewer points ignored)",
                  caption="ATE: the odometry's absolute trajectory error against the simulator's poses")
    for col in ("scenario", "seed", "MOTA", "IDF1", "IDS", "FP", "FN", "false tracks", "moving flag %",
                "ATE cm", "s"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in runs:
        table.add_row(r["scenario"], str(r["seed"]), f"{r['MOTA']:.1f}", f"{r['IDF1']:.1f}", str(r["IDS"]),
                      str(r["FP"]), str(r["FN"]), f"{r['false_tracks']}/{r['tracks']}",
                      f"{r['moving_flag_accuracy']:.1f}", f"{100 * r['odometry_ate_m']:.1f}", f"{r['seconds']:.0f}")
    mean = {k: sum(r[k] for r in runs) / len(runs) for k in ("MOTA", "IDF1", "IDS", "moving_flag_accuracy")}
    false_tracks = sum(r["false_tracks"] for r in runs)
    all_tracks = sum(r["tracks"] for r in runs)
    table.add_row("mean", "", f"{mean['MOTA']:.1f}", f"{mean['IDF1']:.1f}", f"{mean['IDS']:.1f}", "", "",
                  f"{false_tracks}/{all_tracks}", f"{mean['moving_flag_accuracy']:.1f}", "", "")
    console.print(table)
    met = {k: all(r[k] >= v for r in runs) for k, v in SIM_TARGETS.items()}
    console.print("targets on every run: " + ", ".join(
        f"{k} >= {v:g}: {'met' if met[k] else 'not met'} (lowest {min(r[k] for r in runs):.1f})"
        for k, v in SIM_TARGETS.items()))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", default=None, help="comma-separated sequences (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    parser.add_argument("--sim-frames", type=int, default=60, help="frames per simulated sequence (10 Hz)")
    parser.add_argument("--sim-seeds", default="0,1,2", help="comma-separated seeds of the simulated sequences")
    parser.add_argument("--sim-scenarios", default=",".join(SIM_SCENARIOS), help="comma-separated scenarios")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-kitti", action="store_true", help="only the simulated section")
    which.add_argument("--no-sim", action="store_true", help="only the KITTI section")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 100))  # the simulated table's 11 columns
    payload: dict = {}
    if not args.no_kitti:
        payload.update(kitti_section(console, args.seqs))
    if not args.no_sim:
        seeds = [int(s) for s in args.sim_seeds.split(",")]
        payload["simulated"] = simulated_section(console, args.sim_scenarios.split(","), seeds, args.sim_frames)
    if args.json:
        args.json.write_text(json.dumps(json_safe(payload), indent=2, allow_nan=False))


def kitti_section(console: Console, seqs_arg: str | None) -> dict:
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return {}
    seqs = seqs_arg.split(",") if seqs_arg else KittiTrackingDetections(DATA).sequences
    ours = run_tracker("s2mat", lambda: MultiObjectTracker(TrackingConfig()), select_measured, seqs)
    base = run_tracker("kalman+hungarian", KalmanHungarianTracker, select_reported, seqs)

    table = Table(title=f"KITTI 3D MOT, PointRCNN detections, {len(seqs)} sequences, 3D IoU 0.25")
    for col in ("class", "metric", "s2mat", "baseline", "ratio", "better"):
        table.add_column(col, justify="right" if col not in ("class", "metric") else "left")
    for c in CLASSES:
        for m in METRICS:
            a, b = ours["metrics"][c][m], base["metrics"][c][m]
            lower_better = m in ("IDS", "FRAG")
            ratio = (a / b) if b else float("inf") if a else 1.0
            better = (a < b) if lower_better else (a > b)
            fmt = "{:.0f}" if lower_better else "{:.2f}"
            table.add_row(c, m, fmt.format(a), fmt.format(b), f"{ratio:.3f}", "yes" if better else ("=" if a == b else "no"))
    table.add_row("all", "frames/s", f"{ours['fps']:.0f}", f"{base['fps']:.0f}", f"{ours['fps'] / base['fps']:.2f}", "")
    console.print(table)
    console.print("Published baseline (KITTI val, evaluated with its own script): "
                  + ", ".join(f"{c} sAMOTA {s} / MOTA {m}" for c, (s, m) in PUBLISHED.items()))
    return {"ours": ours, "baseline": base, "published": PUBLISHED}


if __name__ == "__main__":
    main()
