"""The generative path: ShareLoRA adapters on a local image-text-to-text checkpoint.

Any ``transformers`` image-text-to-text model folder (for example a SmolVLM / Idefics3
checkpoint) is loaded offline, and the same ShareLoRA adapters as the dual encoder's are
attached to the Q/K/V projections of its language model's self-attention (``q_proj``,
``k_proj``, ``v_proj`` under the language model). The adapter merges for generation and is
stored as safetensors with its own metadata header.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from perception.commonsense.adapter_io import read_safetensors
from perception.commonsense.errors import (
    AdapterMismatchError,
    EncoderUnavailableError,
)
from perception.commonsense.sharelora import (
    DECODER_TARGETS,
    AdapterSpec,
    TextAdapter,
    attach_adapter,
)

GENERATOR_FORMAT = "s2mat-generator-adapter"
#: Language-model attention only (not the vision tower): module names under these parents.
LANGUAGE_SCOPE = r"(text_model|language_model)\."
DEFAULT_PROMPT = "Describe this street object: what it is, what it is doing, and what it may do next."


def default_generator_spec(variant: str = "sharea", rank: int = 8, alpha: float = 16.0) -> AdapterSpec:
    return AdapterSpec(variant=variant, rank=rank, alpha=alpha, targets=DECODER_TARGETS, scope=LANGUAGE_SCOPE)


class GenerativeAnnotator:
    """An image-text-to-text model with ShareLoRA adapters on its language attention."""

    def __init__(self, model: nn.Module, processor: Any | None = None, spec: AdapterSpec | None = None,
                 seed: int | None = 0) -> None:
        self.model = model
        self.processor = processor
        self.spec = spec or default_generator_spec()
        self.model.eval()
        self.adapter: TextAdapter = attach_adapter(self.model, self.spec, seed=seed)

    @classmethod
    def load(cls, path: str | Path, adapter_path: str | Path | None = None, spec: AdapterSpec | None = None
             ) -> GenerativeAnnotator:
        """Load a local checkpoint folder (no downloads) and optionally an adapter file for it."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = Path(path)
        if not (path / "config.json").is_file():
            raise EncoderUnavailableError(f"{path}: not a model folder (no config.json)")
        try:
            model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailableError(f"{path}: cannot load an image-text-to-text model ({exc})") from None
        try:
            processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError):
            processor = None
        tensors, meta = (None, None) if adapter_path is None else read_generator_adapter(adapter_path)
        if meta is not None:
            spec = AdapterSpec(meta["variant"], int(meta["rank"]), float(meta["alpha"]),
                               tuple(meta["targets"].split(",")), meta.get("scope") or None)
        out = cls(model, processor, spec)
        if tensors is not None:
            try:
                out.adapter.load_state_dict(tensors)
            except AdapterMismatchError as exc:
                raise AdapterMismatchError(f"{adapter_path}: {exc}") from None
        return out

    def save_adapter(self, path: str | Path) -> Path:
        """Write the adapter tensors and their spec as safetensors."""
        path = Path(path)
        meta = {"format": GENERATOR_FORMAT, "variant": self.spec.variant, "rank": str(self.spec.rank),
                "alpha": repr(float(self.spec.alpha)), "targets": ",".join(self.spec.targets),
                "scope": self.spec.scope or "", "model_type": str(getattr(self.model.config, "model_type", "")),
                "adapter_parameters": str(self.adapter.num_trainable())}
        save_file(self.adapter.state_dict(), str(path), metadata=meta)
        return path

    def load_adapter(self, path: str | Path) -> None:
        tensors, meta = read_generator_adapter(path)
        if (meta["variant"], int(meta["rank"])) != (self.spec.variant, self.spec.rank):
            raise AdapterMismatchError(f"{path}: adapter is {meta['variant']} rank {meta['rank']}, "
                                       f"the model carries {self.spec.variant} rank {self.spec.rank}")
        try:
            self.adapter.load_state_dict(tensors)
        except AdapterMismatchError as exc:
            raise AdapterMismatchError(f"{path}: {exc}") from None

    @torch.no_grad()
    def generate(self, max_new_tokens: int = 32, **inputs: Any) -> torch.Tensor:
        """Greedy generation with the adapter merged; returns only the new token ids."""
        self.adapter.merge()
        try:
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        finally:
            self.adapter.unmerge()
        return out[:, inputs["input_ids"].shape[1]:]

    def describe(self, crop: np.ndarray, prompt: str = DEFAULT_PROMPT, max_new_tokens: int = 40) -> str:
        """Free-text description of one RGB crop (needs the checkpoint's processor)."""
        if self.processor is None:
            raise EncoderUnavailableError("this checkpoint has no processor/tokenizer files; cannot describe images")
        from PIL import Image

        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(text=text, images=[Image.fromarray(np.asarray(crop, dtype=np.uint8))],
                                return_tensors="pt")
        new = self.generate(max_new_tokens=max_new_tokens, **inputs)
        return self.processor.batch_decode(new, skip_special_tokens=True)[0].strip()


def read_generator_adapter(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    return read_safetensors(path, GENERATOR_FORMAT, "generator")
