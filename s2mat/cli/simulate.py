"""``s2mat simulate``: write a simulated street sequence with full ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2mat.cli.app import app, console, handle_errors, track_progress


@app.command()
@handle_errors
def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (must be new or empty unless --overwrite).")],
    scenario: Annotated[str, typer.Option(help="street, intersection, crowd or parked-departure.")] = "street",
    sensor: Annotated[str, typer.Option(help="LiDAR preset: vlp16, hdl64, os1-32, os1-64.")] = "hdl64",
    frames: Annotated[int, typer.Option(help="Number of LiDAR sweeps (10 per second).")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the procedural world and the sensor noise.")] = 0,
    format: Annotated[str, typer.Option("--format", help="kitti, dynamicmap or rosbag.")] = "kitti",
    columns: Annotated[int | None, typer.Option(help="Columns per sweep (default: the preset's).")] = None,
    camera: Annotated[bool, typer.Option("--camera/--no-camera", help="Render a forward camera image per frame.")] = True,
    distortion: Annotated[bool, typer.Option("--distortion/--no-distortion",
                                             help="Move sensor and objects during each sweep.")] = True,
    preview: Annotated[bool, typer.Option(help="Also write preview/birds_eye.png and preview/camera.png.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
) -> None:
    """Simulate a street scenario and write it as KITTI, DynamicMap or rosbag2 with ground truth."""
    from s2mat.errors import ConfigError
    from s2mat.sim import simulate as make_sequence
    from s2mat.sim.writers import FORMATS, check_output

    if format not in FORMATS:
        raise ConfigError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}")
    check_output(out, overwrite)
    seq = make_sequence(scenario, sensor=sensor, frames=frames, seed=seed, columns=columns, camera=camera,
                        motion_distortion=distortion)
    seq.write(out, format=format, overwrite=overwrite,
              progress=lambda it: track_progress(it, total=len(seq), description=f"simulating {scenario}"))
    moving = seq.moving_share()
    console.print(f"wrote {len(seq)} {seq.sensor} frames of [bold]{scenario}[/] as {format} to {out} "
                  f"(moving points {100 * moving:.2f}%)")
    if preview:
        from s2mat.sim.preview import birds_eye, camera_frame

        bev = birds_eye(seq, out / "preview" / "birds_eye.png")
        cam = camera_frame(seq, out / "preview" / "camera.png")
        console.print(f"preview: {bev}, {cam}")
