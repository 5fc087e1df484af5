"""Ground-truth object boxes per frame as JSON lines (``boxes.jsonl`` beside a sequence).

One line per frame: ``{"frame": i, "timestamp": t, "objects": [{"id", "class", "center",
"size", "yaw", "velocity", "moving"}, ...]}``; boxes in the world frame, metres, radians, m/s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from s2mat.errors import CorruptFileError
from s2mat.types import Box3D, GroundTruthBox, ObjectClass

BOXES_FILENAME = "boxes.jsonl"


def box_to_dict(box: GroundTruthBox) -> dict:
    return {
        "id": int(box.instance_id),
        "class": box.object_class.value,
        "center": [round(float(v), 6) for v in box.box.center],
        "size": [round(float(v), 6) for v in box.box.size],
        "yaw": round(float(box.box.yaw), 6),
        "velocity": [round(float(v), 6) for v in box.velocity],
        "moving": bool(box.moving),
    }


def box_from_dict(data: dict) -> GroundTruthBox:
    return GroundTruthBox(
        instance_id=int(data["id"]),
        object_class=ObjectClass(data["class"]),
        box=Box3D(data["center"], data["size"], data["yaw"]),
        velocity=data["velocity"],
        moving=bool(data["moving"]),
    )


def write_boxes(path: str | os.PathLike[str], frames: Iterable[tuple[int, float, list[GroundTruthBox]]]) -> None:
    """Write ``(frame index, timestamp, boxes)`` triples, one JSON line per frame."""
    with open(path, "w") as fh:
        for index, timestamp, boxes in frames:
            line = {"frame": int(index), "timestamp": float(timestamp), "objects": [box_to_dict(b) for b in boxes]}
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")


def read_boxes(path: str | os.PathLike[str]) -> dict[int, list[GroundTruthBox]]:
    """Boxes per frame index. Raises :class:`CorruptFileError` naming the line on bad input."""
    out: dict[int, list[GroundTruthBox]] = {}
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                out[int(data["frame"])] = [box_from_dict(o) for o in data["objects"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptFileError(f"{Path(path)}:{lineno}: not a valid boxes line ({exc})") from None
    return out
