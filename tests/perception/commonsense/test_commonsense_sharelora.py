"""Pretrained encoders load offline; ShareLoRA shares what it claims and merges exactly."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from perception.commonsense.encoders import (  # noqa: E402
    ImageEncoder,
    TextEncoder,
    efficientnet_weights_path,
)
from perception.commonsense.sharelora import AdapterSpec, attach_adapter  # noqa: E402

pytestmark = pytest.mark.vlm

SENTENCES = ["a car drives along the road", "an automobile is driving on the street",
             "a tree has a trunk and leaves", "a person is walking on the pavement"]


@pytest.fixture(scope="module")
def tokens():
    return TextEncoder().tokenize(SENTENCES)


def _randomise(adapter, scale=0.05, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def test_pretrained_encoders_load_offline_with_their_real_weights(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    image = ImageEncoder()
    stored = torch.load(efficientnet_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(image.net._conv_stem.weight, stored["_conv_stem.weight"])
    assert all(not p.requires_grad for p in image.parameters())
    feats = image.encode([np.full((40, 80, 3), 200, np.uint8), np.zeros((60, 20, 3), np.uint8)])
    assert feats.shape == (2, 1280) and np.isfinite(feats).all()

    text = TextEncoder()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert all(not p.requires_grad for p in text.model.parameters())
    with torch.no_grad():
        emb = text.encode(SENTENCES)
    sim = emb @ emb.T
    # pretrained sentence embeddings: paraphrases are closer than unrelated sentences
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[0, 3]


@pytest.mark.parametrize("variant, a_shared, b_shared", [
    ("sharea", True, False), ("shareb", False, True), ("shareab", True, True)])
def test_sharelora_shares_exactly_the_claimed_tensors(variant, a_shared, b_shared):
    text = TextEncoder()
    adapter = attach_adapter(text.model, AdapterSpec(variant, rank=4), seed=0)
    layers = adapter.layers
    n_layers = text.model.config.num_hidden_layers
    for proj in ("query", "key", "value"):
        wrapped = [m for name, m in layers.items() if name.endswith(proj)]
        assert len(wrapped) == n_layers
        a_ptrs = {m.lora_A.data_ptr() for m in wrapped}
        b_ptrs = {m.lora_B.data_ptr() for m in wrapped}
        assert len(a_ptrs) == (1 if a_shared else n_layers)
        assert len(b_ptrs) == (1 if b_shared else n_layers)
    # different projections never share
    assert layers["encoder.layer.0.attention.self.query"].lora_A.data_ptr() != \
        layers["encoder.layer.0.attention.self.key"].lora_A.data_ptr()
    d, r = text.model.config.hidden_size, 4
    per = {"sharea": r * d + n_layers * d * r, "shareb": n_layers * r * d + d * r, "shareab": 2 * r * d}[variant]
    assert adapter.num_trainable() == 3 * per
    assert sum(p.numel() for p in text.model.parameters() if p.requires_grad) == 0  # base stays frozen
    # a gradient step on the shared tensor changes every layer's update
    if a_shared:
        before = [m.delta().clone() for m in wrapped]
        with torch.no_grad():
            adapter.bank["value_A"].mul_(2.0)
            for m in wrapped:
                m.lora_B.fill_(0.01)
        after = [m.delta() for m in wrapped]
        assert all(not torch.allclose(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("variant", ["sharea", "shareb", "shareab", "lora"])
def test_merged_inference_equals_unmerged(variant, tokens):
    text = TextEncoder()
    with torch.no_grad():
        base = text(tokens)
    adapter = attach_adapter(text.model, AdapterSpec(variant, rank=8), seed=0)
    _randomise(adapter)
    with torch.no_grad():
        unmerged = text(tokens)
        adapter.merge()
        merged = text(tokens)
        adapter.unmerge()
        restored = text(tokens)
    assert (unmerged - base).abs().max() > 1e-3  # the adapter really changes the embedding
    assert (merged - unmerged).abs().max() < 1e-5
    assert (restored - unmerged).abs().max() < 1e-5


def test_sharea_is_smaller_than_plain_lora_at_the_same_rank():
    counts = {}
    for variant in ("sharea", "lora"):
        text = TextEncoder()
        counts[variant] = attach_adapter(text.model, AdapterSpec(variant, rank=8), seed=0).num_trainable()
    layers = 6
    assert counts["lora"] == 2 * 3 * layers * 8 * 384
    # ShareA keeps one A per projection instead of one per layer: (L + 1) / 2L of LoRA
    assert counts["sharea"] / counts["lora"] == pytest.approx((layers + 1) / (2 * layers))
