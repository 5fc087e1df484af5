"""Dataset readers and writers. ``open_dataset(path)`` picks the reader from the path's shape."""

from __future__ import annotations

import os
from pathlib import Path

from s2mat.datasets.base import Dataset
from s2mat.errors import DatasetError

__all__ = ["Dataset", "open_dataset"]


def open_dataset(path: str | os.PathLike[str], *, topic: str | None = None) -> Dataset:
    """The reader for ``path``, chosen by its shape.

    - a rosbag2 folder (``metadata.yaml``) or a ``.mcap`` / ``.db3`` file → rosbag2 reader
    - a folder with ``velodyne/`` → KITTI / SemanticKITTI reader
    - a folder with ``pcd/`` (DynamicMap layout) or of ``.pcd`` / ``.ply`` / ``.bin`` files → scan folder
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    from s2mat.datasets.rosbag import is_bag

    if is_bag(path):
        from s2mat.datasets.rosbag import RosbagDataset

        return RosbagDataset(path, topic=topic)
    if path.is_file():
        raise DatasetError(f"{path}: a file that is not a rosbag2 (.mcap, .db3); give a folder of scans or a bag")
    if (path / "velodyne").is_dir():
        from s2mat.datasets.kitti import KittiDataset

        return KittiDataset(path)
    from s2mat.datasets.scans import SCAN_SUFFIXES, ScanFolderDataset

    if (path / "pcd").is_dir() or any(p.suffix.lower() in SCAN_SUFFIXES for p in path.iterdir()):
        return ScanFolderDataset(path)
    if not any(path.iterdir()):
        raise DatasetError(f"{path}: the folder is empty")
    raise DatasetError(
        f"{path}: not a dataset s2mat can read (expected a rosbag2, a KITTI folder with velodyne/, "
        "a DynamicMap folder with pcd/, or a folder of .pcd/.ply/.bin scans)"
    )
