"""``s2mat vlm``: train, evaluate and run the commonsense annotator (and its generative path)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from s2mat.cli.app import app, console, err_console, handle_errors

vlm_app = typer.Typer(help="Commonsense annotations of street objects with a ShareLoRA-adapted vision-language model.",
                      no_args_is_help=True)
app.add_typer(vlm_app, name="vlm")

F = TypeVar("F", bound=Callable[..., Any])


def _handle_commonsense(func: F) -> F:
    """Turn the annotator's own errors into a red one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from perception.commonsense.errors import CommonsenseError

        try:
            return func(*args, **kwargs)
        except CommonsenseError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _parse_ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part.strip()[1:]:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def _floats(text: str, n: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        raise typer.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}")
    return values


@vlm_app.command("crops")
@handle_errors
@_handle_commonsense
def crops(
    out: Annotated[Path, typer.Argument(help="Folder to write crops/*.png and labels.jsonl into.")],
    seeds: Annotated[str, typer.Option(help="Simulator seeds, e.g. 0-3 or 0,5,9.")] = "0-3",
    scenarios: Annotated[str, typer.Option(help="Comma-separated simulator scenarios.")] = "street,crowd,intersection,parked-departure",
    frames: Annotated[int, typer.Option(help="Frames simulated per scenario and seed.")] = 30,
    every: Annotated[int, typer.Option(help="Take crops from every N-th frame.")] = 2,
) -> None:
    """Simulate camera frames and write their ground-truth objects as a labelled-crop folder."""
    from perception.commonsense.dataset import write_crop_dataset
    from perception.commonsense.simcrops import crops_from_frames
    from s2mat.sim import simulate

    all_crops, all_records = [], []
    for scenario in [s.strip() for s in scenarios.split(",") if s.strip()]:
        for seed in _parse_ints(seeds):
            seq = simulate(scenario, sensor="hdl64", frames=frames, seed=seed, camera=True, columns=256)
            crops_, records = crops_from_frames(seq, every=every)
            for crop, rec in zip(crops_, records, strict=True):
                rec.crop = f"crops/{len(all_crops):06d}.png"
                rec.extra.update({"scenario": scenario, "seed": seed})
                all_crops.append(crop)
                all_records.append(rec)
    write_crop_dataset(out, all_crops, all_records)
    counts: dict[str, int] = {}
    for rec in all_records:
        key = f"{rec.object_class} {'moving' if rec.moving else 'still'}"
        counts[key] = counts.get(key, 0) + 1
    console.print(f"wrote {len(all_records)} crops to {out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@vlm_app.command("train")
@handle_errors
@_handle_commonsense
def train(
    data: Annotated[Path, typer.Option("--data", help="Labelled-crop folder (crops/*.png + labels.jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Adapter file to write (.safetensors).")],
    adapter: Annotated[str, typer.Option("--adapter", help="sharea | shareb | shareab | lora.")] = "sharea",
    rank: Annotated[int, typer.Option("--rank", help="Adapter rank.")] = 8,
    alpha: Annotated[float, typer.Option("--alpha", help="Adapter scaling numerator (scaling = alpha / rank).")] = 16.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (initialisation, split, batches).")] = 0,
    steps: Annotated[int, typer.Option("--steps", help="Joint adapter + projector steps.")] = 40,
    probe_epochs: Annotated[int, typer.Option("--probe-epochs", help="Projector-only epochs before the joint steps.")] = 40,
    kb: Annotated[Path | None, typer.Option("--kb", help="Knowledge-base YAML (default: the shipped one).")] = None,
) -> None:
    """Train a ShareLoRA (or LoRA) adapter and projector on labelled crops."""
    import torch

    from perception.commonsense.knowledge import KnowledgeBase
    from perception.commonsense.sharelora import AdapterSpec
    from perception.commonsense.training import train_adapter

    torch.manual_seed(seed)
    spec = AdapterSpec(variant=adapter, rank=rank, alpha=alpha)
    command = (f"s2mat vlm train --data {data} --adapter {adapter} --rank {rank} --alpha {alpha:g} --seed {seed} "
               f"--steps {steps} --probe-epochs {probe_epochs} --out {out}")
    _, report = train_adapter(data, spec, out, kb=KnowledgeBase.load(kb), seed=seed, steps=steps,
                              probe_epochs=probe_epochs, log=lambda m: err_console.print(m),
                              metadata={"command": command})
    v = report.validation["overall"]
    console.print(f"adapter {adapter} rank {rank}: {report.adapter_parameters} adapter parameters "
                  f"(+{report.head_parameters} projector/head), features {report.feature_seconds:.1f} s, "
                  f"training {report.train_seconds:.1f} s, threshold {report.threshold:.2f}, "
                  f"validation micro-F1 {v['f1']:.3f} (P {v['precision']:.3f}, R {v['recall']:.3f})")
    console.print(f"wrote {report.path}")


def _metrics_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    for col in ("", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="right" if col else "left")
    for name, m in rows.items():
        table.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    return table


@vlm_app.command("eval")
@handle_errors
@_handle_commonsense
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Held-out labelled-crop folder.")],
    adapter: Annotated[Path | None, typer.Option("--adapter", help="Adapter file (default: the shipped one).")] = None,
    kb: Annotated[Path | None, typer.Option("--kb", help="Knowledge-base YAML (default: the shipped one).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
) -> None:
    """Precision / recall / F1 of the annotations per taxonomy cell and class, and latency."""
    import numpy as np

    from perception.commonsense.annotator import CommonsenseAnnotator
    from perception.commonsense.dataset import CropDataset
    from perception.commonsense.training import evaluate_scores

    annotator = CommonsenseAnnotator.load(adapter, kb=kb)
    dataset = CropDataset(data)
    features = dataset.image_features(annotator.image_encoder)
    geometry = dataset.geometry()
    probs = annotator.scores(None, geometry, features=features)
    truth = annotator.kb.truth_matrix(dataset.labels())
    classes = [c for c, _ in dataset.labels()]
    report = evaluate_scores(probs, truth, annotator.kb, annotator.threshold, classes)
    # Latency: whole pipeline (crop preprocessing, image encoder, projector, scoring) on
    # frames of 8 objects, after one warm-up batch.
    n = min(len(dataset), 8)
    batch = [dataset.load_crop(i) for i in range(n)]
    annotator.annotate(batch, geometry[:n])
    start = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        annotator.annotate(batch, geometry[:n])
    report["latency_ms_per_object"] = (time.perf_counter() - start) / (repeats * n) * 1000
    report["adapter"] = {k: annotator.metadata.get(k) for k in ("variant", "rank", "adapter_parameters", "threshold")}
    console.print(_metrics_table(f"s2mat vlm eval {data} ({len(dataset)} objects, threshold {annotator.threshold:.2f})",
                                 {"all": report["overall"], **report["cells"]}))
    console.print(_metrics_table("per object class", report["classes"]))
    console.print(f"latency {report['latency_ms_per_object']:.1f} ms per object (frames of {n} objects); "
                  f"adapter {annotator.metadata.get('variant')} rank {annotator.metadata.get('rank')} "
                  f"with {annotator.metadata.get('adapter_parameters')} parameters")
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2, default=lambda o: np.asarray(o).tolist()))


@vlm_app.command("annotate")
@handle_errors
@_handle_commonsense
def annotate(
    image: Annotated[Path, typer.Argument(help="An RGB image (PNG/JPEG).")],
    box: Annotated[list[str], typer.Option("--box", help="Object box in pixels x1,y1,x2,y2 (repeatable).")],
    geometry: Annotated[list[str] | None, typer.Option(
        "--geometry", help="Per box: length,width,height,speed,heading_change (m, m/s, rad/s); default zeros.")] = None,
    object_class: Annotated[list[str] | None, typer.Option(
        "--class", help="Per box: tracker class hint (car, pedestrian, cyclist, other).")] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="Adapter file (default: the shipped one).")] = None,
    kb: Annotated[Path | None, typer.Option("--kb", help="Knowledge-base YAML (default: the shipped one).")] = None,
    generator: Annotated[Path | None, typer.Option(
        "--generator", help="Local image-text-to-text checkpoint folder (e.g. SmolVLM) for free-text answers.")] = None,
    generator_adapter: Annotated[Path | None, typer.Option(
        "--generator-adapter", help="ShareLoRA adapter file for the generator.")] = None,
    json_lines: Annotated[bool, typer.Option("--jsonl", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """Annotate the objects in IMAGE's boxes with commonsense statements and scores."""
    import numpy as np
    from PIL import Image

    from perception.commonsense.geometry import GEOMETRY_DIM
    from perception.commonsense.simcrops import crop_image

    try:
        with Image.open(image) as img:
            pixels = np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read image {image}: {exc}") from None
    rects = [np.array(_floats(b, 4, "--box")) for b in box]
    for r in rects:
        if r[2] <= r[0] or r[3] <= r[1]:
            raise typer.BadParameter(f"--box needs x1 < x2 and y1 < y2, got {r.tolist()}")
    crops_ = [crop_image(pixels, r) for r in rects]  # same context margin as the training crops
    geo = np.zeros((len(rects), GEOMETRY_DIM), np.float32)
    for i, g in enumerate(geometry or []):
        geo[i] = _floats(g, GEOMETRY_DIM, "--geometry")
    hints = list(object_class) if object_class else None
    if hints is not None and len(hints) != len(rects):
        raise typer.BadParameter(f"give one --class per --box ({len(rects)}), got {len(hints)}")
    if generator is not None:
        from perception.commonsense.generative import GenerativeAnnotator

        gen = GenerativeAnnotator.load(generator, adapter_path=generator_adapter)
        for i, crop in enumerate(crops_):
            text = gen.describe(crop)
            console.print(json.dumps({"box": rects[i].tolist(), "text": text}) if json_lines else f"box {i}: {text}")
        return
    from perception.commonsense.annotator import CommonsenseAnnotator

    annotator = CommonsenseAnnotator.load(adapter, kb=kb)
    results = annotator.annotate(crops_, geo, hints)
    for i, statements in enumerate(results):
        if json_lines:
            console.print_json(json.dumps({"box": rects[i].tolist(), "statements": [s.to_json() for s in statements]}))
            continue
        table = Table(title=f"box {i} {rects[i].tolist()}")
        for col in ("score", "cell", "relation", "statement"):
            table.add_column(col)
        for s in statements:
            table.add_row(f"{s.score:.2f}", s.cell, s.relation, s.text)
        console.print(table)
