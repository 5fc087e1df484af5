"""The small protocol every reader implements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from s2mat.types import Frame


@runtime_checkable
class Dataset(Protocol):
    """A sequence of LiDAR frames, read lazily.

    ``name`` names the reader (shown by ``s2mat info``); ``has_ground_truth`` says whether
    frames carry :class:`~s2mat.types.FrameGroundTruth`; ``gt_poses`` returns the
    ``(len, 4, 4)`` ground-truth ``world_T_sensor`` poses or ``None``.
    """

    name: str
    path: Path

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def __getitem__(self, index: int) -> Frame: ...

    @property
    def has_ground_truth(self) -> bool: ...

    def gt_poses(self) -> np.ndarray | None: ...


class IndexedDataset:
    """Shared behaviour of readers with random access: iteration and bounds checks."""

    name = "dataset"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _read(self, index: int) -> Frame:  # pragma: no cover - overridden
        raise NotImplementedError

    def __getitem__(self, index: int) -> Frame:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames in {self.path}")
        return self._read(index)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self._read(i)

    @property
    def has_ground_truth(self) -> bool:
        return self.gt_poses() is not None

    def gt_poses(self) -> np.ndarray | None:
        return None
