"""Commonsense annotator benchmark: the four adapter variants side by side.

Trains ``sharea``, ``shareb``, ``shareab`` and plain ``lora`` (peft) at the same rank and
targets on simulated training crops, evaluates each on held-out simulated crops (other
seeds), and prints trainable parameters (and the ratio to LoRA), micro-F1 overall and per
taxonomy cell, training time and annotation latency per object (frames of 8 objects).

    python benchmarks/bench_vlm.py [--train DIR] [--eval DIR] [--rank 8] [--steps 150]

Missing crop folders are generated with the simulator first (``s2mat vlm crops``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def ensure_crops(path: Path, seeds: str, every: int) -> None:
    if (path / "labels.jsonl").is_file():
        return
    subprocess.run([sys.executable, "-c", "from s2mat.cli import main; main()", "vlm", "crops", str(path), "--seeds", seeds,
                    "--every", str(every)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=Path("/tmp/s2mat_vlm_train"))
    parser.add_argument("--eval", type=Path, default=Path("/tmp/s2mat_vlm_eval"))
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--probe-epochs", type=int, default=40)
    parser.add_argument("--variants", default="sharea,shareb,shareab,lora")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    ensure_crops(args.train, "0-3", 2)
    ensure_crops(args.eval, "100-101", 3)

    from perception.commonsense.annotator import CommonsenseAnnotator
    from perception.commonsense.dataset import CropDataset
    from perception.commonsense.knowledge import CELLS
    from perception.commonsense.sharelora import AdapterSpec
    from perception.commonsense.training import evaluate_scores, train_adapter

    held_out = CropDataset(args.eval)
    results = {}
    for variant in args.variants.split(","):
        out = Path(f"/tmp/s2mat_vlm_{variant}_r{args.rank}.safetensors")
        _, report = train_adapter(args.train, AdapterSpec(variant, rank=args.rank), out, seed=0,
                                  steps=args.steps, probe_epochs=args.probe_epochs)
        annotator = CommonsenseAnnotator.load(out)
        features = held_out.image_features(annotator.image_encoder)
        geometry = held_out.geometry()
        probs = annotator.scores(None, geometry, features=features)
        truth = annotator.kb.truth_matrix(held_out.labels())
        metrics = evaluate_scores(probs, truth, annotator.kb, annotator.threshold, [c for c, _ in held_out.labels()])
        batch = [held_out.load_crop(i) for i in range(8)]
        annotator.annotate(batch, geometry[:8])
        t0 = time.perf_counter()
        for _ in range(5):
            annotator.annotate(batch, geometry[:8])
        latency = (time.perf_counter() - t0) / 40 * 1000
        results[variant] = {"params": report.adapter_parameters, "train_s": report.train_seconds,
                            "f1": metrics["overall"]["f1"], "cells": {c: metrics["cells"][c]["f1"] for c in CELLS},
                            "latency_ms": latency, "threshold": report.threshold}
        print(f"{variant}: done in {report.train_seconds:.0f} s, F1 {metrics['overall']['f1']:.4f}", flush=True)

    lora = results.get("lora")
    print(f"\nrank {args.rank}, targets query/key/value of all 6 MiniLM layers; held-out: {len(held_out)} crops")
    header = f"{'variant':8s} {'params':>8s} {'vs lora':>8s} {'F1':>7s} {'train s':>8s} {'ms/obj':>7s}  " + \
        " ".join(f"{c:>14s}" for c in CELLS)
    print(header)
    for variant, r in results.items():
        ratio = f"{r['params'] / lora['params']:.1%}" if lora else "-"
        cells = " ".join(f"{r['cells'][c]:14.4f}" for c in CELLS)
        print(f"{variant:8s} {r['params']:8d} {ratio:>8s} {r['f1']:7.4f} {r['train_s']:8.1f} {r['latency_ms']:7.1f}  {cells}")
    if lora and "sharea" in results:
        print(f"sharea vs lora: {results['sharea']['params'] / lora['params']:.1%} of the parameters, "
              f"F1 difference {100 * (results['sharea']['f1'] - lora['f1']):+.2f} points")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=lambda o: np.asarray(o).tolist()))


if __name__ == "__main__":
    main()
