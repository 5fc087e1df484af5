"""The generative path: ShareLoRA on a tiny image-text-to-text model built from a config."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from perception.commonsense.errors import AdapterMismatchError  # noqa: E402
from perception.commonsense.generative import GenerativeAnnotator, default_generator_spec  # noqa: E402

pytestmark = pytest.mark.vlm

IMAGE_TOKEN = 299


def _tiny_idefics3():
    config = transformers.Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
                     "max_position_embeddings": 128, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
        scale_factor=2, image_token_id=IMAGE_TOKEN)
    torch.manual_seed(0)
    return transformers.Idefics3ForConditionalGeneration(config).eval()


def _inputs():
    # one 32x32 image -> (32/8)^2 patches / scale_factor^2 = 4 image tokens in the prompt
    ids = torch.tensor([[1, IMAGE_TOKEN, IMAGE_TOKEN, IMAGE_TOKEN, IMAGE_TOKEN, 17, 42, 99]])
    gen = torch.Generator().manual_seed(0)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "pixel_values": torch.rand((1, 1, 3, 32, 32), generator=gen)}


@pytest.mark.parametrize("variant", ["sharea", "lora"])
def test_sharelora_on_a_tiny_image_text_to_text_model(variant, tmp_path):
    model = _tiny_idefics3()
    inputs = _inputs()
    with torch.no_grad():
        base = model(**inputs).logits
    gen = GenerativeAnnotator(model, spec=default_generator_spec(variant, rank=4))
    wrapped = gen.adapter.layers
    # only the language model's attention is adapted, never the vision tower
    assert wrapped and all("text_model" in name for name in wrapped)
    assert len(wrapped) == 3 * 3
    if variant == "sharea":
        q = [m for n, m in wrapped.items() if n.endswith("q_proj")]
        assert len({m.lora_A.data_ptr() for m in q}) == 1 and len({m.lora_B.data_ptr() for m in q}) == 3
    with torch.no_grad():
        for p in gen.adapter.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        unmerged = model(**inputs).logits
        gen.adapter.merge()
        merged = model(**inputs).logits
        gen.adapter.unmerge()
    assert (unmerged - base).abs().max() > 1e-3
    assert (merged - unmerged).abs().max() < 1e-5
    new = gen.generate(max_new_tokens=3, **inputs)
    assert new.shape == (1, 3)

    path = gen.save_adapter(tmp_path / "gen.safetensors")
    fresh = GenerativeAnnotator(_tiny_idefics3(), spec=default_generator_spec(variant, rank=4))
    fresh.load_adapter(path)
    with torch.no_grad():
        assert (fresh.model(**inputs).logits - unmerged).abs().max() < 1e-5
    other = GenerativeAnnotator(_tiny_idefics3(), spec=default_generator_spec(variant, rank=2))
    with pytest.raises(AdapterMismatchError):
        other.load_adapter(path)
