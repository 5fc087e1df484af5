"""The ``s2mat`` command as a user runs it: a real subprocess of the installed entry point."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

from s2mat import __version__
from s2mat.datasets.pcd import read_pcd_header
from s2mat.datasets.rosbag import write_pointcloud_bag
from s2mat.types import Frame


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s2mat", *args], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"})


def test_version_and_help():
    assert run_cli("--version").stdout.strip() == f"s2mat {__version__}"
    help_text = run_cli("--help").stdout
    assert "info" in help_text


def test_info_on_real_scans_reports_22_frames(udacity_dir):
    result = run_cli("info", str(udacity_dir))
    assert result.returncode == 0, result.stderr
    assert "scan-folder" in result.stdout
    assert re.search(r"frames\s+│\s+22\s", result.stdout)  # the README's 22 scans
    counts = [read_pcd_header(p).points for p in sorted(udacity_dir.glob("*.pcd"))]
    assert f"min {min(counts)}  median {int(np.median(counts))}  max {max(counts)}" in result.stdout


def test_info_on_a_bag_written_by_the_project(tmp_path):
    rng = np.random.default_rng(0)
    frames = [Frame(points=rng.normal(size=(1000 + i, 3)), timestamp=10 + 0.1 * i, index=i) for i in range(5)]
    write_pointcloud_bag(tmp_path / "run", frames)
    result = run_cli("info", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "rosbag2" in result.stdout and "/points" in result.stdout
    assert "min 1000  median 1002  max 1004" in result.stdout


def test_info_on_a_missing_path_is_a_one_line_error():
    result = run_cli("info", "/definitely/not/here")
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
