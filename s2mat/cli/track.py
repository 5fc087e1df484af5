"""``s2mat track``: run the tracker on KITTI tracking detections, optionally score it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from perception.tracking import MultiObjectTracker
from s2mat.cli.app import ConfigOption, SetOption, app, console, handle_errors, track_progress
from s2mat.config import load_config
from s2mat.datasets.kitti_tracking import KittiTrackingDetections, read_labels, write_results
from s2mat.errors import DatasetError
from s2mat.evaluation.tracking import evaluate_kitti, json_safe
from s2mat.kitti_track import run_sequence, sequence_length

CLASSES = ("car", "pedestrian", "cyclist")
COLUMNS = ("sAMOTA", "MOTA", "MOTP", "IDS", "FRAG", "HOTA")


@app.command()
@handle_errors
def track(
    det_root: Annotated[Path, typer.Argument(help="KITTI tracking root (with detection/) or its detection/ folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: data/<seq>.txt, metrics.json, config.")],
    labels: Annotated[Path | None, typer.Option("--labels", help="Folder of KITTI label files <seq>.txt to score against.")] = None,
    seqs: Annotated[str | None, typer.Option("--seqs", help="Comma-separated sequences, e.g. 0000,0002 (default: all).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Track objects in KITTI 3D detections (camera frame) and write KITTI tracking results."""
    cfg = load_config(config, overrides=set_ or [])
    data = KittiTrackingDetections(det_root)
    names = [s.strip() for s in seqs.split(",")] if seqs else data.sequences
    missing = [s for s in names if s not in data.sequences]
    if missing:
        raise DatasetError(f"{det_root}: no detections for sequence(s) {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.model_dump_json(indent=2))
    gt, results, n_frames = {}, {}, {}
    frames, seconds = 0, 0.0
    for seq in track_progress(names, len(names), "tracking", unit="seqs"):
        dets = data.detections(seq)
        if labels is not None:
            gt[seq] = read_labels(labels / f"{seq}.txt")
        n_frames[seq] = sequence_length(dets, *([gt[seq]] if seq in gt else []))
        run = run_sequence(MultiObjectTracker(cfg.tracking), dets, n_frames[seq], data.calib(seq))
        write_results(out / "data" / f"{seq}.txt", run.results)
        results[seq] = run.results
        frames += run.frames
        seconds += run.seconds
    console.print(f"{frames} frames, tracker {frames / max(seconds, 1e-9):.0f} frames/s -> {out / 'data'}")
    if labels is None:
        return
    metrics = {c: evaluate_kitti(gt, results, c, n_frames) for c in CLASSES}
    (out / "metrics.json").write_text(
        json.dumps(json_safe({"sequences": names, "metrics": metrics}), indent=2, allow_nan=False)
    )
    table = Table(title="KITTI 3D MOT (3D IoU 0.25)")
    table.add_column("class")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for c in CLASSES:
        m = metrics[c]
        table.add_row(c, *("-" if not np.isfinite(m[k]) else f"{m[k]:.0f}" if k in ("IDS", "FRAG") else f"{m[k]:.2f}" for k in COLUMNS))
    console.print(table)
