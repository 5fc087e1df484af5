"""``s2mat simulate``: writes, previews, and refuses bad input without leaving anything behind."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from s2mat.cli import app

runner = CliRunner()


def test_simulate_writes_a_readable_folder_and_previews(tmp_path):
    from PIL import Image

    from s2mat.datasets import open_dataset

    out = tmp_path / "run"
    result = runner.invoke(app, ["simulate", str(out), "--scenario", "parked-departure", "--sensor", "vlp16",
                                 "--frames", "3", "--columns", "360", "--format", "rosbag", "--preview"])
    assert result.exit_code == 0, result.output
    assert "moving points" in " ".join(result.output.split())  # rich wraps long paths at the terminal width
    assert len(open_dataset(out)) == 3
    with Image.open(out / "preview" / "birds_eye.png") as bev, Image.open(out / "preview" / "camera.png") as cam:
        assert bev.size[0] > 500 and cam.size == (640, 192)


@pytest.mark.parametrize("args, message", [
    (["--scenario", "highway"], "unknown scenario"),
    (["--sensor", "velodyne"], "unknown sensor preset"),
    (["--frames", "0"], "frames must be a positive"),
    (["--frames", "-2"], "frames must be a positive"),
    (["--format", "las"], "unknown output format"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "run"
    result = runner.invoke(app, ["simulate", str(out), "--sensor", "vlp16", "--frames", "2", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_output_needs_overwrite(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    result = runner.invoke(app, ["simulate", str(tmp_path), "--sensor", "vlp16", "--frames", "1"])
    assert result.exit_code == 2 and "not empty" in " ".join(result.output.split())
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]
