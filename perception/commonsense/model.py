"""The dual-encoder commonsense model: (crop features, geometry token) -> statement scores.

An object's embedding is a trainable projector applied to the frozen EfficientNet-Lite0
features of its crop concatenated with its normalised geometry token; a statement's
embedding is the adapted MiniLM sentence embedding of its text. The score of statement
``s`` for object ``o`` is ``sigmoid(scale * cos(o, s) + bias)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from perception.commonsense.encoders import IMAGE_FEATURE_DIM, TEXT_FEATURE_DIM, TextEncoder
from perception.commonsense.geometry import GEOMETRY_DIM, normalise_geometry
from perception.commonsense.sharelora import AdapterSpec, TextAdapter, attach_adapter

PROJECTOR_HIDDEN = 256


class Projector(nn.Module):
    """Image features (1280) + geometry token (5) -> unit vector in the text space (384)."""

    def __init__(self, hidden: int = PROJECTOR_HIDDEN) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(IMAGE_FEATURE_DIM)
        self.geo = nn.Linear(GEOMETRY_DIM, 32)
        self.fc1 = nn.Linear(IMAGE_FEATURE_DIM + 32, hidden)
        self.fc2 = nn.Linear(hidden, TEXT_FEATURE_DIM)

    def forward(self, features: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        g = F.gelu(self.geo(geometry))
        h = F.gelu(self.fc1(torch.cat([self.norm(features), g], dim=-1)))
        return F.normalize(self.fc2(h), dim=-1)


class CommonsenseModel(nn.Module):
    """Adapted text encoder + projector + logit scale and bias (all that training changes)."""

    def __init__(self, spec: AdapterSpec, seed: int | None = 0) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.spec = spec
        self.text = TextEncoder()
        self.adapter: TextAdapter = attach_adapter(self.text.model, spec, seed=seed)
        self.projector = Projector()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(20.0)))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.projector.parameters(), self.logit_scale, self.logit_bias]

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.adapter.parameters(), *self.head_parameters()]

    def statement_embeddings(self, texts: Sequence[str] | dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = texts if isinstance(texts, dict) else self.text.tokenize(texts)
        return self.text(tokens)

    def object_embeddings(self, features: torch.Tensor | np.ndarray, geometry: np.ndarray) -> torch.Tensor:
        feats = torch.as_tensor(features, dtype=torch.float32)
        geo = torch.from_numpy(normalise_geometry(geometry))
        return self.projector(feats, geo)

    def logits(self, objects: torch.Tensor, statements: torch.Tensor) -> torch.Tensor:
        """(N, S) logits of N object embeddings against S statement embeddings."""
        return self.logit_scale.exp() * objects @ statements.T + self.logit_bias

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        out = {f"projector.{k}": v.detach().clone().contiguous() for k, v in self.projector.state_dict().items()}
        out["head.logit_scale"] = self.logit_scale.detach().clone().reshape(1)
        out["head.logit_bias"] = self.logit_bias.detach().clone().reshape(1)
        return out
