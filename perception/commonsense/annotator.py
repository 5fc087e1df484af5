"""The pipeline-facing annotator: crops + geometry tokens in, scored statements out.

``CommonsenseAnnotator.load()`` reads an adapter file (the shipped default when none is
given), merges the adapter into the language encoder, embeds every knowledge-base statement
once, and then annotates a frame's objects in one batch: one EfficientNet pass over the
crops, one projector pass, one matrix product against the cached statement embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perception.commonsense.adapter_io import load_adapter
from perception.commonsense.encoders import ImageEncoder
from perception.commonsense.errors import AdapterFileError
from perception.commonsense.knowledge import KnowledgeBase, Statement

DEFAULT_ADAPTER_PATH = Path(__file__).parent / "data" / "default_adapter.safetensors"

#: Which knowledge-base subjects a coarse tracker class can be (``None``: any).
HINT_SUBJECTS: dict[str, set[str] | None] = {
    "car": {"car", "truck", "bus"},
    "pedestrian": {"pedestrian"},
    "cyclist": {"cyclist", "motorcyclist"},
    "other": None,
}


class CommonsenseAnnotator:
    """A loaded, merged, ready-to-run commonsense model with its knowledge base."""

    def __init__(self, model: Any, kb: KnowledgeBase, threshold: float, metadata: dict[str, str] | None = None,
                 image_encoder: ImageEncoder | None = None) -> None:
        self.model = model
        self.kb = kb
        self.threshold = float(threshold)
        self.metadata = dict(metadata or {})
        self.image_encoder = image_encoder or ImageEncoder()
        self.model.eval()
        self.model.adapter.merge()  # inference runs on merged weights
        with torch.no_grad():
            self.statement_embeddings = self.model.statement_embeddings(kb.texts)
        self._subjects = np.array([s.subject for s in kb.statements])

    @classmethod
    def load(cls, adapter_path: str | Path | None = None, kb: KnowledgeBase | str | Path | None = None,
             threshold: float | None = None) -> CommonsenseAnnotator:
        """Load an adapter file (``None``: the shipped default) and a knowledge base (``None``: shipped)."""
        path = Path(adapter_path) if adapter_path is not None else DEFAULT_ADAPTER_PATH
        if adapter_path is None and not path.is_file():
            raise AdapterFileError(f"the default adapter {path} is missing; train one with `s2mat vlm train` "
                                   "(see perception/commonsense/README.md)")
        model, meta = load_adapter(path)
        if not isinstance(kb, KnowledgeBase):
            kb = KnowledgeBase.load(kb)
        return cls(model, kb, float(meta["threshold"]) if threshold is None else threshold, meta)

    @torch.no_grad()
    def scores(self, crops: Sequence[np.ndarray] | None, geometry: np.ndarray, features: np.ndarray | None = None
               ) -> np.ndarray:
        """(K, S) probabilities of every statement for K objects (crops or precomputed features)."""
        if features is None:
            features = self.image_encoder.encode(list(crops or []))
        if len(features) == 0:
            return np.zeros((0, len(self.kb)), np.float32)
        geometry = np.asarray(geometry, dtype=np.float32).reshape(len(features), -1)
        objects = self.model.object_embeddings(features, geometry)
        return torch.sigmoid(self.model.logits(objects, self.statement_embeddings)).numpy()

    def annotate(self, crops: Sequence[np.ndarray], geometry: np.ndarray,
                 object_classes: Sequence[str | None] | None = None,
                 features: np.ndarray | None = None) -> list[list[Statement]]:
        """Statements above the threshold for each of K objects of one frame, best first.

        ``crops``: K RGB uint8 images (camera crops or :func:`render_lidar_view` images);
        ``geometry``: (K, 5) tokens (see ``geometry.GEOMETRY_FIELDS``); ``object_classes``:
        optional coarse tracker classes (car / pedestrian / cyclist / other) that restrict
        the statements to subjects that class can be.
        """
        probs = self.scores(crops, geometry, features)
        out: list[list[Statement]] = []
        for k, row in enumerate(probs):
            keep = row >= self.threshold
            hint = None if object_classes is None else object_classes[k]
            hint = getattr(hint, "value", hint)
            allowed = HINT_SUBJECTS.get(str(hint)) if hint is not None else None
            if allowed is not None:
                keep &= np.isin(self._subjects, list(allowed))
            idx = np.flatnonzero(keep)
            idx = idx[np.argsort(-row[idx], kind="stable")]
            out.append([self.kb.statements[i].with_score(float(row[i])) for i in idx])
        return out


def render_lidar_view(points: np.ndarray, center: np.ndarray, yaw: float, size: int = 128,
                      viewpoint: np.ndarray | None = None) -> np.ndarray:
    """A (size, size, 3) uint8 image of a track's LiDAR points, for objects without a camera view.

    ``points`` (N, 3) and ``center`` (3,) share one frame (metres); ``viewpoint`` is the sensor
    position in that frame (default: the origin). The points are seen from the sensor: the
    horizontal image axis runs across the line of sight, the vertical axis is height; pixel
    brightness encodes nearness, so the silhouette and the depth relief both show. ``yaw``
    is accepted so callers can pass a track's box directly; the view does not depend on it.
    """
    del yaw
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    img = np.zeros((size, size, 3), np.uint8)
    if len(pts) == 0:
        return img
    eye = np.zeros(3) if viewpoint is None else np.asarray(viewpoint, dtype=np.float64).reshape(3)
    sight = np.asarray(center, dtype=np.float64)[:2] - eye[:2]
    norm = np.linalg.norm(sight)
    fwd = sight / norm if norm > 1e-6 else np.array([1.0, 0.0])
    right = np.array([fwd[1], -fwd[0]])
    rel = pts - np.asarray(center, dtype=np.float64)
    u = rel[:, :2] @ right
    v = rel[:, 2]
    depth = rel[:, :2] @ fwd
    extent = max(np.ptp(u), np.ptp(v), 0.5) * 1.15
    px = ((u - (u.max() + u.min()) / 2) / extent + 0.5) * (size - 1)
    py = (0.5 - (v - (v.max() + v.min()) / 2) / extent) * (size - 1)
    shade = 1.0 - np.clip((depth - depth.min()) / max(np.ptp(depth), 1e-6), 0, 1)
    value = (80 + 175 * shade).astype(np.uint8)
    order = np.argsort(-depth)  # far first, so near points are drawn last
    radius = max(1, size // 64)
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            x = np.clip(np.round(px[order]).astype(int) + dx, 0, size - 1)
            y = np.clip(np.round(py[order]).astype(int) + dy, 0, size - 1)
            img[y, x] = value[order, None]
    return img


class TrackAnnotationCache:
    """Annotations per track id, refreshed only when a clearly better view arrives.

    A view is of a kind, ``camera`` or ``lidar``, and has a quality: any number where larger
    is better (crop area in pixels for camera views, point count for LiDAR views). A camera
    view replaces an annotation from a LiDAR view (the image shows what the points cannot:
    colour, lights, markings), never the other way round; a view of the same kind replaces the
    cached one when its quality is at least ``refresh_ratio`` times the cached quality.
    """

    RANK = {"lidar": 0, "camera": 1}

    def __init__(self, refresh_ratio: float = 1.5) -> None:
        self.refresh_ratio = float(refresh_ratio)
        self._entries: dict[int, dict[str, Any]] = {}

    def __contains__(self, track_id: int) -> bool:
        return track_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _rank(self, view: str) -> int:
        if view not in self.RANK:
            raise ValueError(f"view must be one of {', '.join(self.RANK)}, got {view!r}")
        return self.RANK[view]

    def needs_update(self, track_id: int, quality: float, view: str) -> bool:
        rank = self._rank(view)
        entry = self._entries.get(track_id)
        if entry is None:
            return True
        cached = self.RANK[entry["view"]]
        return rank > cached or (rank == cached and quality >= self.refresh_ratio * max(entry["quality"], 1e-9))

    def update(self, track_id: int, statements: list[Statement], quality: float, frame: int, view: str) -> None:
        self._rank(view)  # a view of an unknown kind is an error
        self._entries[track_id] = {"statements": statements, "quality": float(quality), "frame": int(frame),
                                   "view": view}

    def get(self, track_id: int) -> list[Statement] | None:
        entry = self._entries.get(track_id)
        return None if entry is None else entry["statements"]

    def entry(self, track_id: int) -> dict[str, Any] | None:
        return self._entries.get(track_id)

    def prune(self, live_ids: Sequence[int]) -> None:
        """Forget tracks that are no longer alive."""
        live = set(int(i) for i in live_ids)
        for key in [k for k in self._entries if k not in live]:
            del self._entries[key]
