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

A LiDAR detection's box is grown from the part of the object the sensor saw; when the
object's near end is hidden, the grown box is misplaced along the object's length although
the seen part lies inside the track's box. :func:`association_cost` may allow such pairs
(:class:`SeenParts` places the track's box where it holds the seen part) at the cost of a
centre at the gate's edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from perception.tracking.geometry import bev_corners, iou_3d_pairs

FORBIDDEN = 1e6


@dataclass(frozen=True)
class AssociationResult:
    """Matched (track, detection) index pairs and what was left over."""

    matches: np.ndarray  # (K, 2) int: rows of [track index, detection index]
    unmatched_tracks: np.ndarray  # (Nt - K,) int
    unmatched_detections: np.ndarray  # (Nd - K,) int
    costs: np.ndarray  # (K,) cost of each match


def mahalanobis_sq(centers: np.ndarray, S: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances (Nt, Nd) to (Nt, 2) centres with (Nt, 2, 2) S of (Nd, 2)
    points, or of (Nt, Nd, 2) points (one set per centre)."""
    det = S[:, 0, 0] * S[:, 1, 1] - S[:, 0, 1] * S[:, 1, 0]
    ia, ib, ic = S[:, 1, 1] / det, -S[:, 0, 1] / det, S[:, 0, 0] / det
    pts = points if points.ndim == 3 else points[None]
    dx = pts[..., 0] - centers[:, None, 0]
    dy = pts[..., 1] - centers[:, None, 1]
    return ia[:, None] * dx * dx + 2.0 * ib[:, None] * dx * dy + ic[:, None] * dy * dy


def _shape_cost(track_boxes: np.ndarray, det_boxes: np.ndarray, ti: np.ndarray, di: np.ndarray,
                size_std: np.ndarray, weight_iou: float, weight_size: float) -> np.ndarray:
    """Overlap and size terms of the pairs (ti, di), (K,)."""
    iou = iou_3d_pairs(track_boxes[ti], det_boxes[di])
    size = np.mean(np.abs(np.log(det_boxes[di, 3:6] / track_boxes[ti, 3:6])), axis=1) / size_std[ti]
    return weight_iou * (1.0 - iou) + weight_size * np.minimum(size, 3.0) / 3.0


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
    seen: SeenParts | None = None,
    seen_tracks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cost matrix (Nt, Nd), where pairs outside the gates cost :data:`FORBIDDEN`, and which
    pairs (Nt, Nd) the seen parts alone allow.

    Per-track arrays (``gate_chi2``, ``max_distance``, ``size_std``) carry the class settings.
    Boxes are (N, 7) rows ``[x, y, z, l, w, h, yaw]``. With ``seen``, a pair outside the
    centre gates is allowed when its detection's seen part fits in the track's box placed
    inside the chi-square gate, for the tracks where ``seen_tracks`` (Nt,) is set; it costs
    1 (a centre at the gate's edge) plus its overlap and size terms.
    """
    nt, nd = len(track_boxes), len(det_boxes)
    cost = np.full((nt, nd), FORBIDDEN)
    by_seen = np.zeros((nt, nd), bool)
    if nt == 0 or nd == 0:
        return cost, by_seen
    same = track_class[:, None] == det_class[None, :]
    d2 = mahalanobis_sq(track_centers, track_S, det_boxes[:, :2])
    dist2 = np.sum((det_boxes[None, :, :2] - track_centers[:, None, :]) ** 2, axis=-1)
    ok = same & (d2 <= gate_chi2[:, None]) & (dist2 <= max_distance[:, None] ** 2)
    if seen is not None:
        by_seen = ~ok & same & seen.fits & seen_tracks[:, None]
        by_seen &= mahalanobis_sq(track_centers, track_S, seen.centers) <= gate_chi2[:, None]
        d2 = np.where(by_seen, gate_chi2[:, None], d2)
    ti, di = np.nonzero(ok | by_seen)
    if len(ti):
        cost[ti, di] = d2[ti, di] / gate_chi2[ti] + _shape_cost(track_boxes, det_boxes, ti, di, size_std,
                                                                 weight_iou, weight_size)
    return cost, by_seen


@dataclass(frozen=True)
class SeenParts:
    """Per (track, detection) pair: where the track's box stands when it holds the
    detection's seen part, and whether the seen part fits in it at all."""

    centers: np.ndarray  # (Nt, Nd, 2) centre of the track's box so placed
    fits: np.ndarray  # (Nt, Nd) bool: the seen part fits in the track's box grown by the margin

    @classmethod
    def of(cls, track_boxes: np.ndarray, seen_boxes: np.ndarray, det_centers: np.ndarray,
           toward_detection: np.ndarray, margin: float) -> SeenParts:
        """``seen_boxes`` (Nd, 7) are the boxes of the seen parts (rows of NaN: none) and
        ``det_centers`` (Nd, 2) the centres of the detections' grown boxes. Each track's box
        is moved the least from where it stands to hold the seen part; from the detection's
        centre instead for the tracks where ``toward_detection`` (Nt,) is set."""
        c, s = np.cos(track_boxes[:, 6]), np.sin(track_boxes[:, 6])

        def along_across(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # (Nt, Nd, K) coordinates of (Nd, K, 2) points in each track's box frame.
            dx = xy[None, ..., 0] - track_boxes[:, 0, None, None]
            dy = xy[None, ..., 1] - track_boxes[:, 1, None, None]
            cc, ss = c[:, None, None], s[:, None, None]
            return cc * dx + ss * dy, cc * dy - ss * dx

        along, across = along_across(bev_corners(seen_boxes))  # (Nt, Nd, 4)
        half_l, half_w = 0.5 * track_boxes[:, 3, None], 0.5 * track_boxes[:, 4, None]
        lo_a, hi_a, lo_c, hi_c = along.min(-1), along.max(-1), across.min(-1), across.max(-1)
        with np.errstate(invalid="ignore"):
            fits = (hi_a - lo_a <= 2.0 * (half_l + margin)) & (hi_c - lo_c <= 2.0 * (half_w + margin))
        start_a, start_c = (np.where(toward_detection[:, None], v[..., 0], 0.0) for v in along_across(det_centers[:, None]))
        shift_a = np.minimum(np.maximum(start_a, hi_a - half_l), lo_a + half_l)
        shift_c = np.minimum(np.maximum(start_c, hi_c - half_w), lo_c + half_w)
        c, s = c[:, None], s[:, None]
        centers = np.stack([track_boxes[:, None, 0] + c * shift_a - s * shift_c,
                            track_boxes[:, None, 1] + s * shift_a + c * shift_c], axis=-1)
        return cls(centers, fits)


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
