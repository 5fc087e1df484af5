"""``s2mat eval OUT --data INPUT``: score the outputs of an earlier ``s2mat map`` run, without re-running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from s2mat.cli.app import app, console, handle_errors
from s2mat.cli.map import metrics_table, setup_logging


@app.command("eval")
@handle_errors
def eval_command(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder of s2mat map.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="The input of that run, with ground truth.")],
    topic: Annotated[str | None, typer.Option(help="PointCloud2 topic of a bag with several.")] = None,
    write: Annotated[bool, typer.Option(help="Also (re)write OUT/metrics.json.")] = False,
) -> None:
    """Score OUT's static map, poses and tracks against the ground truth of INPUT."""
    from s2mat.datasets import open_dataset
    from s2mat.datasets.atomic import atomic_write_text
    from s2mat.errors import DatasetError
    from s2mat.evaluation.run import evaluate_outputs
    from s2mat.run import _json_default, finite

    setup_logging()
    dataset = open_dataset(data, topic=topic)
    metrics, frames = evaluate_outputs(out, dataset)
    if set(metrics) <= {"timing"}:
        raise DatasetError(f"{data} has no ground truth (poses, point labels or boxes): nothing to score")
    console.print(metrics_table(metrics, title=f"s2mat eval: {out} ({frames} frames)"))
    if write:
        atomic_write_text(out / "metrics.json", json.dumps(finite(metrics), indent=2, allow_nan=False,
                                                           default=_json_default))
        console.print(f"metrics: {out / 'metrics.json'}")
