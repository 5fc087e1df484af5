"""``s2mat map INPUT --out DIR``: build a static map and tracks offline, scored when ground truth exists."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.table import Table

from s2mat.cli.app import (
    ConfigOption,
    SensorOption,
    SetOption,
    app,
    console,
    err_console,
    handle_errors,
    track_progress,
)
from s2mat.config import load_config
from s2mat.datasets import open_dataset

METRIC_ROWS = {
    "static_map": [("SA", "sa", "%"), ("DA", "da", "%"), ("AA", "aa", "%"), ("HA", "ha", "%")],
    "tracking": [("HOTA", "HOTA", ""), ("MOTA", "MOTA", ""), ("IDF1", "IDF1", ""), ("ID switches", "IDS", ""),
                 ("false tracks", "false_tracks", ""), ("moving flag right", "moving_flag_accuracy", "%")],
    "odometry": [("ATE", "ate_m", "m"), ("relative error", "rel_translation_pct", "%")],
    "timing": [("median", "median_ms", "ms/frame"), ("95th percentile", "p95_ms", "ms/frame")],
}


def setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)


def metrics_table(metrics: Mapping[str, Mapping[str, object]], title: str = "s2mat metrics") -> Table:
    table = Table(title=title)
    table.add_column("section")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for section, rows in METRIC_ROWS.items():
        values = metrics.get(section)
        if not values:
            continue
        for label, key, unit in rows:
            value = values.get(key)
            text = "n/a" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
            table.add_row(section, label, f"{text} {unit}".strip())
    return table


def progress_wrap(description: str):
    def wrap(frames: Iterable, total: int) -> Iterable:
        return track_progress(frames, total=total, description=description)

    return wrap


@app.command("map")
@handle_errors
def map_command(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="KITTI folder, scan folder or rosbag2.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; must be empty).")],
    config: ConfigOption = None,
    sensor: SensorOption = None,
    overrides: SetOption = None,
    topic: Annotated[str | None, typer.Option(help="PointCloud2 topic of a bag with several.")] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after this many frames.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Write into a non-empty output folder.")] = False,
) -> None:
    """Map INPUT offline: static map, poses, tracks, report, and metrics when ground truth exists."""
    from s2mat.run import run_dataset

    setup_logging()
    settings = load_config(config, sensor=sensor, overrides=overrides)
    dataset = open_dataset(input_path, topic=topic)
    summary = run_dataset(dataset, settings, out, overwrite=overwrite, max_frames=max_frames,
                          wrap=progress_wrap("mapping"))
    if summary.metrics:
        console.print(metrics_table(summary.metrics))
    console.print(f"{summary.frames} frames mapped ({summary.skipped} skipped); map: {summary.map_path}")
    console.print(f"report: {summary.report}")
