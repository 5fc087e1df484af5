"""s2mat: Simultaneous and Self-reinforced Mapping And Tracking."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s2mat")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
