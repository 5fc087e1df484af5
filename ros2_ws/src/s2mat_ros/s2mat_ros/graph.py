"""Running the nodes: one process with one executor (composed), or one node per process.

The ``annotator`` node joins the graph when the parameter ``annotator.enabled`` is true (in
the params file or as ``-p annotator.enabled:=true``)."""

from __future__ import annotations

import faulthandler
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from s2mat_ros.dds import use_large_data_profile

NODE_MODULES = {"mapping": "s2mat_ros.mapping_node", "perception": "s2mat_ros.perception_node"}
ANNOTATOR_MODULE = "s2mat_ros.annotator_node"
_TRUE = {"true", "1", "yes", "on"}


SHUTDOWN_DUMP = 4.0  # seconds after Ctrl-C a node process may take to end before its stacks are logged


def annotator_enabled(params: Path | None, extra: Sequence[str] = ()) -> bool:
    """Whether ``annotator.enabled`` is true in the params file, or in ``-p`` arguments (which win)."""
    enabled = False
    if params is not None:
        from s2mat_ros.params import check_params_file

        enabled = str(check_params_file(params).get("annotator.enabled", False)).lower() in _TRUE
    for item in extra:
        name, sep, value = str(item).partition(":=")
        if sep and name.strip() == "annotator.enabled":
            enabled = value.strip().lower() in _TRUE
    return enabled


def spin_nodes(factories: Sequence[Callable[[], Node | None]], args: list[str] | None = None,
               threads: int = 4) -> None:
    """Create the nodes in one context and spin them on one executor until Ctrl-C or an external
    shutdown; then destroy them and shut down cleanly. ``threads`` 1 gives a single-threaded
    executor (no thread pool, no GIL hand-offs: for nodes that never wait inside a callback)."""
    faulthandler.enable()  # a crash in native code leaves the Python stacks of every thread in the log
    use_large_data_profile()
    rclpy.init(args=args if args is not None else sys.argv)
    nodes: list[Node] = []
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    try:
        for factory in factories:
            node = factory()
            if node is None:  # a factory may decide its node is not wanted
                continue
            nodes.append(node)
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # Ctrl-C shuts the context down from the signal handler; an executor that was just
        # building its wait set then fails on the closed context (RCLError). That is a shutdown,
        # not an error; anything raised while the context is still up is one.
        if rclpy.ok():
            raise
    finally:
        # A shutdown that hangs (once the graph took longer than the test's 15 s to end) leaves
        # every thread's Python stack in the log after SHUTDOWN_DUMP seconds and goes on; the
        # process ends right after spin_nodes, which cancels the dump when it ends in time.
        faulthandler.dump_traceback_later(SHUTDOWN_DUMP)
        executor.shutdown()
        for node in nodes:
            stats = getattr(node, "stats", None)
            if stats:  # counts of received, skipped, processed ... inputs (read by benchmarks/bench_ros.py)
                line = "stats: " + json.dumps(stats, separators=(",", ":"))
                if node.context.ok():
                    node.get_logger().info(line)
                else:  # after Ctrl-C the context is down and the logger's rosout publisher with it
                    print(f"[INFO] [{node.get_name()}]: {line}", file=sys.stderr, flush=True)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def composed_main(args: list[str] | None = None) -> None:
    """Console script ``s2mat_graph``: mapping and perception in one process, and the
    annotator when the mapping node's configuration has ``annotator.enabled``."""
    from s2mat_ros.mapping_node import MappingNode
    from s2mat_ros.perception_node import PerceptionNode

    made: list[Node] = []

    def mapping() -> Node:
        made.append(MappingNode())
        return made[-1]

    def annotator() -> Node | None:
        if not made or not made[0].config.annotator.enabled:
            return None
        from s2mat_ros.annotator_node import AnnotatorNode

        return AnnotatorNode()

    spin_nodes([mapping, PerceptionNode, annotator], args)


def ros_args(params: Path | None, extra: Sequence[str] = ()) -> list[str]:
    """``--ros-args`` for a params file and extra ``-p name:=value`` style arguments."""
    out = ["--ros-args"]
    if params is not None:
        out += ["--params-file", str(params)]
    return out + list(extra)


def start_processes(params: Path | None, extra: Sequence[str] = ()) -> list[subprocess.Popen]:
    """One process per node (they talk over DDS), with the same parameters; the annotator's
    too when ``annotator.enabled`` is true."""
    modules = list(NODE_MODULES.values()) + ([ANNOTATOR_MODULE] if annotator_enabled(params, extra) else [])
    return [subprocess.Popen([sys.executable, "-m", module, *ros_args(params, extra)]) for module in modules]


def wait_processes(procs: list[subprocess.Popen]) -> int:
    """Wait for the node processes. Ctrl-C reaches them through the terminal's process group;
    children still running 5 s later (or on SIGTERM) are sent SIGINT, then killed after 10 s.
    Returns 0 when every node ended cleanly or by Ctrl-C, else the first failing status."""
    def forward(signum: int = signal.SIGINT, _frame: object = None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)

    def settle(grace: float) -> None:
        try:
            for p in procs:
                p.wait(grace)
        except subprocess.TimeoutExpired:
            forward()
            try:
                for p in procs:
                    p.wait(10.0)
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        try:
            for p in procs:
                p.wait()
        except KeyboardInterrupt:
            settle(5.0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for p in procs:
        p.wait()
    bad = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGINT)]
    return bad[0] if bad else 0
