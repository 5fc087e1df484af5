"""Small simulated sequences shared by the simulator tests (few columns, few frames: CI is 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2mat.sim import SimulatedSequence, simulate


@pytest.fixture(scope="session")
def street() -> SimulatedSequence:
    return simulate("street", sensor="hdl64", frames=8, seed=3, columns=512, camera=True)


@pytest.fixture(scope="session")
def written(street: SimulatedSequence, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The street sequence written once in every format."""
    root = tmp_path_factory.mktemp("sim_out")
    return {fmt: street.write(root / fmt, format=fmt) for fmt in ("kitti", "dynamicmap", "rosbag")}
