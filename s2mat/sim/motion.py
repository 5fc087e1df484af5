"""Paths and speed profiles: where a simulated body is at any time.

A :class:`Trajectory` follows a dense polyline (map frame, metres) with a piecewise-linear
speed profile over time. Evaluation is vectorised over arrays of times, so a LiDAR sweep can
ask for the pose of an object at every column's firing time at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DT = 0.01  # seconds between samples of the integrated arc length

#: Below this speed (m/s) a body counts as standing still.
MOVING_SPEED = 0.1


def polyline(points: np.ndarray | list, step: float = 0.25) -> np.ndarray:
    """Resample a coarse ``(K, 2|3)`` polyline to about ``step`` metres between vertices (z kept)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    seg = np.linalg.norm(np.diff(pts[:, :2], axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    si = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(si, s, pts[:, k]) for k in range(3)])


def arc(center: tuple[float, float], radius: float, a0: float, a1: float, z: float = 0.0, step: float = 0.25) -> np.ndarray:
    """Points along a circular arc from angle ``a0`` to ``a1`` (radians), map frame."""
    n = max(2, int(np.ceil(abs(a1 - a0) * radius / step)) + 1)
    a = np.linspace(a0, a1, n)
    return np.column_stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a), np.full(n, z)])


@dataclass
class Trajectory:
    """A body moving along ``path`` ((K, 3) x, y, ground z) with speed knots ``(t_k, v_k)``.

    Speed is interpolated linearly between knots and held outside them; the body stops at the
    end of the path. ``heading_offset`` turns the body relative to the path tangent (radians).
    """

    path: np.ndarray
    knots_t: np.ndarray
    knots_v: np.ndarray
    duration: float
    start_s: float = 0.0
    heading_offset: float = 0.0
    fixed_yaw: float | None = None  # yaw for a body that never moves along a path

    def __post_init__(self) -> None:
        self.path = np.asarray(self.path, dtype=np.float64)
        if self.path.ndim != 2 or self.path.shape[1] != 3 or len(self.path) < 2:
            raise ValueError("trajectory path must be (K>=2, 3)")
        seg = np.linalg.norm(np.diff(self.path[:, :2], axis=0), axis=1)
        self._s = np.concatenate([[0.0], np.cumsum(seg)])
        d = np.diff(self.path[:, :2], axis=0)
        head = np.arctan2(d[:, 1], d[:, 0])
        head = np.concatenate([head, head[-1:]])
        # Smooth the heading at vertices (average of neighbouring segments), unwrapped for interpolation.
        head = np.unwrap(head)
        self._heading = np.concatenate([[head[0]], 0.5 * (head[:-2] + head[1:-1]), [head[-2]]])
        self._t = np.arange(0.0, self.duration + 2 * _DT, _DT)
        v = np.interp(self._t, np.asarray(self.knots_t, float), np.asarray(self.knots_v, float))
        s = self.start_s + np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * _DT)])
        self._sgrid = np.clip(s, 0.0, self._s[-1])

    @classmethod
    def constant(cls, path: np.ndarray, speed: float, duration: float, start_s: float = 0.0) -> Trajectory:
        return cls(path, np.array([0.0]), np.array([speed]), duration, start_s)

    @classmethod
    def standing(cls, x: float, y: float, z: float, yaw: float, duration: float) -> Trajectory:
        """A body that never moves."""
        path = np.array([[x, y, z], [x + 1e-3 * np.cos(yaw), y + 1e-3 * np.sin(yaw), z]])
        return cls(path, np.array([0.0]), np.array([0.0]), duration, 0.0, fixed_yaw=yaw)

    @property
    def length(self) -> float:
        return float(self._s[-1])

    def arclength(self, t: np.ndarray | float) -> np.ndarray:
        return np.interp(t, self._t, self._sgrid)

    def pose(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Ground position ``(..., 3)`` and yaw ``(...)`` at times ``t`` (cheaper than :meth:`state`)."""
        s = self.arclength(np.asarray(t, dtype=np.float64))
        pos = np.stack([np.interp(s, self._s, self.path[:, k]) for k in range(3)], axis=-1)
        if self.fixed_yaw is not None:
            return pos, np.full(s.shape, self.fixed_yaw)
        return pos, np.interp(s, self._s, self._heading) + self.heading_offset

    def state(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position ``(..., 3)`` (ground point), yaw ``(...)`` and velocity ``(..., 3)`` at times ``t``."""
        t = np.asarray(t, dtype=np.float64)
        s = self.arclength(t)
        pos = np.stack([np.interp(s, self._s, self.path[:, k]) for k in range(3)], axis=-1)
        if self.fixed_yaw is not None:
            yaw = np.full(t.shape, self.fixed_yaw)
        else:
            yaw = np.interp(s, self._s, self._heading) + self.heading_offset
        s_next = self.arclength(t + _DT)
        s_prev = self.arclength(t - _DT)
        speed = (s_next - s_prev) / (2 * _DT)
        head = np.interp(s, self._s, self._heading)
        vel = np.stack([speed * np.cos(head), speed * np.sin(head), np.zeros_like(speed)], axis=-1)
        return pos, yaw, vel

    def moving(self, t: np.ndarray | float) -> np.ndarray:
        """Whether the body moves faster than :data:`MOVING_SPEED` at times ``t``."""
        t = np.asarray(t, dtype=np.float64)
        return (self.arclength(t + _DT) - self.arclength(t - _DT)) / (2 * _DT) > MOVING_SPEED
