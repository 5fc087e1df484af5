"""Adapter files: safetensors only (no pickle), with a metadata header saying what they fit.

A file holds the adapter tensors (``adapter.<name>``), the projector (``projector.<name>``)
and the logit scale and bias (``head.*``); its string metadata records the format, the
variant, rank, alpha and targets, the encoders, the calibrated threshold and the digest of
the knowledge base it was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from perception.commonsense.encoders import IMAGE_MODEL, IMAGE_SIZE, TEXT_MODEL
from perception.commonsense.errors import AdapterFileError, AdapterMismatchError
from perception.commonsense.geometry import GEOMETRY_FIELDS
from perception.commonsense.sharelora import VARIANTS, AdapterSpec

FORMAT = "s2mat-commonsense-adapter"
FORMAT_VERSION = "1"


def save_adapter(path: str | Path, model: Any, threshold: float, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s adapter, projector and head to ``path`` (safetensors)."""
    path = Path(path)
    spec: AdapterSpec = model.spec
    tensors = {f"adapter.{k}": v for k, v in model.adapter.state_dict().items()}
    tensors.update(model.head_state_dict())
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": spec.variant,
        "rank": str(spec.rank),
        "alpha": repr(float(spec.alpha)),
        "targets": ",".join(spec.targets),
        "text_model": TEXT_MODEL,
        "image_model": IMAGE_MODEL,
        "image_size": str(IMAGE_SIZE),
        "geometry_fields": ",".join(GEOMETRY_FIELDS),
        "threshold": repr(float(threshold)),
        "adapter_parameters": str(model.adapter.num_trainable()),
    }
    for key, value in (metadata or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_safetensors(path: str | Path, expected_format: str, kind: str
                     ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file whose metadata ``format`` is ``expected_format``;
    :class:`AdapterFileError` when it is missing or unreadable, :class:`AdapterMismatchError`
    when it is another kind of file (``kind`` names the expected one in the message)."""
    path = Path(path)
    if not path.is_file():
        raise AdapterFileError(f"{path}: adapter file not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise AdapterFileError(f"{path}: not a readable safetensors adapter file ({exc})") from None
    if meta.get("format") != expected_format:
        raise AdapterMismatchError(f"{path}: not an s2mat {kind} adapter (metadata format={meta.get('format')!r})")
    return tensors, meta


def read_adapter(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of an adapter file; clear errors for anything that is not one."""
    path = Path(path)
    tensors, meta = read_safetensors(path, FORMAT, "commonsense")
    if meta.get("format_version") != FORMAT_VERSION:
        raise AdapterMismatchError(f"{path}: adapter format version {meta.get('format_version')!r}, this s2mat reads {FORMAT_VERSION}")
    for key, expected in (("text_model", TEXT_MODEL), ("image_model", IMAGE_MODEL), ("image_size", str(IMAGE_SIZE)),
                          ("geometry_fields", ",".join(GEOMETRY_FIELDS))):
        if meta.get(key) != expected:
            raise AdapterMismatchError(f"{path}: adapter was trained for {key}={meta.get(key)!r}, this model uses {expected!r}")
    return tensors, meta


def spec_from_metadata(meta: dict[str, str], path: str | Path) -> AdapterSpec:
    try:
        variant = meta["variant"]
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        return AdapterSpec(variant=variant, rank=int(meta["rank"]), alpha=float(meta["alpha"]),
                           targets=tuple(meta["targets"].split(",")))
    except (KeyError, ValueError) as exc:
        raise AdapterMismatchError(f"{path}: adapter metadata is incomplete or invalid ({exc})") from None


def load_adapter(path: str | Path) -> tuple[Any, dict[str, str]]:
    """A :class:`CommonsenseModel` with the file's adapter, projector and head loaded, and the metadata."""
    from perception.commonsense.model import CommonsenseModel

    tensors, meta = read_adapter(path)
    spec = spec_from_metadata(meta, path)
    model = CommonsenseModel(spec, seed=None)
    adapter = {k[len("adapter."):]: v for k, v in tensors.items() if k.startswith("adapter.")}
    try:
        model.adapter.load_state_dict(adapter)
    except AdapterMismatchError as exc:
        raise AdapterMismatchError(f"{path}: {exc}") from None
    head = model.head_state_dict()
    given = {k: v for k, v in tensors.items() if not k.startswith("adapter.")}
    if set(head) != set(given) or any(tuple(head[k].shape) != tuple(given[k].shape) for k in head):
        raise AdapterMismatchError(f"{path}: projector/head tensors do not match this model "
                                   f"(missing {sorted(set(head) - set(given))[:4]}, unexpected {sorted(set(given) - set(head))[:4]})")
    with torch.no_grad():
        model.projector.load_state_dict({k[len("projector."):]: v for k, v in given.items() if k.startswith("projector.")})
        model.logit_scale.copy_(given["head.logit_scale"].reshape(()))
        model.logit_bias.copy_(given["head.logit_bias"].reshape(()))
    try:
        float(meta["threshold"])
    except (KeyError, ValueError):
        raise AdapterMismatchError(f"{path}: adapter metadata has no valid 'threshold'") from None
    return model, meta
