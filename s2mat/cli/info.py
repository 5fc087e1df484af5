"""``s2mat info PATH``: what s2mat sees in a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from s2mat.cli.app import app, console, handle_errors, track_progress
from s2mat.datasets import open_dataset


@app.command()
@handle_errors
def info(
    path: Annotated[Path, typer.Argument(help="A KITTI folder, a folder of scans, or a rosbag2 (.mcap/.db3).")],
    topic: Annotated[str | None, typer.Option(help="PointCloud2 topic of a bag with several.")] = None,
) -> None:
    """Name the reader picked for PATH and summarise its frames."""
    dataset = open_dataset(path, topic=topic)
    counts, stamps, with_gt = [], [], 0
    for frame in track_progress(iter(dataset), total=len(dataset), description="reading"):
        counts.append(len(frame))
        stamps.append(frame.timestamp)
        with_gt += frame.ground_truth is not None
    table = Table(title=f"s2mat info {path}", show_header=False)
    table.add_row("reader", dataset.name)
    if getattr(dataset, "topic", None):
        table.add_row("topic", dataset.topic)
    table.add_row("frames", str(len(counts)))
    if counts:
        table.add_row("points per frame", f"min {min(counts)}  median {int(np.median(counts))}  max {max(counts)}")
        table.add_row("time span", f"{stamps[0]:.3f} s to {stamps[-1]:.3f} s ({stamps[-1] - stamps[0]:.2f} s)")
    poses = dataset.gt_poses()
    gt = []
    if poses is not None:
        gt.append(f"poses ({len(poses)})")
    if with_gt:
        gt.append(f"per-frame truth on {with_gt} frames")
    table.add_row("ground truth", ", ".join(gt) if gt else "none")
    console.print(table)
