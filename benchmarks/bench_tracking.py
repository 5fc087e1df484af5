"""Benchmark: s2mat's tracker against the Kalman + Hungarian baseline on real KITTI detections.

Runs both trackers on the same PointRCNN detections of every sequence in
``../shared/data/kitti_tracking``, scores them with s2mat's KITTI 3D MOT evaluator
(3D IoU 0.25) and prints, per class, the metrics side by side with ratios, plus each
tracker's frames per second: the time inside the tracker's step, all classes in one call per
frame, plus choosing the rows to write. s2mat's tracker is fed through ``step_arrays`` (the
same code ``step`` runs, on detection arrays built once per sequence, as the pipeline's own
arrays would be); the baseline has only ``step`` on :class:`Detection` lists, built before
the clock starts.

    python benchmarks/bench_tracking.py [--seqs 0000,0002] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", default=None, help="comma-separated sequences (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return
    seqs = args.seqs.split(",") if args.seqs else KittiTrackingDetections(DATA).sequences
    ours = run_tracker("s2mat", lambda: MultiObjectTracker(TrackingConfig()), select_measured, seqs)
    base = run_tracker("kalman+hungarian", KalmanHungarianTracker, select_reported, seqs)

    console = Console()
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
    if args.json:
        payload = json_safe({"ours": ours, "baseline": base, "published": PUBLISHED})
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
