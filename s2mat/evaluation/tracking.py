"""Multi-object tracking scores.

Two scorers:

* :func:`evaluate_kitti` follows the published KITTI 3D tracking protocol used for the
  Kalman + Hungarian baseline (AB3DMOT evaluation): per frame, ground truth and tracker
  boxes are matched by the Hungarian method on ``1 - 3D IoU`` with a 0.25 IoU gate;
  neighbouring classes (Van for Car, Person_sitting for Pedestrian), DontCare regions
  (2D overlap > 0.5 of the tracker box), truncated (> 0) or heavily occluded (> 2) objects
  and tracker boxes at most 25 px tall are ignored; tracks are filtered by their average
  score; sMOTA is computed at the score thresholds that reach recall 1/40, 2/40, ..., and
  sAMOTA is their mean over all 40 points (unreached recalls count zero). MOTA, MOTP, IDS
  and FRAG are reported at the threshold with the best MOTA, as in that protocol, and HOTA
  (trackeval, 3D IoU similarity) on the same filtered output.
* :func:`score_boxes` scores generic per-frame lists of ``(id, Box3D)`` (e.g. simulated
  objects in the world frame) with trackeval's CLEAR (MOTA, IDS), Identity (IDF1) and HOTA
  on 3D IoU similarity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from perception.tracking.geometry import boxes_to_array, iou_3d
from perception.types import Box3D
from s2mat.datasets.kitti_tracking import KittiObjects, camera_to_zup

IOU_THRESHOLD = 0.25
NUM_SAMPLE_POINTS = 41
MAX_TRUNCATION = 0
MAX_OCCLUSION = 2
MIN_HEIGHT = 25.0
_NEIGHBOUR = {"car": "van", "pedestrian": "person_sitting"}


# ---------------------------------------------------------------------------- KITTI protocol
@dataclass
class _Frame:
    gt_ids: np.ndarray
    gt_ignored: np.ndarray  # truncated / occluded / neighbour class
    tr_ids: np.ndarray
    tr_scores: np.ndarray
    tr_small_or_dontcare: np.ndarray  # ignorable when unmatched
    iou: np.ndarray  # (n_gt, n_tr)


@dataclass
class ClearCounts:
    """Totals of one evaluation run (one class, one score threshold)."""

    tp: int = 0  # includes ignored true positives, as the protocol does
    fp: int = 0
    fn: int = 0
    n_gt: int = 0  # ground truth minus ignored
    ids: int = 0
    frag: int = 0
    iou_sum: float = 0.0
    tp_scores: list[float] = field(default_factory=list)
    kept: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)  # per seq/frame: (gt idx, tr idx) kept for HOTA

    @property
    def mota(self) -> float:
        return 1.0 - (self.fn + self.fp + self.ids) / self.n_gt if self.n_gt else float("-inf")

    @property
    def motp(self) -> float:
        return self.iou_sum / self.tp if self.tp else 0.0

    def smota(self, recall: float) -> float:
        if self.n_gt == 0:
            return float("-inf")
        value = 1.0 - (self.fn + self.fp + self.ids - (1.0 - recall) * self.n_gt) / (recall * self.n_gt)
        return float(min(1.0, max(0.0, value)))


def _overlap_a(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2D intersection over the area of ``a`` for (Na, 4) and (Nb, 4) rectangles."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    return inter / np.maximum(area, 1e-12)[:, None]


def _prepare(gt: KittiObjects, res: KittiObjects, cls: str, n_frames: int) -> list[_Frame]:
    cls = cls.lower()
    gtype = np.char.lower(gt.type.astype(str))
    rtype = np.char.lower(res.type.astype(str))
    neighbour = _NEIGHBOUR.get(cls, "")
    g_mask = (gtype == cls) | (gtype == neighbour)
    dc_mask = gtype == "dontcare"
    r_mask = rtype == cls
    frames = []
    g_by = defaultdict(list)
    for i in np.nonzero(g_mask)[0]:
        g_by[gt.frame[i]].append(i)
    dc_by = defaultdict(list)
    for i in np.nonzero(dc_mask)[0]:
        dc_by[gt.frame[i]].append(i)
    r_by = defaultdict(list)
    for i in np.nonzero(r_mask)[0]:
        r_by[res.frame[i]].append(i)
    gt_zup = camera_to_zup(gt.boxes_cam)
    res_zup = camera_to_zup(res.boxes_cam)
    for f in range(n_frames):
        gi, ri, di = np.array(g_by[f], int), np.array(r_by[f], int), np.array(dc_by[f], int)
        ignored = (
            (gt.occluded[gi] > MAX_OCCLUSION) | (gt.truncated[gi] > MAX_TRUNCATION) | (gtype[gi] == neighbour)
        )
        small = np.abs(res.bbox2d[ri, 3] - res.bbox2d[ri, 1]) <= MIN_HEIGHT
        if len(di) and len(ri):
            small |= np.any(_overlap_a(res.bbox2d[ri], gt.bbox2d[di]) > 0.5, axis=1)
        iou = iou_3d(gt_zup[gi], res_zup[ri]) if len(gi) and len(ri) else np.zeros((len(gi), len(ri)))
        frames.append(_Frame(gt.track_id[gi], ignored, res.track_id[ri], res.score[ri], small, iou))
    return frames


def _run(seqs: list[list[_Frame]], threshold: float) -> ClearCounts:
    """One pass of the protocol over all sequences at a score threshold."""
    out = ClearCounts()
    for frames in seqs:
        # Tracks are kept or dropped whole, by their average score.
        sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
        for fr in frames:
            for tid, s in zip(fr.tr_ids, fr.tr_scores, strict=True):
                acc = sums[int(tid)]
                acc[0] += s
                acc[1] += 1
        avg = {tid: v[0] / v[1] for tid, v in sums.items()}
        traj: dict[int, list[int]] = defaultdict(list)
        traj_ign: dict[int, list[bool]] = defaultdict(list)
        kept_seq = []
        for fr in frames:
            keep = np.array([avg[int(t)] >= threshold for t in fr.tr_ids], bool)
            tcols = np.nonzero(keep)[0]
            iou = fr.iou[:, tcols]
            ng, nt = iou.shape
            assigned = np.full(ng, -1)
            if ng and nt:
                cost = np.where(iou >= IOU_THRESHOLD, 1.0 - iou, 1e9)
                rows, cols = linear_sum_assignment(cost)
                ok = cost[rows, cols] < 1e9
                assigned[rows[ok]] = cols[ok]
            matched = assigned >= 0
            tr_valid = np.zeros(nt, bool)
            tr_valid[assigned[matched]] = True
            n_tp = int(matched.sum())
            out.tp += n_tp
            out.iou_sum += float(iou[np.nonzero(matched)[0], assigned[matched]].sum())
            out.tp_scores.extend(avg[int(fr.tr_ids[tcols[c]])] for c in assigned[matched])
            tr_ignored = fr.tr_small_or_dontcare[tcols] & ~tr_valid
            ign_fn = int((fr.gt_ignored & ~matched).sum())
            ign_tp_mask = fr.gt_ignored & matched
            ign_tp = int(ign_tp_mask.sum())
            ign_pairs = int(tr_ignored[assigned[ign_tp_mask]].sum()) if ign_tp else 0
            out.fn += ng - n_tp - ign_fn
            out.n_gt += ng - ign_fn - ign_tp
            out.fp += nt - (n_tp - ign_tp) - int(tr_ignored.sum()) - ign_tp + ign_pairs
            for k, gid in enumerate(fr.gt_ids):
                tid = int(fr.tr_ids[tcols[assigned[k]]]) if assigned[k] >= 0 else -1
                traj[int(gid)].append(tid)
                traj_ign[int(gid)].append(bool(fr.gt_ignored[k]))
            # What HOTA sees: non-ignored ground truth, tracker boxes that are not ignored.
            g_keep = np.nonzero(~fr.gt_ignored)[0]
            t_drop = tr_ignored.copy()
            t_drop[assigned[ign_tp_mask]] = True
            kept_seq.append((g_keep, tcols[~t_drop]))
        out.kept.append(kept_seq)
        for gid, g in traj.items():
            ign = traj_ign[gid]
            if all(ign):
                continue
            last = g[0]
            for f in range(1, len(g)):
                if ign[f]:
                    last = -1
                    continue
                if last != g[f] and last != -1 and g[f] != -1 and g[f - 1] != -1:
                    out.ids += 1
                if f < len(g) - 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and g[f + 1] != -1:
                    out.frag += 1
                if g[f] != -1:
                    last = g[f]
            f = len(g) - 1
            if len(g) > 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and not ign[f]:
                out.frag += 1
    return out


def _thresholds(scores: list[float], num_gt: int) -> tuple[list[float], list[float]]:
    """Score thresholds at which recall passes 1/40, 2/40, ... (protocol's discretisation)."""
    s = np.sort(np.asarray(scores))[::-1]
    current, thresholds, recalls = 0.0, [], []
    for i, score in enumerate(s):
        left = (i + 1) / num_gt
        right = (i + 2) / num_gt if i < len(s) - 1 else left
        if (right - current) < (current - left) and i < len(s) - 1:
            continue
        thresholds.append(float(score))
        recalls.append(current)
        current += 1.0 / (NUM_SAMPLE_POINTS - 1)
    return thresholds[1:], recalls[1:]


def _hota(seqs: list[list[_Frame]], counts: ClearCounts) -> float:
    from trackeval.metrics import HOTA

    metric = HOTA({"PRINT_CONFIG": False})
    results = []
    for frames, kept in zip(seqs, counts.kept, strict=True):
        gt_map: dict[int, int] = {}
        tr_map: dict[int, int] = {}
        gt_ids, tr_ids, sims = [], [], []
        for fr, (gk, tk) in zip(frames, kept, strict=True):
            gt_ids.append(np.array([gt_map.setdefault(int(i), len(gt_map)) for i in fr.gt_ids[gk]], int))
            tr_ids.append(np.array([tr_map.setdefault(int(i), len(tr_map)) for i in fr.tr_ids[tk]], int))
            sims.append(fr.iou[np.ix_(gk, tk)])
        results.append(metric.eval_sequence(_trackeval_data(gt_ids, tr_ids, sims, len(gt_map), len(tr_map))))
    combined = metric.combine_sequences(dict(enumerate(results)))
    return float(np.mean(combined["HOTA"]))


def _trackeval_data(gt_ids, tr_ids, sims, n_gt_ids, n_tr_ids) -> dict:
    return {
        "num_timesteps": len(gt_ids),
        "num_gt_dets": int(sum(len(g) for g in gt_ids)),
        "num_tracker_dets": int(sum(len(t) for t in tr_ids)),
        "num_gt_ids": n_gt_ids,
        "num_tracker_ids": n_tr_ids,
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": sims,
    }


def evaluate_kitti(
    gt: dict[str, KittiObjects],
    results: dict[str, KittiObjects],
    cls: str,
    n_frames: dict[str, int] | None = None,
    hota: bool = True,
) -> dict[str, float]:
    """KITTI 3D MOT scores of one class (``car``, ``pedestrian`` or ``cyclist``) over sequences.

    ``gt`` and ``results`` map sequence names to label / result rows (camera frame). Returns
    sAMOTA, AMOTA, MOTA, MOTP, IDS, FRAG, TP, FP, FN, recall, HOTA (percentages as 0..100);
    sAMOTA, AMOTA and MOTA are NaN (infinite for MOTA) when the class has no ground truth
    (see :func:`json_safe` for writing them).
    """
    seqs = []
    for seq, g in gt.items():
        r = results.get(seq)
        if r is None:
            r = KittiObjects.concatenate([])
        nf = (n_frames or {}).get(seq) or int(max(g.frame.max(initial=-1), r.frame.max(initial=-1)) + 1)
        seqs.append(_prepare(g, r, cls, nf))
    first = _run(seqs, float("-inf"))
    thresholds, recalls = _thresholds(first.tp_scores, first.tp + first.fn) if (first.tp + first.fn) else ([], [])
    smota_sum, mota_sum = 0.0, 0.0
    best_mota, best_thr = 0.0, float("-inf")
    for thr, rec in zip(thresholds, recalls, strict=True):
        c = _run(seqs, thr)
        smota_sum += c.smota(rec)
        mota_sum += c.mota
        if c.mota > best_mota:
            best_mota, best_thr = c.mota, thr
    best = _run(seqs, best_thr)
    defined = first.n_gt > 0  # without ground truth of the class the scores are undefined (NaN)
    out = {
        "sAMOTA": 100.0 * smota_sum / (NUM_SAMPLE_POINTS - 1) if defined else float("nan"),
        "AMOTA": 100.0 * mota_sum / (NUM_SAMPLE_POINTS - 1) if defined else float("nan"),
        "MOTA": 100.0 * best.mota,
        "MOTP": 100.0 * best.motp,
        "IDS": best.ids,
        "FRAG": best.frag,
        "TP": best.tp,
        "FP": best.fp,
        "FN": best.fn,
        "recall": 100.0 * best.tp / max(best.tp + best.fn, 1),
        "score_threshold": best_thr,
        "MOTA_all": 100.0 * first.mota,
        "IDS_all": first.ids,
    }
    if hota:
        out["HOTA"] = 100.0 * _hota(seqs, best)
    return out


def json_safe(value):
    """``value`` (nested dicts / lists of numbers) with every NaN or infinity replaced by
    None, so it serialises to valid JSON (a metric undefined for a class without ground
    truth becomes ``null``)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---------------------------------------------------------------------------- generic boxes
def score_boxes(
    gt: Sequence[Sequence[tuple[int, Box3D]]],
    predictions: Sequence[Sequence[tuple[int, Box3D]]],
    iou_threshold: float = IOU_THRESHOLD,
) -> dict[str, float]:
    """MOTA, IDF1, IDS, HOTA (0..100, IDS a count) of per-frame ``(id, Box3D)`` lists.

    Both sequences have one entry per frame, boxes in one frame (e.g. the world frame, z up).
    A prediction matches a ground-truth box when their 3D IoU is at least ``iou_threshold``.
    """
    from trackeval.metrics import CLEAR, HOTA, Identity

    if len(gt) != len(predictions):
        raise ValueError(f"ground truth has {len(gt)} frames, predictions {len(predictions)}")
    gt_map: dict[int, int] = {}
    tr_map: dict[int, int] = {}
    gt_ids, tr_ids, sims = [], [], []
    for g, p in zip(gt, predictions, strict=True):
        gt_ids.append(np.array([gt_map.setdefault(int(i), len(gt_map)) for i, _ in g], int))
        tr_ids.append(np.array([tr_map.setdefault(int(i), len(tr_map)) for i, _ in p], int))
        sims.append(iou_3d(boxes_to_array([b for _, b in g]), boxes_to_array([b for _, b in p])))
    data = _trackeval_data(gt_ids, tr_ids, sims, len(gt_map), len(tr_map))
    clear = CLEAR({"THRESHOLD": iou_threshold, "PRINT_CONFIG": False}).eval_sequence(data)
    ident = Identity({"THRESHOLD": iou_threshold, "PRINT_CONFIG": False}).eval_sequence(data)
    hota = HOTA({"PRINT_CONFIG": False}).eval_sequence(data)
    return {
        "MOTA": 100.0 * float(clear["MOTA"]),
        "MOTP": 100.0 * float(clear["MOTP"]),
        "IDS": int(clear["IDSW"]),
        "FRAG": int(clear["Frag"]),
        "IDF1": 100.0 * float(ident["IDF1"]),
        "HOTA": 100.0 * float(np.mean(hota["HOTA"])),
        "TP": int(clear["CLR_TP"]),
        "FP": int(clear["CLR_FP"]),
        "FN": int(clear["CLR_FN"]),
    }
