"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """A path under ``../shared/data``; the calling test is skipped when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is not present (see ../shared/data/README.md)")
    return path


@pytest.fixture
def udacity_dir() -> Path:
    return shared_data_path("udacity_city_22")


@pytest.fixture
def registration_pair_dir() -> Path:
    return shared_data_path("registration_pair")


@pytest.fixture
def kitti_tracking_dir() -> Path:
    return shared_data_path("kitti_tracking")
