"""What ``s2mat map`` writes, streamed so that every file is valid at any moment.

Per frame, one line is appended (and flushed) to each of: ``poses_kitti.txt``,
``poses_tum.txt``, ``tracks.jsonl``, ``tracks_kitti.txt`` and ``timing.jsonl``, and, with the
annotator on, one line per newly annotated track to ``annotations.jsonl``. The static map
(``static_map.ply`` + ``static_map.json``) and ``config.yaml`` are written atomically. Boxes
are in the world frame (the first sensor pose, z up); in ``tracks_kitti.txt`` they follow the
KITTI tracking convention (camera-style axes: x right = -y, y down = -z, z forward = x;
location at the bottom face), with no 2D box.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

import numpy as np
from scipy.spatial.transform import Rotation

from s2mat.config import S2MATConfig, save_config
from s2mat.datasets.kitti_tracking import zup_to_camera
from s2mat.errors import OutputExistsError
from s2mat.types import StepResult, Track

KITTI_TYPES = {"car": "Car", "pedestrian": "Pedestrian", "cyclist": "Cyclist", "other": "Misc"}
MAP_FILENAME = "static_map.ply"


def prepare_output_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Create ``path``; refuse a non-empty folder unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputExistsError(f"{path} is not empty; choose another folder or pass --overwrite")
    path.mkdir(parents=True, exist_ok=True)
    return path


def track_record(track: Track) -> dict:
    """The JSON form of a track (world frame, metres, radians, m/s)."""
    return {
        "id": track.track_id,
        "class": track.object_class.value,
        "center": [round(float(v), 4) for v in track.box.center],
        "size": [round(float(v), 4) for v in track.box.size],
        "yaw": round(float(track.box.yaw), 5),
        "velocity": [round(float(v), 4) for v in track.velocity],
        "moving": bool(track.moving),
        "state": track.state.value,
        "score": round(float(track.score), 4),
    }


def kitti_track_line(frame: int, track: Track) -> str:
    """One KITTI tracking line (18 columns, score last) for a world-frame track."""
    b = track.box
    h, w, l_, x, y, z, ry = zup_to_camera(np.array([[*b.center, *b.size, b.yaw]]))[0]
    kind = KITTI_TYPES.get(track.object_class.value, "Misc")
    return (f"{frame} {track.track_id} {kind} 0 0 -10 -1 -1 -1 -1 "
            f"{h:.4f} {w:.4f} {l_:.4f} {x:.4f} {y:.4f} {z:.4f} {ry:.5f} {track.score:.4f}")


class RunWriter:
    """Streams the per-frame outputs of a run into one folder."""

    def __init__(self, out_dir: Path, config: S2MATConfig) -> None:
        self.dir = Path(out_dir)
        save_config(config, self.dir / "config.yaml")
        self._files: dict[str, IO[str]] = {
            name: open(self.dir / name, "w")
            for name in ("poses_kitti.txt", "poses_tum.txt", "tracks.jsonl", "tracks_kitti.txt", "timing.jsonl",
                         *(("annotations.jsonl",) if config.annotator.enabled else ()))
        }

    def _line(self, name: str, text: str) -> None:
        fh = self._files[name]
        fh.write(text + "\n")
        fh.flush()

    def write(self, result: StepResult) -> None:
        """Append one frame's pose, tracks and timing."""
        pose = result.pose
        self._line("poses_kitti.txt", " ".join(f"{v:.9e}" for v in pose[:3, :].reshape(-1)))
        q = Rotation.from_matrix(pose[:3, :3]).as_quat()
        self._line("poses_tum.txt", f"{result.timestamp:.9f} " + " ".join(f"{v:.9f}" for v in (*pose[:3, 3], *q)))
        record = {"frame": result.index, "timestamp": result.timestamp,
                  "tracks": [track_record(t) for t in result.tracks]}
        self._line("tracks.jsonl", json.dumps(record, separators=(",", ":")))
        for track in result.tracks:
            self._line("tracks_kitti.txt", kitti_track_line(result.index, track))
        self._line("timing.jsonl", json.dumps({"frame": result.index, **{k: round(v, 3) for k, v in result.timing.items()}}))
        for record in result.annotations:
            self._line("annotations.jsonl", json.dumps(record, separators=(",", ":")))

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_tracks_jsonl(path: str | os.PathLike[str]) -> dict[int, list[dict]]:
    """Track records per frame index from ``tracks.jsonl``."""
    out: dict[int, list[dict]] = {}
    with open(path) as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                out[int(record["frame"])] = record["tracks"]
    return out


def read_timing(path: str | os.PathLike[str]) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
