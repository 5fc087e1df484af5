"""Training, threshold calibration and evaluation of the commonsense model.

Training runs on precomputed frozen image features (cached per crop folder), so each step
costs one pass of the adapted text encoder over the knowledge base's statements plus the
projector: minutes on a CPU. The targets are the statements the knowledge base says each
labelled crop makes true; the loss is binary cross-entropy over all (crop, statement) pairs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from perception.commonsense.adapter_io import save_adapter
from perception.commonsense.dataset import CropDataset
from perception.commonsense.encoders import ImageEncoder
from perception.commonsense.geometry import normalise_geometry
from perception.commonsense.knowledge import CELLS, KnowledgeBase
from perception.commonsense.model import CommonsenseModel
from perception.commonsense.sharelora import AdapterSpec


@dataclass
class TrainReport:
    """What a training run produced and measured."""

    path: Path | None
    spec: AdapterSpec
    adapter_parameters: int
    head_parameters: int
    threshold: float
    train_seconds: float
    feature_seconds: float
    steps: int
    final_loss: float
    validation: dict[str, Any] = field(default_factory=dict)


def micro_f1(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Micro precision, recall and F1 of boolean (N, S) predictions against (N, S) truth."""
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(tp + fn)}


def evaluate_scores(probs: np.ndarray, truth: np.ndarray, kb: KnowledgeBase, threshold: float,
                    classes: list[str] | None = None) -> dict[str, Any]:
    """Micro P/R/F1 overall, per taxonomy cell and (if ``classes`` given) per object class."""
    pred = probs >= threshold
    cells = kb.cells
    report: dict[str, Any] = {"threshold": threshold, "objects": int(len(probs)), "overall": micro_f1(pred, truth),
                              "cells": {}, "classes": {}}
    for cell in CELLS:
        cols = cells == cell
        if cols.any():
            report["cells"][cell] = micro_f1(pred[:, cols], truth[:, cols])
    if classes is not None:
        arr = np.asarray(classes)
        for name in sorted(set(classes)):
            rows = arr == name
            report["classes"][name] = micro_f1(pred[rows], truth[rows])
    return report


def calibrate_threshold(probs: np.ndarray, truth: np.ndarray) -> float:
    """The probability threshold in [0.05, 0.95] that maximises micro-F1 (ties: the middle one)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = np.array([micro_f1(probs >= t, truth)["f1"] for t in grid])
    best = np.flatnonzero(scores >= scores.max() - 1e-9)
    return float(grid[best[len(best) // 2]])


@torch.no_grad()
def predict(model: CommonsenseModel, features: np.ndarray, geometry: np.ndarray, texts: list[str]) -> np.ndarray:
    """(N, S) statement probabilities for precomputed image features and geometry tokens."""
    statements = model.statement_embeddings(texts)
    objects = model.object_embeddings(features, geometry)
    return torch.sigmoid(model.logits(objects, statements)).numpy()


def train_adapter(data: str | Path, spec: AdapterSpec, out: str | Path | None, *, kb: KnowledgeBase | None = None,
                  seed: int = 0, probe_epochs: int = 40, steps: int = 40, batch_size: int = 64,
                  statements_per_step: int = 24, lr: float = 2e-3, adapter_lr: float = 1e-3,
                  val_fraction: float = 0.2,
                  log: Callable[[str], None] | None = None, metadata: dict[str, Any] | None = None,
                  ) -> tuple[CommonsenseModel, TrainReport]:
    """Train an adapter + projector on a labelled-crop folder; save it to ``out`` when given."""
    kb = kb or KnowledgeBase.load()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dataset = CropDataset(data)
    t0 = time.perf_counter()
    features = dataset.image_features(ImageEncoder())
    feature_seconds = time.perf_counter() - t0
    geometry = dataset.geometry()
    truth = kb.truth_matrix(dataset.labels())
    classes = [c for c, _ in dataset.labels()]

    order = rng.permutation(len(dataset))
    n_val = int(round(val_fraction * len(dataset))) if len(dataset) >= 10 else 0
    val, train = order[:n_val], order[n_val:]

    t0 = time.perf_counter()
    model = CommonsenseModel(spec, seed=seed)
    tokens = model.text.tokenize(kb.texts)
    feats_t = torch.from_numpy(features)
    geo_t = torch.from_numpy(normalise_geometry(geometry))
    truth_t = torch.from_numpy(truth.astype(np.float32))

    # Stage 1 (linear probe): projector and head against the frozen statement embeddings;
    # cheap, because the text encoder runs once.
    with torch.no_grad():
        frozen = model.statement_embeddings(tokens)
    probe = torch.optim.AdamW(model.head_parameters(), lr=lr, weight_decay=1e-4)
    loss_value = float("nan")
    for _ in range(probe_epochs):
        shuffled = rng.permutation(train)
        for start in range(0, len(shuffled), batch_size):
            idx = shuffled[start:start + batch_size]
            objects = model.projector(feats_t[idx], geo_t[idx])
            loss = F.binary_cross_entropy_with_logits(model.logits(objects, frozen), truth_t[idx])
            probe.zero_grad(set_to_none=True)
            loss.backward()
            probe.step()
    # Stage 2: adapter and head together. Each step embeds a random subset of the
    # statements through the adapted text encoder (the costly part) and scores a batch.
    optimiser = torch.optim.AdamW([
        {"params": model.adapter.parameters(), "lr": adapter_lr, "weight_decay": 0.0},
        {"params": model.head_parameters(), "lr": lr * 0.25, "weight_decay": 1e-4},
    ])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 10) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    n_statements = len(kb)
    k = min(statements_per_step, n_statements)
    for step in range(steps):
        idx = rng.choice(train, size=min(batch_size, len(train)), replace=False)
        cols = torch.from_numpy(np.sort(rng.choice(n_statements, size=k, replace=False)))
        statements = model.statement_embeddings({key: val[cols] for key, val in tokens.items()})
        objects = model.projector(feats_t[idx], geo_t[idx])
        loss = F.binary_cross_entropy_with_logits(model.logits(objects, statements), truth_t[idx][:, cols])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        loss_value = float(loss.detach())
        if log and ((step + 1) % 25 == 0 or step + 1 == steps):
            log(f"step {step + 1}/{steps}  loss {loss_value:.4f}")
    model.eval()
    calib = val if len(val) else train
    probs = predict(model, features[calib], geometry[calib], kb.texts)
    threshold = calibrate_threshold(probs, truth[calib])
    train_seconds = time.perf_counter() - t0
    validation = evaluate_scores(probs, truth[calib], kb, threshold, [classes[i] for i in calib])
    report = TrainReport(None, spec, model.adapter.num_trainable(), sum(p.numel() for p in model.head_parameters()),
                         threshold, train_seconds, feature_seconds, steps, loss_value, validation)
    if out is not None:
        meta = {"kb_digest": kb.digest(), "seed": str(seed), "probe_epochs": str(probe_epochs), "steps": str(steps),
                "train_seconds": f"{train_seconds:.1f}", "train_crops": str(len(train)),
                "validation_f1": f"{validation['overall']['f1']:.4f}"}
        meta.update(metadata or {})
        report.path = save_adapter(out, model, threshold, meta)
    return model, report
