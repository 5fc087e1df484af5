"""The ROS 2 graph at sensor rate: skipped frames and latency from input stamp to published tracks.

Simulated ``hdl64`` scans are published by this script at 10 Hz on ``/points`` (sensor-data
QoS) into the mapping and perception nodes running as separate processes (``s2mat ros up
--processes``, default parameters: ``max_pending`` 1, so a cloud arriving while a frame is in
flight replaces any older queued one). It prints: clouds published; clouds the mapping node
received; clouds it skipped for lack of time; frames lost in the lockstep; track lists
published; the latency from publishing a cloud (wall time at its stamp) to receiving its track
list, median and 95th percentile; and, as the peer measured in the same run, the offline
``S2MAT.step`` time per frame on the same scans, with the ratio of the median latency to it.

    .venv/bin/python benchmarks/bench_ros.py [--frames 40] [--columns N] [--rate 10] [--large-data]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat.pipeline import S2MAT  # noqa: E402
from s2mat.sim import simulate  # noqa: E402
from tests.ros.harness import Listener, domain_id, start_graph, stop, write_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--columns", type=int, default=None, help="columns per sweep (default: the preset's)")
    parser.add_argument("--rate", type=float, default=10.0, help="input clouds per second")
    parser.add_argument("--large-data", action="store_true",
                        help="FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (shared memory + TCP for large samples)")
    args = parser.parse_args()
    if args.large_data:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"

    seq = simulate("street", sensor="hdl64", frames=args.frames, seed=0, columns=args.columns, camera=False)
    frames = list(seq)
    msgs = [pc2.from_frame(f, frame_id="lidar", backend="rclpy") for f in frames]
    print(f"{len(frames)} hdl64 scans, {np.mean([len(f) for f in frames]):.0f} points each, "
          f"{np.mean([len(m.data) for m in msgs]) / 1e6:.2f} MB per PointCloud2, at {args.rate:g} Hz")

    # Peer in the same run: the offline loop on the same scans.
    s2mat = S2MAT()
    offline_ms = []
    for f in frames:
        t0 = time.perf_counter()
        s2mat.step(f)
        offline_ms.append((time.perf_counter() - t0) * 1e3)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        domain = domain_id(40)
        params = write_params(tmp_path / "params.yaml", max_pending=1, lockstep_timeout=5.0)
        listener = Listener(domain)
        publisher = listener.node.create_publisher(PointCloud2, "/points", qos_profile_sensor_data)
        log = tmp_path / "graph.log"
        graph = start_graph(params, domain, log, processes=True)
        try:
            if not listener.wait_for_graph(60):
                raise SystemExit("the graph did not come up:\n" + log.read_text())
            listener.spin_until(lambda: False, 1.0)
            sent: dict[int, float] = {}
            start = time.time()
            for i, msg in enumerate(msgs):
                due = start + i / args.rate
                listener.spin_until(lambda due=due: time.time() >= due, 10)
                sent[round(frames[i].timestamp * 1e9)] = time.time()
                publisher.publish(msg)
            listener.spin_until(lambda: False, 5.0)
        finally:
            stop(graph)
            listener.close()
        text = log.read_text()

    arrivals = dict(listener.track_arrival)
    latency = np.array([(arrivals[s] - t) * 1e3 for s, t in sent.items() if s in arrivals])
    skipped = len(re.findall(r"\[mapping\]: skipped the cloud", text))
    missing = len(re.findall(r"no input cloud stamped", text))
    aborted = len(re.findall(r"frame dropped", text))
    print(f"published clouds            {len(sent)}")
    print(f"track lists received        {len(arrivals)}")
    print(f"skipped for lack of time    {skipped}")
    print(f"lost in lockstep            {aborted} (perception missing the cloud: {missing})")
    print(f"not received by the nodes   {len(sent) - len(arrivals) - skipped - aborted}")
    if len(latency):
        med, p95 = np.median(latency), np.percentile(latency, 95)
        print(f"latency stamp -> tracks     median {med:.0f} ms, p95 {p95:.0f} ms")
        print(f"offline S2MAT.step (peer)   median {np.median(offline_ms):.0f} ms, p95 "
              f"{np.percentile(offline_ms, 95):.0f} ms; latency / offline step = {med / np.median(offline_ms):.2f}")


if __name__ == "__main__":
    main()
