"""Exceptions raised by the commonsense annotator.

``perception`` does not import ``s2mat``, so the annotator has its own small hierarchy; the
``s2mat vlm`` commands turn these into one-line messages.
"""

from __future__ import annotations


class CommonsenseError(Exception):
    """Base class of every error the commonsense annotator raises on purpose."""


class EncoderUnavailableError(CommonsenseError):
    """A pretrained encoder package is not installed or its weights file is missing."""


class KnowledgeBaseError(CommonsenseError, ValueError):
    """A knowledge-base file is malformed (missing field, unknown relation or taxonomy cell)."""


class CropDatasetError(CommonsenseError):
    """A folder of labelled crops is missing, empty or has a malformed ``labels.jsonl``."""


class AdapterFileError(CommonsenseError):
    """An adapter file cannot be read: not safetensors, truncated, or its header is broken."""


class AdapterMismatchError(CommonsenseError):
    """An adapter file reads fine but does not fit the model (variant, rank, shapes, keys)."""
