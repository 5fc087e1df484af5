"""``s2mat ros up`` (start the ROS 2 graph) and ``s2mat ros record OUT_BAG`` (record its outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2mat.cli.app import app, console, handle_errors
from s2mat.errors import S2MATError

ros_app = typer.Typer(help="The s2mat ROS 2 graph: run the nodes, record their outputs.", no_args_is_help=True)
app.add_typer(ros_app, name="ros")


def _require_ros() -> None:
    try:
        import rclpy  # noqa: F401

        import s2mat_ros  # noqa: F401
    except ImportError as exc:
        raise S2MATError(f"ROS 2 support is not installed ({exc}); install s2mat with the 'ros' extra "
                         "and the s2mat_ros package (pip install -e ros2_ws/src/s2mat_ros)") from None


@ros_app.command("up")
@handle_errors
def up(
    params: Annotated[Path | None, typer.Option("--params", help="ROS 2 parameters file (launch/params.yaml).")] = None,
    processes: Annotated[bool, typer.Option("--processes", help="One process per node, talking over DDS "
                                            "(default: composed in one process, an executor thread per node).")] = False,
    sim_time: Annotated[bool, typer.Option("--sim-time", help="use_sim_time: follow /clock (e.g. from s2mat replay).")
                        ] = False,
    parameters: Annotated[list[str] | None, typer.Option("-p", help="Set one parameter, e.g. -p max_pending:=5 "
                                                         "(repeatable).")] = None,
) -> None:
    """Start the mapping and perception nodes (the same graph as launch/s2mat.launch.py)."""
    _require_ros()
    from s2mat_ros.graph import composed_main, ros_args, start_processes, wait_processes
    from s2mat_ros.params import check_params_file

    if params is not None:
        check_params_file(params)
    extra: list[str] = []
    for item in parameters or []:
        if ":=" not in item:
            raise S2MATError(f"parameter {item!r} is not of the form name:=value")
        extra += ["-p", item]
    if sim_time:
        extra += ["-p", "use_sim_time:=true"]
    if processes:
        raise typer.Exit(wait_processes(start_processes(params, extra)))
    composed_main(["s2mat", *ros_args(params, extra)])


@ros_app.command("record")
@handle_errors
def record(
    out_bag: Annotated[Path, typer.Argument(help="rosbag2 folder to write (mcap).")],
    topics: Annotated[list[str] | None, typer.Option("--topics", help="Record only these output topics.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")] = None,
    sim_time: Annotated[bool, typer.Option("--sim-time", help="Bag times from /clock.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bag.")] = False,
) -> None:
    """Record the graph's outputs (odometry, path, tracks, points, map) into OUT_BAG."""
    _require_ros()
    from s2mat_ros.recorder import record as run_record

    args = ["s2mat", "--ros-args", "-p", "use_sim_time:=true"] if sim_time else ["s2mat"]
    try:
        counts = run_record(out_bag, topics, duration, args=args, overwrite=overwrite)
    except ValueError as exc:
        raise S2MATError(str(exc)) from None
    console.print(f"recorded {sum(counts.values())} messages into {out_bag}: "
                  + ", ".join(f"{t} {n}" for t, n in counts.items()))
