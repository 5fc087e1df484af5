"""Ctrl-C ends a node process even when rclpy's teardown of a node never returns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from tests.ros.harness import domain_id, ros_env, stop  # noqa: E402

# A process spinning one real node whose destroy_node blocks for good, as rclpy's does now and then.
SCRIPT = textwrap.dedent("""
    import threading, time
    from rclpy.node import Node
    from s2mat_ros.graph import spin_nodes

    class Stuck(Node):
        def __init__(self):
            super().__init__("stuck")
            self.create_timer(0.05, lambda: None)
            print("ready", flush=True)

        def destroy_node(self):
            threading.Event().wait()

    spin_nodes([Stuck])
""")


def test_a_teardown_that_never_returns_does_not_keep_the_process_alive(tmp_path):
    log = tmp_path / "stuck.log"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=ros_env(domain_id(9)), stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "ready" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert "ready" in log.read_text(), log.read_text()
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        start = time.monotonic()
        rc = proc.wait(15)
        took = time.monotonic() - start
    finally:
        stop(proc)
    text = log.read_text()
    assert rc == 0, text[-2000:]
    assert took < 5.0, f"{took:.1f} s"  # before the parent's second Ctrl-C (graph.wait_processes)
    assert "teardown did not end" in text and "destroy_node" in text  # and where it hung
