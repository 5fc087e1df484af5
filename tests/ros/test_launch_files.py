"""The launch files are valid Python naming only executables, files and launch arguments that exist.

The ROS 2 launch tooling (launch, launch_ros) is not among the ROS 2 PyPI wheels, so the files are
checked statically here: their syntax tree is read, includes are followed to the included file, and
every launch argument passed to an include or read with LaunchConfiguration is declared.
"""

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


def _assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level NAME = expression assignments."""
    return {node.targets[0].id: node.value for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _file_beside(expr: ast.expr, names: dict[str, ast.expr]) -> str:
    """The file name of an expression like ``str(HERE / "x.launch.py")`` or a constant holding it."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id in names and node.id not in {"HERE", "Path"}:
            return _file_beside(names[node.id], names)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
            return node.right.value
    raise AssertionError(f"cannot resolve the included file of {ast.unparse(expr)}")


def _keys(expr: ast.expr) -> set[str]:
    """Argument names of ``launch_arguments={...}.items()`` or ``[("name", value), ...]``."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "items":
        expr = expr.func.value
    if isinstance(expr, ast.Dict):
        return {k.value for k in expr.keys}
    if isinstance(expr, (ast.List, ast.Tuple)):
        return {e.elts[0].value for e in expr.elts}
    raise AssertionError(f"launch_arguments not a literal: {ast.unparse(expr)}")


class LaunchFile:
    """What a launch file declares, reads, starts and includes, from its syntax tree."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))  # valid Python
        names = _assignments(self.tree)
        self.declared = {_first_string(c) for c in _calls(self.tree, "DeclareLaunchArgument")}
        self.required = {_first_string(c) for c in _calls(self.tree, "DeclareLaunchArgument")
                         if not any(k.arg == "default_value" for k in c.keywords)}
        self.read = {_first_string(c) for c in _calls(self.tree, "LaunchConfiguration")}
        self.executables = {k.value.value for c in _calls(self.tree, "Node") for k in c.keywords
                            if k.arg == "executable" and isinstance(k.value, ast.Constant)}
        if "NODES" in names:
            self.executables |= set(ast.literal_eval(names["NODES"]).values())
        self.includes: list[tuple[str, set[str]]] = []
        for call in _calls(self.tree, "IncludeLaunchDescription"):
            source = call.args[0]
            assert isinstance(source, ast.Call) and source.func.id == "PythonLaunchDescriptionSource"
            passed = next((_keys(k.value) for k in call.keywords if k.arg == "launch_arguments"), set())
            self.includes.append((_file_beside(source.args[0], names), passed))
        text = path.read_text()
        self.files = {a or b for a, b in re.findall(r'HERE / "([^"]+)"|parent / "([^"]+)"', text)}


def test_there_are_a_main_and_a_replay_launch_file():
    assert {p.name for p in LAUNCH_FILES} >= {"s2mat.launch.py", "s2mat_replay.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_and_files(path):
    launch = LaunchFile(path)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in launch.tree.body)
    # Includes: the included file exists beside this one, and every argument passed to it is declared there;
    # the included file's required arguments are passed or come from this file's command line.
    included = []
    for name, passed in launch.includes:
        assert (LAUNCH / name).is_file(), f"{path.name} includes missing launch/{name}"
        inner = LaunchFile(LAUNCH / name)
        assert passed <= inner.declared, f"{path.name} passes {passed - inner.declared} not declared by {name}"
        assert inner.required <= passed | launch.declared, f"{name} needs {inner.required - passed}"
        included.append(inner)
    # Every launch argument this file reads is declared by it (or by a file it includes, which sets it).
    declared = launch.declared.union(*(inner.declared for inner in included))
    assert launch.read <= declared, f"{path.name} reads undeclared {launch.read - declared}"
    # Executables started here or by the included files are console scripts of s2mat_ros.
    scripts = _console_scripts()
    executables = launch.executables.union(*(inner.executables for inner in included))
    ours = executables - {"rviz2"}  # RViz is the only executable from another package
    assert ours and ours <= set(scripts), f"{path.name} names {ours - set(scripts)} not in setup.py"
    for name in ours:
        module, func = scripts[name].split(":")
        assert callable(getattr(importlib.import_module(module), func))
    # Files referenced beside the launch file exist, and the params file is valid for the nodes.
    files = launch.files.union(*(inner.files for inner in included))
    assert "params.yaml" in files
    for name in files:
        assert (LAUNCH / name).is_file(), f"{path.name} refers to missing launch/{name}"
    check_params_file(LAUNCH / "params.yaml")


def test_the_replay_file_includes_the_graph_on_sim_time():
    launch = LaunchFile(LAUNCH / "s2mat_replay.launch.py")
    assert launch.includes == [("s2mat.launch.py", {"use_sim_time"})]
    assert not launch.executables - {"rviz2"}, "the replay file defines the graph's nodes again"


def _ros2_launch():
    """The ROS 2 launch package, not the unrelated PyPI project named ``launch``."""
    launch = pytest.importorskip("launch", reason="the ROS 2 launch tooling (launch, launch_ros) is not installed; "
                                                  "it is not among the ROS 2 PyPI wheels")
    if not hasattr(launch, "LaunchDescription"):
        # Without the tooling, `import launch` finds this repository's launch/ folder as a namespace package.
        pytest.skip("the ROS 2 launch tooling (launch, launch_ros) is not installed; it is not among the ROS 2 "
                    f"PyPI wheels (`launch` resolves to {list(getattr(launch, '__path__', []))})")
    pytest.importorskip("launch_ros", reason="launch_ros is not installed; it is not among the ROS 2 PyPI wheels")
    return launch


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_builds_a_description_under_ros2_launch(path):
    _ros2_launch()
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities
