"""Commonsense annotations of street objects with a ShareLoRA-adapted dual-encoder VLM.

Entry points (imported lazily, so the knowledge base works without torch)::

    from perception.commonsense import CommonsenseAnnotator, KnowledgeBase
    annotator = CommonsenseAnnotator.load()              # shipped default adapter
    statements = annotator.annotate(crops, geometry, object_classes)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CommonsenseAnnotator": "perception.commonsense.annotator",
    "TrackAnnotationCache": "perception.commonsense.annotator",
    "render_lidar_view": "perception.commonsense.annotator",
    "DEFAULT_ADAPTER_PATH": "perception.commonsense.annotator",
    "KnowledgeBase": "perception.commonsense.knowledge",
    "Statement": "perception.commonsense.knowledge",
    "AdapterSpec": "perception.commonsense.sharelora",
    "GEOMETRY_FIELDS": "perception.commonsense.geometry",
    "geometry_from_track": "perception.commonsense.geometry",
    "CommonsenseError": "perception.commonsense.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'perception.commonsense' has no attribute {name!r}")
