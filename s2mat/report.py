"""``report.html``: a bird's-eye picture of the map, trajectory and track tails, and timing."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from s2mat.datasets.atomic import atomic_write_text

TAIL_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
               "#469990", "#9a6324", "#800000", "#808000", "#000075"]


def birdseye_png(map_points: np.ndarray, poses: np.ndarray, tails: Mapping[int, Sequence[np.ndarray]],
                 moving: Mapping[int, bool], dynamic_points: np.ndarray | None = None, max_points: int = 400_000) -> bytes:
    """PNG bytes: map points coloured by height (grey scale), the trajectory in black, each
    track's tail as a coloured line ending in a dot (moving tracks solid, stationary dashed),
    and the points kept out of the map in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 9), dpi=110)
    if len(map_points):
        pts = map_points
        if len(pts) > max_points:
            pts = pts[np.random.default_rng(0).choice(len(pts), max_points, replace=False)]
        z = pts[:, 2]
        lo, hi = np.percentile(z, [2, 98])
        ax.scatter(pts[:, 0], pts[:, 1], s=0.15, c=np.clip((z - lo) / max(hi - lo, 1e-6), 0, 1),
                   cmap="Greys", vmin=-0.3, vmax=1.2, linewidths=0, rasterized=True, label="static map")
    if dynamic_points is not None and len(dynamic_points):
        ax.scatter(dynamic_points[:, 0], dynamic_points[:, 1], s=0.3, c="#ff4d4d", linewidths=0,
                   rasterized=True, label="kept out of the map (dynamic)")
    if len(poses):
        ax.plot(poses[:, 0, 3], poses[:, 1, 3], "-", color="black", lw=2, label="trajectory")
        ax.plot(poses[-1, 0, 3], poses[-1, 1, 3], "^", color="black", ms=9)
    for i, (track_id, tail) in enumerate(sorted(tails.items())):
        tail = np.asarray(tail)
        color = TAIL_COLORS[i % len(TAIL_COLORS)]
        style = "-" if moving.get(track_id) else ":"
        ax.plot(tail[:, 0], tail[:, 1], style, color=color, lw=2)
        ax.plot(tail[-1, 0], tail[-1, 1], "o", color=color, ms=5)
        ax.annotate(str(track_id), tail[-1, :2], fontsize=7, color=color, xytext=(3, 3), textcoords="offset points")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, world)")
    ax.set_ylabel("y (m, world)")
    ax.set_title("static map (grey), trajectory (black), track tails (solid: moving, dotted: stationary)")
    ax.legend(loc="upper right", fontsize=8, markerscale=12)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def timing_png(timing: Sequence[Mapping[str, float]]) -> bytes:
    """PNG bytes: milliseconds per frame, stacked by stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [k for k in timing[0] if k not in ("frame", "total")] if timing else []
    frames = np.array([t["frame"] for t in timing])
    fig, ax = plt.subplots(figsize=(11, 3.2), dpi=110)
    bottom = np.zeros(len(timing))
    for stage in stages:
        values = np.array([t.get(stage, 0.0) for t in timing])
        ax.bar(frames, values, bottom=bottom, width=1.0, label=stage)
        bottom += values
    ax.set_xlabel("frame")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8, ncol=len(stages) or 1)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _metrics_table(metrics: Mapping[str, Mapping[str, object]]) -> str:
    rows = []
    for section, values in metrics.items():
        for key, value in values.items():
            text = f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))
            rows.append(f"<tr><td>{html.escape(section)}</td><td>{html.escape(key)}</td><td>{text}</td></tr>")
    return "<table><tr><th>section</th><th>metric</th><th>value</th></tr>" + "".join(rows) + "</table>"


def write_report(path: Path, *, title: str, birdseye: bytes, timing: bytes, metrics: Mapping, summary: Mapping[str, str]) -> None:
    """Write a self-contained ``report.html`` (images embedded), atomically."""
    facts = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in summary.items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}} img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table>{facts}</table>
<h2>Bird's-eye view</h2>{_img(birdseye, "bird's-eye view of the static map, trajectory and tracks")}
<h2>Time per frame</h2>{_img(timing, "milliseconds per frame by stage")}
<h2>Metrics</h2>{_metrics_table(metrics) if metrics else "<p>No ground truth: nothing to score.</p>"}
</body></html>
"""
    atomic_write_text(path, page)
