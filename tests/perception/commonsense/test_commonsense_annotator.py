"""The shipped annotator on simulated crops, the LiDAR view, the per-track cache and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from perception.commonsense.annotator import (  # noqa: E402
    DEFAULT_ADAPTER_PATH,
    CommonsenseAnnotator,
    TrackAnnotationCache,
    render_lidar_view,
)
from perception.commonsense.knowledge import Statement  # noqa: E402
from perception.commonsense.simcrops import crops_from_frames  # noqa: E402

pytestmark = pytest.mark.vlm

# Seeds 0-3 trained the shipped adapter; these scenes are new to it.
HELD_OUT_SEED = 41


@pytest.fixture(scope="module")
def sim_frames():
    from s2mat.sim import simulate

    return list(simulate("crowd", sensor="hdl64", frames=8, seed=HELD_OUT_SEED, camera=True, columns=128))


@pytest.fixture(scope="module")
def sim_crops(sim_frames):
    crops, records = crops_from_frames(sim_frames, every=2)
    assert crops, "the simulator produced no visible objects"
    return crops, records


@pytest.fixture(scope="module")
def annotator():
    if not DEFAULT_ADAPTER_PATH.is_file():
        pytest.fail(f"the shipped default adapter {DEFAULT_ADAPTER_PATH} is missing")
    return CommonsenseAnnotator.load()


def _largest(crops, records, object_class):
    idx = [i for i, r in enumerate(records) if r.object_class == object_class]
    if not idx:
        pytest.fail(f"no simulated {object_class} crop in the held-out scene")
    return max(idx, key=lambda i: crops[i].shape[0] * crops[i].shape[1])


@pytest.mark.parametrize("object_class", ["car", "pedestrian"])
def test_annotations_contain_what_ground_truth_implies(annotator, sim_crops, object_class):
    crops, records = sim_crops
    i = _largest(crops, records, object_class)
    rec = records[i]
    result = annotator.annotate([crops[i]], rec.geometry[None])[0]
    got = {s.id for s in result}
    truth = annotator.kb.truth(rec.object_class, rec.state)
    implied = {s.id for s, t in zip(annotator.kb.statements, truth, strict=True) if t}
    assert implied, "the knowledge base implies nothing for this object"
    assert implied <= got, f"missing {sorted(implied - got)} for a {'moving' if rec.moving else 'still'} {object_class}"
    # the opposite motion state's statements must not be claimed
    opposite = {s.id for s in annotator.kb.statements
                if s.subject == object_class and s.when.get("moving") == (not rec.moving)}
    assert not (got & opposite)
    assert all(isinstance(s, Statement) and s.score >= annotator.threshold for s in result)


def test_batched_frame_annotation_with_class_hints(annotator, sim_crops):
    crops, records = sim_crops
    k = min(6, len(crops))
    geometry = np.stack([r.geometry for r in records[:k]])
    hints = [r.object_class for r in records[:k]]
    out = annotator.annotate(crops[:k], geometry, hints)
    assert len(out) == k
    for rec, statements in zip(records[:k], out, strict=True):
        assert all(s.subject in {"car", "truck", "bus"} if rec.object_class == "car" else True for s in statements)
        scores = [s.score for s in statements]
        assert scores == sorted(scores, reverse=True)
    assert annotator.annotate([], np.zeros((0, 5), np.float32)) == []


def test_lidar_view_shows_the_points_silhouette():
    rng = np.random.default_rng(0)
    # a 0.6 m wide, 1.8 m tall column of points 10 m ahead
    pts = np.column_stack([10 + rng.uniform(-0.3, 0.3, 400), rng.uniform(-0.3, 0.3, 400), rng.uniform(0, 1.8, 400)])
    img = render_lidar_view(pts, center=np.array([10.0, 0.0, 0.9]), yaw=0.0)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    rows = np.flatnonzero(img[..., 0].any(axis=1))
    cols = np.flatnonzero(img[..., 0].any(axis=0))
    assert (rows.max() - rows.min()) > 2.5 * (cols.max() - cols.min())  # tall and narrow, like a person
    assert not render_lidar_view(np.zeros((0, 3)), np.zeros(3), 0.0).any()


def test_track_cache_refreshes_only_on_a_better_view():
    cache = TrackAnnotationCache(refresh_ratio=1.5)
    assert cache.needs_update(7, 100.0, "lidar")
    cache.update(7, [], quality=100.0, frame=1, view="lidar")
    assert not cache.needs_update(7, 120.0, "lidar")
    assert cache.needs_update(7, 160.0, "lidar")
    # The first camera view replaces a LiDAR one whatever the numbers; LiDAR never replaces camera.
    assert cache.needs_update(7, 30.0, "camera")
    cache.update(7, [], quality=30.0, frame=2, view="camera")
    assert not cache.needs_update(7, 1000.0, "lidar")
    assert not cache.needs_update(7, 40.0, "camera") and cache.needs_update(7, 45.0, "camera")
    cache.update(3, [], quality=10.0, frame=2, view="lidar")
    cache.prune([3])
    assert 7 not in cache and 3 in cache and len(cache) == 1
    with pytest.raises(ValueError, match="view must be one of"):
        cache.update(4, [], quality=1.0, frame=3, view="radar")


def test_cli_annotate_and_train_on_simulated_crops(sim_frames, sim_crops, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from perception.commonsense.dataset import write_crop_dataset
    from perception.commonsense.simcrops import project_box
    from s2mat.cli import app

    runner = CliRunner()
    frame = next(f for f in sim_frames[::2] if any(b.object_class.value == "car" for b in f.ground_truth.boxes))
    boxes = [(b, project_box(frame, b.box)) for b in frame.ground_truth.boxes if b.object_class.value == "car"]
    obj, (rect, _) = max(((b, p) for b, p in boxes if p is not None), key=lambda bp: np.prod(bp[1][0][2:] - bp[1][0][:2]))
    Image.fromarray(frame.image).save(tmp_path / "frame.png")
    size = obj.box.size
    speed = float(np.linalg.norm(obj.velocity[:2]))
    result = runner.invoke(app, ["vlm", "annotate", str(tmp_path / "frame.png"), "--box", ",".join(f"{v:.1f}" for v in rect),
                                 "--geometry", f"{size[0]},{size[1]},{size[2]},{speed},0", "--jsonl"])
    assert result.exit_code == 0, result.output
    statements = json.loads(result.output)["statements"]
    assert statements and all(s["subject"] == "car" for s in statements[:3])

    crops, records = sim_crops
    write_crop_dataset(tmp_path / "crops", crops[:24], records[:24])
    out = tmp_path / "tiny.safetensors"
    result = runner.invoke(app, ["vlm", "train", "--data", str(tmp_path / "crops"), "--adapter", "shareab",
                                 "--rank", "2", "--steps", "2", "--probe-epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "shareab" in result.output
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not an adapter")
    result = runner.invoke(app, ["vlm", "eval", "--data", str(tmp_path / "crops"), "--adapter", str(bad)])
    assert result.exit_code == 2 and "bad.safetensors" in result.output
