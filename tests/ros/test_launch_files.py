"""The launch files are valid Python naming only executables and parameter files that exist."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from s2mat_ros.params import check_params_file

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch"
SETUP = REPO / "ros2_ws" / "src" / "s2mat_ros" / "setup.py"
LAUNCH_FILES = sorted(LAUNCH.glob("*.launch.py"))


def _console_scripts() -> dict[str, str]:
    text = SETUP.read_text()
    return dict(re.findall(r'"(\w+) = ([\w.:]+)"', text))


def _string_constants(tree: ast.AST) -> dict[str, object]:
    """Module-level NAME = literal assignments (dicts and strings)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def test_there_are_a_main_and_a_replay_launch_file():
    assert {p.name for p in LAUNCH_FILES} >= {"s2mat.launch.py", "s2mat_replay.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_and_files(path):
    tree = ast.parse(path.read_text(), filename=str(path))  # valid Python
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    scripts = _console_scripts()
    executables = set(_string_constants(tree)["NODES"].values())
    executables |= {n.value.value for n in ast.walk(tree)
                    if isinstance(n, ast.keyword) and n.arg == "executable" and isinstance(n.value, ast.Constant)}
    ours = executables - {"rviz2"}  # RViz is the only executable from another package
    assert ours and ours <= set(scripts), f"{path.name} names {ours - set(scripts)} not in setup.py"
    for name in ours:
        module, func = scripts[name].split(":")
        assert callable(getattr(importlib.import_module(module), func))
    # Files referenced beside the launch file exist, and the params file is valid for the nodes.
    referenced = re.findall(r'HERE / "([^"]+)"|parent / "([^"]+)"', path.read_text())
    names = {a or b for a, b in referenced}
    assert "params.yaml" in names
    for name in names:
        assert (LAUNCH / name).is_file(), f"{path.name} refers to missing launch/{name}"
    check_params_file(LAUNCH / "params.yaml")


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_builds_a_description_under_ros2_launch(path):
    pytest.importorskip("launch", reason="the ROS 2 launch tooling (launch, launch_ros) is not installed; "
                                         "it is not among the ROS 2 PyPI wheels")
    pytest.importorskip("launch_ros", reason="launch_ros is not installed")
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities
