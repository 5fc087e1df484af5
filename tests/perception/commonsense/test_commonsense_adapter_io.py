"""Adapter files: safetensors round trip, and clear errors for corrupted or mismatched files."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from perception.commonsense.adapter_io import load_adapter, save_adapter  # noqa: E402
from perception.commonsense.errors import AdapterFileError, AdapterMismatchError  # noqa: E402
from perception.commonsense.knowledge import KnowledgeBase  # noqa: E402
from perception.commonsense.model import CommonsenseModel  # noqa: E402
from perception.commonsense.sharelora import AdapterSpec  # noqa: E402
from perception.commonsense.training import predict  # noqa: E402

pytestmark = pytest.mark.vlm


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = CommonsenseModel(AdapterSpec("sharea", rank=4), seed=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.adapter.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    path = tmp_path_factory.mktemp("adapter") / "a.safetensors"
    save_adapter(path, model, threshold=0.37)
    return model, path


def _inputs():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 1280)).astype(np.float32), np.abs(rng.normal(size=(5, 5))).astype(np.float32)


def test_save_load_round_trip_reproduces_scores(saved):
    model, path = saved
    kb = KnowledgeBase.load()
    feats, geo = _inputs()
    expected = predict(model, feats, geo, kb.texts)
    loaded, meta = load_adapter(path)
    assert meta["variant"] == "sharea" and meta["rank"] == "4" and float(meta["threshold"]) == 0.37
    assert int(meta["adapter_parameters"]) == model.adapter.num_trainable()
    got = predict(loaded, feats, geo, kb.texts)
    assert np.abs(got - expected).max() < 1e-6
    with open(path, "rb") as f:
        assert f.read(8) != b"\x80\x02\x8a\nl\xfc\x9c"  # not a pickle: safetensors header length first


def test_truncated_file_is_a_corrupt_adapter(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AdapterFileError, match="truncated.safetensors"):
        load_adapter(bad)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(AdapterFileError):
        load_adapter(garbage)


def test_pickle_file_is_refused(tmp_path):
    path = tmp_path / "pickled.safetensors"
    torch.save({"adapter.query_A": torch.zeros(4, 384)}, path)
    with pytest.raises(AdapterFileError):
        load_adapter(path)


def _rewrite(src, dst, meta_update=None, tensor_update=None):
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(meta_update or {})
    tensors.update(tensor_update or {})
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_mismatched_adapter_names_the_problem(saved, tmp_path):
    _, path = saved
    with pytest.raises(AdapterMismatchError, match="rank"):
        load_adapter(_rewrite(path, tmp_path / "rank.safetensors", {"rank": "8"}))
    with pytest.raises(AdapterMismatchError, match="value_B_l2"):
        load_adapter(_rewrite(path, tmp_path / "shape.safetensors", None,
                              {"adapter.value_B_l2": torch.zeros(384, 5)}))
    with pytest.raises(AdapterMismatchError, match="text_model"):
        load_adapter(_rewrite(path, tmp_path / "model.safetensors", {"text_model": "bert-base-uncased"}))
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(AdapterMismatchError, match="not an s2mat"):
        load_adapter(other)
