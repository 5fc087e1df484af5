"""``s2mat demo``: simulate a street, map it with the S2MAT loop, score it, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2mat.cli.app import app, console, handle_errors
from s2mat.cli.map import metrics_table, progress_wrap, setup_logging


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced if it holds an earlier demo).")] = Path("runs/demo"),
    scenario: Annotated[str, typer.Option(help="Simulated scenario.")] = "street",
    frames: Annotated[int, typer.Option(min=5, help="Frames to simulate (10 Hz).")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 0,
) -> None:
    """The whole loop on an embedded default: a simulated 64-beam street with moving traffic."""
    from s2mat.config import preset
    from s2mat.run import run_dataset
    from s2mat.sim import simulate

    setup_logging()
    console.print(f"simulating {frames} frames of the '{scenario}' scenario (hdl64, seed {seed})")
    sequence = simulate(scenario, sensor="hdl64", frames=frames, seed=seed, camera=False)
    summary = run_dataset(sequence, preset("hdl64"), out, overwrite=True, wrap=progress_wrap("mapping"))
    console.print(metrics_table(summary.metrics, title=f"s2mat demo: {scenario}, {summary.frames} frames"))
    console.print(f"report: {summary.report.resolve()}")
