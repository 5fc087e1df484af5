"""Exceptions raised by the mapping back end (it does not import s2mat)."""

from __future__ import annotations


class MappingError(Exception):
    """Base class of every error the mapping package raises on purpose."""


class MapFileError(MappingError):
    """A saved map (PLY/PCD + JSON sidecar) is missing, malformed or inconsistent."""


class ScanError(MappingError, ValueError):
    """A scan handed to the back end has the wrong shape or mismatched per-point fields."""
