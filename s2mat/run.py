"""Running s2mat over a dataset: the loop, the outputs, the scores and the report.

This is what ``s2mat map`` and ``s2mat demo`` call; :class:`s2mat.pipeline.S2MAT` is the
per-frame algorithm and knows nothing of files.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.types import Box3D
from s2mat.config import S2MATConfig
from s2mat.datasets.atomic import atomic_write_text
from s2mat.datasets.base import Dataset
from s2mat.evaluation.run import RunGroundTruth, evaluate_run
from s2mat.outputs import MAP_FILENAME, RunWriter, prepare_output_dir
from s2mat.pipeline import S2MAT
from s2mat.report import birdseye_png, timing_png, write_report
from s2mat.types import Frame, PointLabel

log = logging.getLogger(__name__)

TAIL_FRAMES = 10  # frames of history drawn behind each track (one second at 10 Hz)


@dataclass
class RunSummary:
    out_dir: Path
    frames: int
    skipped: int
    metrics: dict
    report: Path
    map_path: Path


def _frames_skipping_empty(dataset: Iterable[Frame]) -> Iterable[Frame]:
    for frame in dataset:
        if len(frame) == 0:
            log.warning("frame %d at %.3f s has no points; skipped", frame.index, frame.timestamp)
            continue
        yield frame


def run_dataset(dataset: Dataset, config: S2MATConfig, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
                max_frames: int | None = None,
                wrap: Callable[[Iterable[Frame], int], Iterable[Frame]] = lambda it, n: it) -> RunSummary:
    """Run the S2MAT loop over ``dataset`` and write every output into ``out_dir``.

    ``wrap`` decorates the frame iterator (the CLI passes a progress bar). Outputs written so
    far stay valid if the run stops early: per-frame files are line-streamed and the map is
    saved (atomically) even when an exception ends the loop.
    """
    out = prepare_output_dir(out_dir, overwrite)
    s2mat = S2MAT(config)
    truth = RunGroundTruth()
    poses, totals, timing_rows = [], [], []
    tracks_by_frame: dict[int, list[tuple[int, Box3D, bool]]] = {}
    tails: dict[int, list[np.ndarray]] = defaultdict(list)
    moving: dict[int, bool] = {}
    classes: dict[int, str] = {}
    dynamic_world: list[np.ndarray] = []
    total = len(dataset) if max_frames is None else min(len(dataset), max_frames)
    frames = seen = 0
    map_path = out / MAP_FILENAME
    with RunWriter(out, config) as writer:
        try:
            for frame in wrap(_frames_skipping_empty(dataset), total):
                if max_frames is not None and seen >= max_frames:
                    break
                seen += 1
                result = s2mat.step(frame)
                writer.write(result)
                truth.add(frame, config.sensor.min_range, config.sensor.max_range)
                poses.append(result.pose)
                totals.append(result.timing["total"])
                timing_rows.append({"frame": result.index, **result.timing})
                # Frame numbers in the outputs follow the dataset's own indices.
                tracks_by_frame[len(poses) - 1] = [(t.track_id, t.box, t.moving) for t in result.tracks]
                for t in result.tracks:
                    tails[t.track_id] = (tails[t.track_id] + [t.box.center])[-TAIL_FRAMES:]
                    moving[t.track_id] = t.moving  # as last seen
                    classes[t.track_id] = t.object_class.value
                dyn = frame.points[result.labels == PointLabel.DYNAMIC]
                if len(dyn):
                    dynamic_world.append((dyn @ result.pose[:3, :3].T + result.pose[:3, 3])[::4])
                frames += 1
        finally:
            s2mat.static_map().save(map_path)
    skipped = len(dataset) - frames if max_frames is None else max(0, min(len(dataset), max_frames) - frames)
    poses_arr = np.stack(poses) if poses else np.zeros((0, 4, 4))
    metrics = evaluate_run(truth, poses_arr, s2mat.static_map().is_static, tracks_by_frame, totals) if frames else {}
    if metrics:
        atomic_write_text(out / "metrics.json", json.dumps(finite(metrics), indent=2, allow_nan=False,
                                                           default=_json_default))
    map_points = s2mat.static_map().points()
    report = out / "report.html"
    last_tracks = {tid: tail for tid, tail in tails.items() if len(tail) >= 3}
    write_report(
        report,
        title=f"s2mat map: {dataset.path}",
        birdseye=birdseye_png(map_points, poses_arr, last_tracks, moving,
                              np.concatenate(dynamic_world) if dynamic_world else None, classes=classes),
        timing=timing_png(timing_rows),
        metrics=metrics,
        summary={"input": str(dataset.path), "reader": dataset.name, "frames": str(frames),
                 "skipped frames": str(skipped), "map points": str(len(map_points)),
                 "confirmed tracks": str(len(moving)),
                 "tracks moving when last seen": str(sum(moving.values())),
                 "median ms per frame": f"{np.median(totals):.1f}" if totals else "-"},
    )
    return RunSummary(out, frames, skipped, metrics, report, map_path)


def finite(value: object) -> object:
    """``value`` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | np.ndarray):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
