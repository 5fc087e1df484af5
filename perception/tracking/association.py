"""Data association: gated cost matrix and optimal assignment.

The cost of pairing track t with detection d mixes three cues, all in the tracking frame:

* the squared Mahalanobis distance of the detected centre to the track's predicted centre,
  normalised by the gate (so it lies in [0, 1] inside the gate);
* ``1 - IoU`` of the predicted 3D box and the detected box;
* the size mismatch ``|log(size_d / size_t)|`` averaged over length, width and height and
  normalised by the class's size noise.

A pair is allowed only when both share a class, the centre lies inside the chi-square gate
and within a hard distance cap. The optimal assignment comes from scipy's
``linear_sum_assignment``; box overlap is computed for gated pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from perception.tracking.geometry import iou_3d_pairs

FORBIDDEN = 1e6


@dataclass(frozen=True)
class AssociationResult:
    """Matched (track, detection) index pairs and what was left over."""

    matches: np.ndarray  # (K, 2) int: rows of [track index, detection index]
    unmatched_tracks: np.ndarray  # (Nt - K,) int
    unmatched_detections: np.ndarray  # (Nd - K,) int
    costs: np.ndarray  # (K,) cost of each match


def mahalanobis_sq(centers: np.ndarray, S: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances (Nt, Nd) of (Nd, 2) points to (Nt, 2) centres with (Nt, 2, 2) S."""
    det = S[:, 0, 0] * S[:, 1, 1] - S[:, 0, 1] * S[:, 1, 0]
    ia, ib, ic = S[:, 1, 1] / det, -S[:, 0, 1] / det, S[:, 0, 0] / det
    dx = points[None, :, 0] - centers[:, None, 0]
    dy = points[None, :, 1] - centers[:, None, 1]
    return ia[:, None] * dx * dx + 2.0 * ib[:, None] * dx * dy + ic[:, None] * dy * dy


def association_cost(
    track_boxes: np.ndarray,
    track_centers: np.ndarray,
    track_S: np.ndarray,
    track_class: np.ndarray,
    det_boxes: np.ndarray,
    det_class: np.ndarray,
    gate_chi2: np.ndarray,
    max_distance: np.ndarray,
    size_std: np.ndarray,
    weight_iou: float,
    weight_size: float,
) -> np.ndarray:
    """Cost matrix (Nt, Nd); pairs outside the gates cost :data:`FORBIDDEN`.

    Per-track arrays (``gate_chi2``, ``max_distance``, ``size_std``) carry the class settings.
    Boxes are (N, 7) rows ``[x, y, z, l, w, h, yaw]``.
    """
    nt, nd = len(track_boxes), len(det_boxes)
    cost = np.full((nt, nd), FORBIDDEN)
    if nt == 0 or nd == 0:
        return cost
    d2 = mahalanobis_sq(track_centers, track_S, det_boxes[:, :2])
    dist2 = np.sum((det_boxes[None, :, :2] - track_centers[:, None, :]) ** 2, axis=-1)
    ok = (
        (track_class[:, None] == det_class[None, :])
        & (d2 <= gate_chi2[:, None])
        & (dist2 <= max_distance[:, None] ** 2)
    )
    ti, di = np.nonzero(ok)
    if len(ti) == 0:
        return cost
    iou = iou_3d_pairs(track_boxes[ti], det_boxes[di])
    size = np.mean(np.abs(np.log(det_boxes[di, 3:6] / track_boxes[ti, 3:6])), axis=1) / size_std[ti]
    cost[ti, di] = d2[ti, di] / gate_chi2[ti] + weight_iou * (1.0 - iou) + weight_size * np.minimum(size, 3.0) / 3.0
    return cost


def assign(cost: np.ndarray) -> AssociationResult:
    """Minimum-cost assignment on ``cost``; pairs at :data:`FORBIDDEN` are never matched."""
    nt, nd = cost.shape
    if nt == 0 or nd == 0:
        return AssociationResult(np.zeros((0, 2), int), np.arange(nt), np.arange(nd), np.zeros(0))
    rows, cols = linear_sum_assignment(cost)
    good = cost[rows, cols] < FORBIDDEN
    rows, cols = rows[good], cols[good]
    track_free = np.ones(nt, bool)
    track_free[rows] = False
    det_free = np.ones(nd, bool)
    det_free[cols] = False
    matches = np.empty((len(rows), 2), rows.dtype)
    matches[:, 0], matches[:, 1] = rows, cols
    return AssociationResult(matches, np.nonzero(track_free)[0], np.nonzero(det_free)[0], cost[rows, cols])
