"""Exceptions raised by s2mat. Library code raises these; only the CLI prints and exits."""

from __future__ import annotations


class S2MATError(Exception):
    """Base class of every error s2mat raises on purpose."""


class ConfigError(S2MATError, ValueError):
    """A configuration file, preset or override is invalid."""


class DatasetError(S2MATError):
    """An input path cannot be read as a dataset (missing, empty, mixed or unknown layout)."""


class CorruptFileError(DatasetError):
    """A file exists but its contents are malformed (truncated, broken header, bad values)."""


class PointCloud2Error(S2MATError, ValueError):
    """A PointCloud2 message is malformed or cannot be decoded as requested."""


class OutputExistsError(S2MATError):
    """An output folder already holds files and overwriting was not asked for."""
