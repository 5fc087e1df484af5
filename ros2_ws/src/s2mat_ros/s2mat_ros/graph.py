"""Running the nodes: all in one process (composed), or one node per process.

The ``annotator`` node joins the graph when the parameter ``annotator.enabled`` is true (in
the params file or as ``-p annotator.enabled:=true``)."""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from s2mat_ros.dds import use_large_data_profile

NODE_MODULES = {"mapping": "s2mat_ros.mapping_node", "perception": "s2mat_ros.perception_node"}
ANNOTATOR_MODULE = "s2mat_ros.annotator_node"
_TRUE = {"true", "1", "yes", "on"}


SHUTDOWN_DUMP = 4.0  # seconds after Ctrl-C a node process may take to end before its stacks are logged
# Seconds one node's teardown (rclpy's destroy_node) may take. Now and then it never returns,
# waiting for a middleware handle that nothing in the process holds any more (the mapping node
# in one of three CI runs on 2026-11-25, at the end of the end-to-end replay test); the process
# then logs where it hung and ends without it, before the parent's second Ctrl-C
# (wait_processes, 5 s).
DESTROY_TIMEOUT = 3.0


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


STOP_POLL = 0.1  # seconds: how often an idle executor thread looks whether the process is stopping
SHUTDOWN_GRACE = 1.0  # seconds an error waits for a Ctrl-C to reach the context before it counts as one


def _spin(executor: SingleThreadedExecutor, stopping: threading.Event, errors: list[BaseException]) -> None:
    """Spin until Ctrl-C, shutdown or ``stopping``. An error that is not part of a shutdown
    (see :func:`_shutting_down`) is kept in ``errors``; either way ``stopping`` is set, so that
    every node of the process stops."""
    try:
        while rclpy.ok() and not stopping.is_set():
            executor.spin_once(timeout_sec=STOP_POLL)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - handed to the main thread
        if not _shutting_down(stopping):
            errors.append(exc)
    finally:
        stopping.set()


def _shutting_down(stopping: threading.Event) -> bool:
    """Whether the process is stopping: ``stopping`` is set, or the context goes down within
    SHUTDOWN_GRACE seconds. Ctrl-C shuts the context down from a thread of rclpy's own, and
    the call it lands in may fail first: an executor building its wait set on the closing
    context (RCLError), or taking a message while the KeyboardInterrupt is pending (a
    RuntimeError of the binding). Those are a shutdown, not an error."""
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while rclpy.ok() and not stopping.is_set():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def spin_nodes(factories: Sequence[Callable[[], Node | None]], args: list[str] | None = None) -> None:
    """Create the nodes in one context and spin each on a single-threaded executor of its own
    (the first on this thread, the others on one thread each) until Ctrl-C or an external
    shutdown; then destroy them and shut down cleanly.

    One node's callbacks never overlap, and nodes run side by side. A multi-threaded executor
    would give the same order, but while one callback of a node runs, it loses messages of that
    node's best-effort subscriptions: the annotator, busy annotating, missed every camera image
    after the first in 6 of 10 test runs."""
    faulthandler.enable()  # a crash in native code leaves the Python stacks of every thread in the log
    use_large_data_profile()
    rclpy.init(args=args if args is not None else sys.argv)
    nodes: list[Node] = []
    executors: list[SingleThreadedExecutor] = []
    threads: list[threading.Thread] = []
    stopping = threading.Event()
    errors: list[BaseException] = []
    try:
        for factory in factories:
            node = factory()
            if node is None:  # a factory may decide its node is not wanted
                continue
            nodes.append(node)
            executors.append(SingleThreadedExecutor())
            executors[-1].add_node(node)
        for executor, node in zip(executors[1:], nodes[1:], strict=True):
            threads.append(threading.Thread(target=_spin, args=(executor, stopping, errors), name=node.get_name(),
                                            daemon=True))
            threads[-1].start()
        if executors:
            _spin(executors[0], stopping, errors)
    except KeyboardInterrupt:  # while the nodes are made
        pass
    finally:
        # A shutdown that hangs (once the graph took longer than the test's 15 s to end) leaves
        # every thread's Python stack in the log after SHUTDOWN_DUMP seconds and goes on; the
        # process ends right after spin_nodes, which cancels the dump when it ends in time.
        faulthandler.dump_traceback_later(SHUTDOWN_DUMP)
        stopping.set()
        for thread in threads:
            thread.join()
        for executor in executors:
            executor.shutdown()
        for node in nodes:
            stats = getattr(node, "stats", None)
            if stats:  # counts of received, skipped, processed ... inputs (read by benchmarks/bench_ros.py)
                print(f"[INFO] [{node.get_name()}]: stats: " + json.dumps(stats, separators=(",", ":")),
                      file=sys.stderr, flush=True)
        hung = [node.get_name() for node in nodes if not destroyed(node, DESTROY_TIMEOUT)]
        if hung:
            print(f"[WARN] [{', '.join(hung)}]: the node's teardown did not end within {DESTROY_TIMEOUT:g} s; "
                  "the process ends without it (stacks below)", file=sys.stderr, flush=True)
            faulthandler.dump_traceback(file=sys.stderr)
            sys.stdout.flush()
            os._exit(1 if errors else 0)
        rclpy.try_shutdown()
    if errors:
        raise errors[0]


def destroyed(node: Node, timeout: float) -> bool:
    """Destroy ``node`` on a thread of its own; False when that did not end within ``timeout``
    seconds (the thread is left behind, a daemon)."""
    teardown = threading.Thread(target=node.destroy_node, name=f"destroy {node.get_name()}", daemon=True)
    teardown.start()
    teardown.join(timeout)
    return not teardown.is_alive()


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
