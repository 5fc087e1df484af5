"""``s2mat replay BAG``: publish a rosbag2 into a live ROS 2 graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2mat.cli.app import app, console, err_console, handle_errors
from s2mat.errors import S2MATError

DRAIN_TIMEOUT = 10.0  # wall seconds the replay waits for reliable subscribers to acknowledge its last messages


def _import_ros():
    try:
        import rclpy

        from s2mat_ros.replay import BagPlayer, ReplayOptions
    except ImportError as exc:
        raise S2MATError(f"ROS 2 support is not installed ({exc}); install s2mat with the 'ros' extra") from None
    return rclpy, BagPlayer, ReplayOptions


def _topic_count(text: str) -> tuple[str, int]:
    topic, _, count = text.partition(":")
    if not topic.startswith("/") or (count and not count.isdigit()):
        raise S2MATError(f"--wait-for {text!r}: expected /topic or /topic:N")
    return topic, int(count or 1)


@app.command()
@handle_errors
def replay(
    bag: Annotated[Path, typer.Argument(help="rosbag2 folder, .mcap or .db3 file.")],
    rate: Annotated[float, typer.Option(help="Playback speed factor (2 = twice as fast).")] = 1.0,
    loop: Annotated[bool, typer.Option(help="Start again at the end (bag time jumps back).")] = False,
    start: Annotated[float, typer.Option(help="Skip this many seconds of the bag.")] = 0.0,
    duration: Annotated[float | None, typer.Option(help="Play only this many seconds.")] = None,
    topics: Annotated[list[str] | None, typer.Option("--topics", help="Play only these topics (repeatable).")] = None,
    clock: Annotated[bool, typer.Option("--clock/--no-clock", help="Publish /clock with the bag time.")] = True,
    delay: Annotated[float, typer.Option(help="Seconds to wait before playing, so subscribers connect.")] = 1.0,
    wait_for: Annotated[list[str] | None, typer.Option(
        "--wait-for", help="TOPIC or TOPIC:N: before playing, wait until TOPIC has N (default 1) matched "
                           "subscriptions (repeatable).")] = None,
) -> None:
    """Publish BAG's messages at their recorded timing (scaled by --rate), with /clock."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from s2mat.datasets.rosbag import is_bag

    if not is_bag(bag):
        raise S2MATError(f"{bag}: not a rosbag2 (a folder with metadata.yaml, a .mcap or a .db3 file)")
    rclpy, BagPlayer, ReplayOptions = _import_ros()
    try:
        options = ReplayOptions(rate=rate, loop=loop, start=start, duration=duration, topics=topics, clock=clock,
                                delay=delay, wait_for=dict(_topic_count(t) for t in wait_for or []))
    except ValueError as exc:
        raise S2MATError(str(exc)) from None
    from s2mat_ros.dds import use_large_data_profile

    use_large_data_profile()
    rclpy.init()
    node = rclpy.create_node("s2mat_replay")
    try:
        player = BagPlayer(node, bag, options)
        first, last = player.window
        span = max((last - first) * 1e-9, 1e-9)
        with Progress(TextColumn("[bold]bag time"), BarColumn(), TextColumn("{task.fields[t]}"),
                      TimeElapsedColumn(), console=err_console) as progress:
            task = progress.add_task("replay", total=span, t="")

            def on_progress(offset_ns: int) -> None:
                seconds = offset_ns * 1e-9
                progress.update(task, completed=seconds, t=f"{seconds:7.2f} / {span:.2f} s")

            count = player.play(on_progress)
        console.print(f"published {count} messages from {bag}")
        try:
            drained = player.drain(DRAIN_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a middleware without acknowledgement queries
            err_console.print(f"[yellow]warning:[/] could not wait for the subscribers' acknowledgements ({exc}); "
                              "they may miss the end of the bag")
        else:
            if not drained:
                err_console.print(f"[yellow]warning:[/] some reliable subscribers had not acknowledged every "
                                  f"message {DRAIN_TIMEOUT:g} s after the last one; they may miss the end of the bag")
    except TimeoutError as exc:
        raise S2MATError(f"no subscribers: {exc}") from None
    except KeyboardInterrupt:
        console.print("replay interrupted")
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
