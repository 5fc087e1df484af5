"""The ``s2mat`` command-line application object and the options its commands share."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from s2mat import __version__
from s2mat.errors import S2MATError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="s2mat",
    help="Simultaneous and Self-reinforced Mapping And Tracking for LiDAR in dynamic streets.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

# Options shared by every command that takes a configuration.
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML configuration file.", exists=False)
]
SensorOption = Annotated[
    str | None, typer.Option("--sensor", help="Sensor preset: vlp16, hdl64, os1-32, os1-64.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting, e.g. --set mapping.voxel_size=0.2 (repeatable)."),
]

F = TypeVar("F", bound=Callable[..., object])


def handle_errors(func: F) -> F:
    """Turn s2mat's own exceptions into a red one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except S2MATError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def progress(transient: bool = False) -> Progress:
    """A rich progress bar with count, rate-friendly columns and time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )


T = TypeVar("T")


def track_progress(items: Iterable[T], total: int | None, description: str, unit: str = "frames") -> Iterable[T]:
    """Iterate ``items`` with a progress bar that shows the rate in ``unit`` per second."""
    import time

    with progress() as bar:
        task = bar.add_task(description, total=total, rate="")
        start = time.perf_counter()
        for count, item in enumerate(items, start=1):
            yield item
            elapsed = time.perf_counter() - start
            bar.update(task, advance=1, rate=f"{count / elapsed:.1f} {unit}/s" if elapsed > 0 else "")


def version_callback(value: bool) -> None:
    if value:
        console.print(f"s2mat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """s2mat: LiDAR mapping and multi-object tracking, each making the other better."""
