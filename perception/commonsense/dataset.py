"""A folder of labelled crops: the annotator's training and evaluation data.

Layout (documented in README.md)::

    DIR/
      crops/000000.png ...        RGB crops of single objects (any size)
      labels.jsonl                 one JSON object per crop:
        {"crop": "crops/000000.png", "class": "car", "moving": false,
         "geometry": {"length": 4.2, "width": 1.8, "height": 1.5, "speed": 0.0, "heading_change": 0.0},
         "colour": "red"}          # optional; "geometry" fields default to 0

``class`` is one of the knowledge base's subjects; ``moving`` is the observed motion state.
Frozen image features are cached next to the labels (``features-<encoder>.npz``) the first
time a folder is used, so training runs on precomputed features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from perception.commonsense.errors import CropDatasetError
from perception.commonsense.geometry import GEOMETRY_FIELDS

LABELS_FILE = "labels.jsonl"
CROPS_DIR = "crops"


@dataclass
class CropRecord:
    """One labelled crop: file (relative to the folder), class, state, raw geometry token."""

    crop: str
    object_class: str
    moving: bool
    geometry: np.ndarray
    extra: dict[str, Any]

    @property
    def state(self) -> dict[str, Any]:
        return {"moving": self.moving}

    def to_json(self) -> dict[str, Any]:
        out = {"crop": self.crop, "class": self.object_class, "moving": self.moving,
               "geometry": {k: round(float(v), 4) for k, v in zip(GEOMETRY_FIELDS, self.geometry, strict=True)}}
        out.update(self.extra)
        return out


class CropDataset:
    """Reader of a labelled-crop folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        labels = self.root / LABELS_FILE
        if not labels.is_file():
            raise CropDatasetError(f"{self.root}: no {LABELS_FILE} (expected a folder of crops/*.png + {LABELS_FILE})")
        self.records: list[CropRecord] = []
        for n, line in enumerate(labels.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CropDatasetError(f"{labels}:{n}: not valid JSON ({exc.msg})") from None
            self.records.append(_record(item, f"{labels}:{n}"))
        if not self.records:
            raise CropDatasetError(f"{labels}: no labelled crops")

    def __len__(self) -> int:
        return len(self.records)

    def labels(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.object_class, r.state) for r in self.records]

    def geometry(self) -> np.ndarray:
        return np.stack([r.geometry for r in self.records]).astype(np.float32)

    def load_crop(self, index: int) -> np.ndarray:
        path = self.root / self.records[index].crop
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise CropDatasetError(f"{path}: cannot read crop image ({exc})") from None

    def image_features(self, encoder: Any, cache: bool = True) -> np.ndarray:
        """(N, D) frozen image features, computed once and cached in the folder."""
        cache_path = self.root / f"features-{encoder.cache_tag}.npz"
        names = np.array([r.crop for r in self.records])
        if cache and cache_path.is_file():
            with np.load(cache_path, allow_pickle=False) as data:
                if data["names"].shape == names.shape and np.all(data["names"] == names):
                    return data["features"].astype(np.float32)
        feats = np.concatenate([
            encoder.encode([self.load_crop(i) for i in range(s, min(s + 64, len(self)))])
            for s in range(0, len(self), 64)
        ])
        if cache:
            np.savez(cache_path, names=names, features=feats)
        return feats


def _record(item: Any, where: str) -> CropRecord:
    if not isinstance(item, dict):
        raise CropDatasetError(f"{where}: expected a JSON object")
    for key, kind in (("crop", str), ("class", str), ("moving", bool)):
        if not isinstance(item.get(key), kind):
            raise CropDatasetError(f"{where}: field '{key}' is missing or not a {kind.__name__}")
    geo = item.get("geometry") or {}
    if not isinstance(geo, dict):
        raise CropDatasetError(f"{where}: field 'geometry' must be an object with {list(GEOMETRY_FIELDS)}")
    try:
        vec = np.array([float(geo.get(k, 0.0)) for k in GEOMETRY_FIELDS], dtype=np.float32)
    except (TypeError, ValueError):
        raise CropDatasetError(f"{where}: geometry values must be numbers") from None
    extra = {k: v for k, v in item.items() if k not in ("crop", "class", "moving", "geometry")}
    return CropRecord(item["crop"], item["class"], item["moving"], vec, extra)


def write_crop_dataset(root: str | Path, crops: list[np.ndarray], records: list[CropRecord]) -> Path:
    """Write crops and their labels in the folder layout above; returns the labels file."""
    root = Path(root)
    (root / CROPS_DIR).mkdir(parents=True, exist_ok=True)
    lines = []
    for crop, rec in zip(crops, records, strict=True):
        Image.fromarray(np.asarray(crop, dtype=np.uint8)).save(root / rec.crop)
        lines.append(json.dumps(rec.to_json()))
    labels = root / LABELS_FILE
    labels.write_text("\n".join(lines) + "\n")
    return labels
