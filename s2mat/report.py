"""``report.html``: a bird's-eye picture of the map, trajectory and track tails, and timing."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from s2mat.datasets.atomic import atomic_write_text

CROP_MARGIN = 35.0  # metres around the trajectory shown in the picture
CLASS_COLORS = {"car": "#1f77b4", "pedestrian": "#d62728", "cyclist": "#2ca02c", "other": "#9467bd"}


def birdseye_png(map_points: np.ndarray, poses: np.ndarray, tails: Mapping[int, Sequence[np.ndarray]],
                 moving: Mapping[int, bool], dynamic_points: np.ndarray | None = None, max_points: int = 400_000,
                 classes: Mapping[int, str] | None = None, margin: float = CROP_MARGIN) -> bytes:
    """PNG bytes of the run seen from above (world frame, metres), cropped to ``margin``
    around the trajectory: the static map in dark grey shades by height, the points kept out
    of the map in orange, the trajectory in black, and each track as a short tail in its
    class's colour ending at its last box centre; moving tracks are labelled with class and
    id, stationary ones drawn as small hollow squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = classes or {}
    if len(poses):
        lo = poses[:, :2, 3].min(axis=0) - margin
        hi = poses[:, :2, 3].max(axis=0) + margin
    else:
        lo, hi = np.array([-margin, -margin]), np.array([margin, margin])

    def inside(p: np.ndarray) -> np.ndarray:
        return np.all((p[:, :2] >= lo) & (p[:, :2] <= hi), axis=1)

    span = hi - lo
    width = 12.0
    height = float(np.clip(width * span[1] / max(span[0], 1e-6), 4.0, 12.0)) + 1.0
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.set_facecolor("#f4f4f0")
    if len(map_points):
        pts = map_points[inside(map_points)]
        if len(pts) > max_points:
            pts = pts[np.random.default_rng(0).choice(len(pts), max_points, replace=False)]
        if len(pts):
            z = pts[:, 2]
            zlo, zhi = np.percentile(z, [2, 98])
            shade = np.clip((z - zlo) / max(zhi - zlo, 1e-6), 0, 1)
            ax.scatter(pts[:, 0], pts[:, 1], s=0.3, c=shade, cmap="Greys", vmin=-1.6, vmax=1.0,
                       linewidths=0, rasterized=True, label="static map")
    if dynamic_points is not None and len(dynamic_points):
        dyn = dynamic_points[inside(dynamic_points)]
        ax.scatter(dyn[:, 0], dyn[:, 1], s=0.4, c="#ff9f1c", alpha=0.6, linewidths=0, rasterized=True,
                   label="kept out of the map")
    if len(poses):
        ax.plot(poses[:, 0, 3], poses[:, 1, 3], "-", color="black", lw=2.2, label="trajectory")
        ax.plot(poses[-1, 0, 3], poses[-1, 1, 3], "^", color="black", ms=10)
    for track_id, tail in sorted(tails.items()):
        tail = np.asarray(tail)
        end = tail[-1]
        if not (lo[0] <= end[0] <= hi[0] and lo[1] <= end[1] <= hi[1]):
            continue
        kind = classes.get(track_id, "other")
        color = CLASS_COLORS.get(kind, CLASS_COLORS["other"])
        if moving.get(track_id):
            ax.plot(tail[:, 0], tail[:, 1], "-", color=color, lw=2.4, solid_capstyle="round")
            ax.plot(end[0], end[1], "o", color=color, ms=6, mec="white", mew=0.8)
            ax.annotate(f"{kind} {track_id}", end[:2], fontsize=9, color=color, xytext=(5, 5),
                        textcoords="offset points", fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
        else:
            ax.plot(end[0], end[1], "s", color=color, ms=5, mfc="none", mew=1.2)
    for kind, color in CLASS_COLORS.items():
        if kind != "other":
            ax.plot([], [], "-", color=color, lw=2.4, label=f"{kind} track (moving: tail + label)")
    ax.plot([], [], "s", color="#555555", mfc="none", label="stationary track")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, world)")
    ax.set_ylabel("y (m, world)")
    ax.set_title("static map, trajectory and confirmed road-user tracks (tails: last second)")
    ax.legend(loc="upper right", fontsize=8, markerscale=1.5, framealpha=0.85)
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
