"""The knowledge base: coverage of the taxonomy, state-dependent truth, malformed files."""

from __future__ import annotations

import pytest

from perception.commonsense.dataset import CropDataset, CropRecord, write_crop_dataset
from perception.commonsense.errors import CropDatasetError, KnowledgeBaseError
from perception.commonsense.knowledge import CELLS, CLASSES, KnowledgeBase


def test_shipped_kb_covers_every_class_and_taxonomy_cell():
    kb = KnowledgeBase.load()
    assert set(kb.subjects) == set(CLASSES)
    assert set(kb.cells) == set(CELLS)
    assert len({s.id for s in kb.statements}) == len(kb)


def test_parked_and_moving_car_make_different_statements_true():
    kb = KnowledgeBase.load()
    parked = kb.truth("car", {"moving": False})
    moving = kb.truth("car", {"moving": True})
    texts = kb.texts
    assert any(parked[i] and not moving[i] for i in range(len(kb)))
    assert any(moving[i] and not parked[i] for i in range(len(kb)))
    # statements without a condition hold in both states; other classes' statements in neither
    for s, p, m in zip(kb.statements, parked, moving, strict=True):
        if s.subject != "car":
            assert not p and not m
        elif not s.when:
            assert p and m, texts
    walker = kb.truth("pedestrian", {"moving": True})
    stander = kb.truth("pedestrian", {"moving": False})
    assert (walker != stander).any()


def test_users_extend_the_kb_with_their_own_file(tmp_path):
    extra = tmp_path / "kb.yaml"
    extra.write_text(
        "statements:\n  car:\n    - {text: 'a taxi has a roof sign', relation: HasA, cell: seen/property}\n"
        "  scooter:\n    - {text: 'a scooter rider stands on a deck', relation: HasProperty, cell: seen/action,"
        " when: {moving: true}}\n")
    kb = KnowledgeBase.load(extra)
    assert kb.truth("scooter", {"moving": True}).tolist() == [False, True]
    assert kb.truth("scooter", {"moving": False}).tolist() == [False, False]


@pytest.mark.parametrize("body, word", [
    ("statements:\n  car:\n    - {text: x, relation: HasA}\n", "cell"),
    ("statements:\n  car:\n    - {text: x, relation: HasA, cell: seen/colour}\n", "seen/colour"),
    ("relations: [HasA]\nstatements:\n  car:\n    - {text: x, relation: Eats, cell: seen/action}\n", "Eats"),
    ("statements:\n  car:\n    - {text: x, relation: HasA, cell: seen/action, when: {colour: red}}\n", "when"),
    ("statements: [1, 2]\n", "statements"),
    ("statements: {car: [{text: 'a: b: c', relation: HasA, cell: seen/action}]\n", "YAML"),
])
def test_malformed_kb_names_the_problem(tmp_path, body, word):
    path = tmp_path / "kb.yaml"
    path.write_text(body)
    with pytest.raises(KnowledgeBaseError, match=word):
        KnowledgeBase.load(path)


def test_crop_folder_round_trip_and_malformed_labels(tmp_path):
    import numpy as np

    from perception.commonsense.geometry import geometry_vector

    crops = [np.full((20, 10, 3), 50 * i, np.uint8) for i in range(3)]
    records = [CropRecord(f"crops/{i:06d}.png", "pedestrian", bool(i % 2), geometry_vector(0.6, 0.6, 1.7, i, 0), {})
               for i in range(3)]
    write_crop_dataset(tmp_path / "d", crops, records)
    ds = CropDataset(tmp_path / "d")
    assert len(ds) == 3 and ds.labels()[1] == ("pedestrian", {"moving": True})
    assert np.array_equal(ds.load_crop(2), crops[2])
    assert ds.geometry()[2, 3] == pytest.approx(2.0)
    (tmp_path / "d" / "labels.jsonl").write_text('{"crop": "crops/000000.png", "class": "car"}\n')
    with pytest.raises(CropDatasetError, match="moving"):
        CropDataset(tmp_path / "d")
    with pytest.raises(CropDatasetError, match="labels.jsonl"):
        CropDataset(tmp_path / "missing")
