"""Preview images of a simulated sequence: a bird's-eye map with trajectories, and a camera frame."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from s2mat.datasets.atomic import atomic_write
from s2mat.types import ObjectClass

if TYPE_CHECKING:
    from s2mat.sim.sequence import SimulatedSequence

_CLASS_COLORS = {ObjectClass.CAR: "tab:blue", ObjectClass.PEDESTRIAN: "tab:orange", ObjectClass.CYCLIST: "tab:green",
                 ObjectClass.OTHER: "tab:gray"}


def birds_eye(seq: SimulatedSequence, path: str | os.PathLike[str], *, frame: int | None = None) -> Path:
    """A PNG of the static world from above (coloured by height), every agent's trajectory over the
    sequence, the boxes at ``frame`` (default: the middle one) and the sensor path. World frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    index = len(seq) // 2 if frame is None else frame
    times = np.arange(len(seq)) * seq.period
    ego = seq.gt_poses()[:, :2, 3]
    world = seq.static_world
    lo, hi = ego.min(axis=0) - 45.0, ego.max(axis=0) + 45.0
    shown = world[np.all((world[:, :2] >= lo) & (world[:, :2] <= hi), axis=1)]
    order = np.argsort(shown[:, 2], kind="stable")
    shown = shown[order][:: max(1, len(shown) // 250_000)]
    fig, ax = plt.subplots(figsize=(12, 12 * (hi[1] - lo[1]) / max(hi[0] - lo[0], 1.0) + 0.6), dpi=110)
    ax.set_facecolor("black")
    ax.scatter(shown[:, 0], shown[:, 1], c=np.clip(shown[:, 2], -2.0, 8.0), s=0.3, cmap="viridis", linewidths=0)
    for agent in seq.world.agents:
        track = np.stack([seq.object_box_at(agent.instance_id, t).box.center[:2] for t in times])
        ax.plot(track[:, 0], track[:, 1], "-", color=_CLASS_COLORS[agent.object_class], lw=1.2, alpha=0.9)
    for box in seq.boxes_at(seq.timestamp(index)):
        color = _CLASS_COLORS[box.object_class] if box.moving else "white"
        ax.add_patch(Polygon(box.box.corners_xy(), closed=True, fill=False, edgecolor=color, lw=1.0))
    ax.plot(ego[:, 0], ego[:, 1], "-", color="red", lw=2.0, label="sensor path")
    ax.plot(*ego[index], "o", color="red", ms=6)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_title(f"{seq.scenario} (seed {seq.seed}, {len(seq)} frames): blue cars, orange people, green cyclists, "
                 f"white parked/standing, red sensor")
    fig.tight_layout()
    out = Path(path)
    with atomic_write(out, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return out


def camera_frame(seq: SimulatedSequence, path: str | os.PathLike[str], *, frame: int | None = None) -> Path:
    """A PNG of the camera image at ``frame`` (default: the middle one), rendered even when the
    sequence was made without a camera."""
    from PIL import Image

    from s2mat.sim.camera import Renderer, default_camera

    index = len(seq) // 2 if frame is None else frame
    camera = seq.camera or default_camera()
    t = seq.timestamp(index)
    image = Renderer(camera).render(seq.world, seq.map_T_sensor(t), t)
    out = Path(path)
    with atomic_write(out, "wb") as fh:
        Image.fromarray(image).save(fh, format="PNG")
    return out
