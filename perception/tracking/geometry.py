"""Vectorised geometry of upright boxes: overlap of rotated rectangles and 3D IoU.

Boxes are rows ``[x, y, z, length, width, height, yaw]`` in one Cartesian frame with z up:
(x, y, z) is the centre of the box volume, yaw is about +z, units are metres and radians.
Every function works on whole arrays of boxes (no Python loop over pairs).
"""

from __future__ import annotations

import numpy as np

from perception.types import Box3D

BOX_DIM = 7
_NEXT = np.array([1, 2, 3, 0])
_SX = np.array([1.0, -1.0, -1.0, 1.0])  # corner signs along the length, counter-clockwise
_SY = np.array([1.0, 1.0, -1.0, -1.0])  # and along the width


def wrap_angle(a: np.ndarray | float) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


def boxes_to_array(boxes: list[Box3D]) -> np.ndarray:
    """Stack :class:`Box3D` objects into an (N, 7) array."""
    if not boxes:
        return np.zeros((0, BOX_DIM))
    return np.array([[*b.center, *b.size, b.yaw] for b in boxes], dtype=np.float64)


def array_to_box(row: np.ndarray) -> Box3D:
    """One (7,) row back to a :class:`Box3D`."""
    return Box3D(center=row[:3], size=row[3:6], yaw=float(row[6]))


def bev_corners(boxes: np.ndarray) -> np.ndarray:
    """Ground-plane corners of (N, 7) boxes, (N, 4, 2), counter-clockwise."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, BOX_DIM)
    hl, hw = boxes[:, 3] / 2.0, boxes[:, 4] / 2.0
    lx = hl[:, None] * _SX  # (N, 4)
    ly = hw[:, None] * _SY
    c, s = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = boxes[:, 0:1] + c * lx - s * ly
    y = boxes[:, 1:2] + s * lx + c * ly
    return np.stack([x, y], axis=-1)


def _clipped_edge_area(poly_a: np.ndarray, poly_b: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Green's-theorem contribution of the parts of A's edges that lie inside convex B.

    poly_a, poly_b: (M, 4, 2) counter-clockwise. ``sign`` (M,) is +1 to count edges lying on
    B's boundary and -1 to leave them out (so shared edges are counted once). Returns (M,) =
    0.5 * sum cross(p_in, p_out).
    """
    ax, ay = poly_a[..., 0], poly_a[..., 1]  # (M, 4)
    bx, by = poly_b[..., 0], poly_b[..., 1]
    d = poly_a[:, _NEXT] - poly_a  # (M, 4, 2) edge vectors of A
    dx, dy = d[..., 0], d[..., 1]
    # Outward normals of B's edges (CCW polygon): (ey, -ex); half-plane n.x <= n.b0.
    nx = by[:, _NEXT] - by
    ny = bx - bx[:, _NEXT]
    c = nx * bx + ny * by  # (M, 4)
    c = c + (1e-9 * sign)[:, None] * (np.abs(nx) + np.abs(ny))
    # (M, 4 edges of A, 4 half-planes of B)
    num = c[:, None, :] - (ax[:, :, None] * nx[:, None, :] + ay[:, :, None] * ny[:, None, :])
    den = dx[:, :, None] * nx[:, None, :] + dy[:, :, None] * ny[:, None, :]
    pos, neg = den > 0, den < 0
    crossing = pos | neg
    safe = np.where(crossing, den, 1.0)
    t = num / safe
    upper = np.where(pos, t, np.inf).min(axis=-1)
    lower = np.where(neg, t, -np.inf).max(axis=-1)
    lower = np.where(np.any(~crossing & (num < 0), axis=-1), np.inf, lower)
    t0 = np.clip(lower, 0.0, 1.0)
    t1 = np.clip(upper, 0.0, 1.0)
    p0 = poly_a + t0[..., None] * d
    p1 = poly_a + t1[..., None] * d
    cross = np.where(t1 > t0, p0[..., 0] * p1[..., 1] - p0[..., 1] * p1[..., 0], 0.0)
    return 0.5 * cross.sum(axis=-1)


def bev_intersection_pairs(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Ground-plane intersection area of row-aligned pairs of (M, 7) boxes, (M,), square metres."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, BOX_DIM)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, BOX_DIM)
    if len(a) == 0:
        return np.zeros(0)
    # Centre each pair on A's centre to keep cross products small and well conditioned.
    m = len(a)
    both = np.concatenate([a, b])
    both[:m, :2] = 0.0
    both[m:, :2] -= a[:, :2]
    corners = bev_corners(both)
    swapped = np.concatenate([corners[m:], corners[:m]])
    sign = np.empty(2 * m)
    sign[:m], sign[m:] = 1.0, -1.0
    twice = _clipped_edge_area(corners, swapped, sign)
    area = twice[:m] + twice[m:]
    return np.clip(area, 0.0, np.minimum(a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]))


def iou_3d_pairs(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """3D IoU of row-aligned pairs of (M, 7) upright boxes, (M,)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, BOX_DIM)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, BOX_DIM)
    inter_bev = bev_intersection_pairs(a, b)
    half_a, half_b = a[:, 5] / 2, b[:, 5] / 2
    top = np.minimum(a[:, 2] + half_a, b[:, 2] + half_b)
    bottom = np.maximum(a[:, 2] - half_a, b[:, 2] - half_b)
    inter = inter_bev * np.clip(top - bottom, 0.0, None)
    union = np.prod(a[:, 3:6], axis=1) + np.prod(b[:, 3:6], axis=1) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _all_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).reshape(-1, BOX_DIM)
    b = np.asarray(b, dtype=np.float64).reshape(-1, BOX_DIM)
    return np.repeat(a, len(b), axis=0), np.tile(b, (len(a), 1))


def iou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """3D intersection over union of every pair of upright boxes, (Na, Nb)."""
    na, nb = len(np.reshape(boxes_a, (-1, BOX_DIM))), len(np.reshape(boxes_b, (-1, BOX_DIM)))
    if na == 0 or nb == 0:
        return np.zeros((na, nb))
    return iou_3d_pairs(*_all_pairs(boxes_a, boxes_b)).reshape(na, nb)


def iou_bev(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Bird's-eye-view (ground-plane) IoU of every pair, (Na, Nb)."""
    a, b = _all_pairs(boxes_a, boxes_b)
    na, nb = len(np.reshape(boxes_a, (-1, BOX_DIM))), len(np.reshape(boxes_b, (-1, BOX_DIM)))
    if na == 0 or nb == 0:
        return np.zeros((na, nb))
    inter = bev_intersection_pairs(a, b)
    union = a[:, 3] * a[:, 4] + b[:, 3] * b[:, 4] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).reshape(na, nb)
