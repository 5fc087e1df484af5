"""The ROS 2 graph at sensor rate: skipped frames and latency from input stamp to published tracks.

Simulated ``hdl64`` scans are published by this script at 10 Hz on ``/points`` (sensor-data
QoS) into the mapping and perception nodes running as separate processes (``s2mat ros up
--processes``, default parameters: ``max_pending`` 1, so a cloud arriving while a frame is in
flight replaces any older queued one). It prints: clouds published; clouds the mapping node
received (the rest were lost in DDS: a best-effort reader overwritten while the node was busy,
or dropped in transport); clouds it skipped for lack of time (replaced in its queue); frames
lost in the lockstep; frames processed and every input frame not processed; track lists
received; the latency from publishing a cloud (wall time at its stamp) to receiving its track
list, median and 95th percentile; each node's per-frame time budget (median ms per phase, from
the nodes' ``timing_log`` lines: the S2MAT step's own parts vs what the node adds around them);
the CPU time per processed frame of each process (the nodes with their DDS threads, and this
script publishing and listening) against the machine's core time per input frame, and of each
node by thread (main: the callbacks; s2mat-integrate: the map's background work; s2mat-map:
its free-space tests; dds: Fast DDS); and, as the
peer measured in the same run, the offline ``S2MAT.step`` time per frame on the
same scans, with the ratio of the median latency to it; and those numbers along the run, per
window of frames (the static map's free-space test runs over its live voxels, which grow with
the distance driven: a short run shows the start, not the steady state).

    .venv/bin/python benchmarks/bench_ros.py [--frames 40] [--columns N] [--rate 10] [--log FILE] [--large-data]
                                             [--set KEY=VALUE ...]
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
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat import pointcloud2 as pc2  # noqa: E402
from s2mat.pipeline import S2MAT  # noqa: E402
from s2mat.sim import simulate  # noqa: E402
from s2mat_ros.graph import ANNOTATOR_MODULE  # noqa: E402
from s2mat_ros.graph import NODE_MODULES as GRAPH_MODULES  # noqa: E402
from s2mat_ros.timing import parse_line  # noqa: E402
from tests.ros.harness import Listener, domain_id, node_stats, start_graph, stop, write_params  # noqa: E402

NODE_MODULES = {**GRAPH_MODULES, "annotator": ANNOTATOR_MODULE}

# Per-frame phases of each node: the S2MAT step's own parts, then what the node adds around them.
STEP_PHASES = {"mapping": ("begin", "evidence", "register", "finish"),
               "perception": ("detect", "track")}
NODE_PHASES = {"mapping": ("points", "wire", "outputs", "publish"),
               "perception": ("decode", "prepare", "wire", "outputs")}
WAIT_PHASES = {"mapping": ("idle",), "perception": ("wait_points", "evidence_wait", "wait_pose")}


def budget_table(text: str) -> list[str]:
    """Median milliseconds per phase and node over the frames both nodes logged a budget for."""
    rows: dict[str, list[dict]] = {"mapping": [], "perception": []}
    for line in text.splitlines():
        fields = parse_line(line)
        if fields and fields.get("node") in rows:
            rows[str(fields["node"])].append(fields)
    out = []
    for node, frames in rows.items():
        if not frames:
            continue

        def med(name: str, frames: list[dict] = frames) -> float:
            return float(np.median([f.get(name, 0.0) for f in frames]))

        step = sum(med(k) for k in STEP_PHASES[node])
        overhead = sum(med(k) for k in NODE_PHASES[node])
        wait = sum(med(k) for k in WAIT_PHASES[node])
        parts = lambda names: ", ".join(f"{k} {med(k):.1f}" for k in names)  # noqa: E731
        out.append(f"{node:10s} frame {med('total'):6.1f} ms over {len(frames)} frames = step {step:.1f} "
                   f"({parts(STEP_PHASES[node])}) + node {overhead:.1f} ({parts(NODE_PHASES[node])}) "
                   f"+ waiting {wait:.1f} ({parts(WAIT_PHASES[node])})")
        if node == "mapping":
            out.append(f"{'':10s} of evidence, register and finish: waiting for background work "
                       f"{med('map_wait'):.1f}; before the frame: decoded on arrival in {med('decode'):.1f} ms "
                       f"(while idle), queued {med('queued'):.1f} ms")
    return out


def along_the_run(text: str, times: list[float], sent: dict[int, float], arrivals: dict[int, float],
                  offline_ms: list[float], windows: int = 5) -> list[str]:
    """Per window of consecutive input frames (``windows`` of them, at least 20 frames each):
    clouds skipped, median latency to the track list and median offline step time."""
    skipped = np.zeros(len(times), dtype=int)
    for at in re.findall(r"\[mapping\]: skipped the cloud at ([0-9.]+) s", text):
        skipped[int(np.argmin(np.abs(np.asarray(times) - float(at))))] += 1
    stamps = [round(t * 1e9) for t in times]
    size = max(20, -(-len(times) // windows))
    rows = []
    for lo in range(0, len(times), size):
        hi = min(lo + size, len(times))
        late = [(arrivals[s] - sent[s]) * 1e3 for s in stamps[lo:hi] if s in arrivals and s in sent]
        latency = f"{np.median(late):4.0f} ms" if late else "   - "
        rows.append(f"frames {lo + 1:4d}-{hi:4d}: skipped {int(skipped[lo:hi].sum()):3d}, latency median {latency}, "
                    f"offline step median {np.median(offline_ms[lo:hi]):4.0f} ms")
    return rows


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of a /proc/<pid>/stat file after the command name (state first), or None
    when the process ended meanwhile."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu(fields: list[str], tick: int) -> float:
    """User + system CPU seconds of a /proc stat record (:func:`_stat_fields`)."""
    return (int(fields[11]) + int(fields[12])) / tick


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each of ``pids`` has used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        if fields is not None:
            out[pid] = _cpu(fields, tick)
    return out


def thread_kind(pid: int, tid: int, name: str) -> str:
    """What a thread of a node process does, from its OS name: the main thread (callbacks),
    s2mat's pools (``s2mat-integrate``, ``s2mat-map``), Fast DDS's threads, or other."""
    if tid == pid:
        return "main"
    if name.startswith("s2mat-"):
        return name.rstrip("_0123456789")
    return "dds" if name.startswith("dds.") else "other"


def thread_cpu_seconds(pids: list[int]) -> dict[tuple[int, str], float]:
    """User + system CPU seconds so far per process and kind of thread (:func:`thread_kind`)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[tuple[int, str], float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
            fields = _stat_fields(task / "stat")
            try:
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            if fields is not None:
                key = (pid, thread_kind(pid, int(task.name), name))
                out[key] = out.get(key, 0.0) + _cpu(fields, tick)
    return out


def process_names(pids: list[int]) -> dict[int, str]:
    """The node a process runs (the module after ``-m`` on its command line), or its program name."""
    names = {}
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        module = cmd[cmd.index("-m") + 1] if "-m" in cmd[:-1] else ""
        names[pid] = next((node for node, name in NODE_MODULES.items() if name == module), Path(cmd[0]).name)
    return names


def _parameter(text: str) -> object:
    """A --set value: a number when it reads as one (YAML 1.1 leaves ``1e-3`` a string), else YAML."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--columns", type=int, default=None, help="columns per sweep (default: the preset's)")
    parser.add_argument("--rate", type=float, default=10.0, help="input clouds per second")
    parser.add_argument("--log", type=Path, default=None, help="also write the nodes' log (with the timing lines) here")
    parser.add_argument("--large-data", action="store_true",
                        help="FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (shared memory + TCP for large samples)")
    parser.add_argument("--no-whole-map", dest="whole_map", action="store_false",
                        help="do not subscribe to /s2mat/static_map, as on a robot without a viewer "
                             "(the node then builds no whole map)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a node parameter for this run, dotted as in the config (odometry.num_threads=2); repeatable")
    args = parser.parse_args()
    extra = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected KEY=VALUE")
        extra[key.replace(".", "__")] = _parameter(value)
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
        params = write_params(tmp_path / "params.yaml",
                              **{"max_pending": 1, "lockstep_timeout": 5.0, "timing_log": True, **extra})
        listener = Listener(domain, whole_map=args.whole_map)
        publisher = listener.node.create_publisher(PointCloud2, "/points", qos_profile_sensor_data)
        log = tmp_path / "graph.log"
        graph = start_graph(params, domain, log, processes=True)
        try:
            if not listener.wait_for_graph(60):
                raise SystemExit("the graph did not come up:\n" + log.read_text())
            listener.spin_until(lambda: False, 1.0)
            sent: dict[int, float] = {}
            pids = process_tree(graph.pid)
            names = process_names(pids)
            cpu0, threads0, own0 = cpu_seconds(pids), thread_cpu_seconds(pids), time.process_time()
            start = time.time()
            for i, msg in enumerate(msgs):
                due = start + i / args.rate
                listener.spin_until(lambda due=due: time.time() >= due, 10)
                sent[round(frames[i].timestamp * 1e9)] = time.time()
                publisher.publish(msg)
            listener.spin_until(lambda: False, 5.0)
            cpu1, threads1, own1 = cpu_seconds(pids), thread_cpu_seconds(pids), time.process_time()
        finally:
            stop(graph)
            listener.close()
        text = log.read_text()
    if args.log is not None:
        args.log.write_text(text)

    arrivals = dict(listener.track_arrival)
    latency = np.array([(arrivals[s] - t) * 1e3 for s, t in sent.items() if s in arrivals])
    stats = node_stats(text, "mapping")
    if not stats:
        raise SystemExit("the mapping node logged no stats at shutdown:\n" + text[-3000:])
    skipped = len(re.findall(r"\[mapping\]: skipped the cloud", text))
    assert skipped == stats["skipped"], (skipped, stats)
    missing = len(re.findall(r"no frame points for the frame", text))
    lost = len(sent) - stats["received"]
    print(f"published clouds            {len(sent)}")
    print(f"received by the mapping     {stats['received']} (lost in DDS: {lost})")
    print(f"skipped for lack of time    {stats['skipped']} (replaced in the mapping node's queue)")
    print(f"begun early                 {stats.get('overlapped', 0)} (a queued cloud begun while the last frame was tracked)")
    print(f"lost in lockstep            {stats['aborted']} (perception missing the frame's points: {missing})")
    print(f"processed                   {stats['processed']}; input frames not processed: "
          f"{len(sent) - stats['processed']} of {len(sent)}")
    print(f"track lists received        {len(arrivals)}")
    if len(latency):
        med, p95 = np.median(latency), np.percentile(latency, 95)
        print(f"latency stamp -> tracks     median {med:.0f} ms, p95 {p95:.0f} ms")
        print(f"offline S2MAT.step (peer)   median {np.median(offline_ms):.0f} ms, p95 "
              f"{np.percentile(offline_ms, 95):.0f} ms; latency / offline step = {med / np.median(offline_ms):.2f}")
    cpu: dict[str, float] = {}
    for pid, used in cpu1.items():
        name = names.get(pid, str(pid))
        cpu[name] = cpu.get(name, 0.0) + used - cpu0.get(pid, 0.0)
    cpu["this script (publisher, listener)"] = own1 - own0
    per_frame = {k: v / max(1, stats["processed"]) * 1e3 for k, v in cpu.items() if v > 0.01}
    cores = os.cpu_count() or 1
    print(f"CPU per processed frame     {sum(per_frame.values()):.0f} ms in all ("
          + ", ".join(f"{k} {v:.0f}" for k, v in per_frame.items())
          + f"; DDS threads included); {cores} cores give {cores * 1e3 / args.rate:.0f} ms per input frame "
          f"at {args.rate:g} Hz")
    by_node: dict[str, list[str]] = {}
    for (pid, kind), used in sorted(threads1.items()):
        ms = (used - threads0.get((pid, kind), 0.0)) / max(1, stats["processed"]) * 1e3
        if ms >= 0.5:
            by_node.setdefault(names.get(pid, str(pid)), []).append(f"{kind} {ms:.0f}")
    print("  by thread: " + "; ".join(f"{node}: {', '.join(parts)}" for node, parts in by_node.items()))
    print("per-frame budget (median ms; frame = from its start in the node to its end there):")
    for row in budget_table(text):
        print("  " + row)
    print("along the run (the static map's live voxels grow with the distance driven):")
    for row in along_the_run(text, [f.timestamp for f in frames], sent, arrivals, offline_ms):
        print("  " + row)


if __name__ == "__main__":
    main()
