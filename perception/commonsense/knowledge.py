"""The commonsense knowledge base: statements about street objects, and which ones hold.

A statement belongs to one subject class and one cell of the visual-commonsense taxonomy
(Seen / Unseen x Property / Action / Space), carries a ConceptNet-style relation, and may
depend on the observed state of the object (``when: {moving: true}``). The annotator scores
every statement's text; :meth:`KnowledgeBase.truth` says which statements a labelled object
makes true, which is the training target and the ground truth of the evaluation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from perception.commonsense.errors import KnowledgeBaseError

DEFAULT_KB_PATH = Path(__file__).parent / "data" / "knowledge.yaml"

CLASSES: tuple[str, ...] = (
    "car", "truck", "bus", "pedestrian", "cyclist", "motorcyclist",
    "traffic_sign", "pole", "tree", "building", "other",
)
VISIBILITY = ("seen", "unseen")
CATEGORIES = ("property", "action", "space")
CELLS: tuple[str, ...] = tuple(f"{v}/{c}" for v in VISIBILITY for c in CATEGORIES)
STATE_KEYS = ("moving",)


@dataclass(frozen=True)
class Statement:
    """One commonsense statement about an object of class ``subject``.

    ``cell`` is ``"seen/property"`` ... ``"unseen/space"``; ``when`` maps state keys
    (``moving``) to the value they must have for the statement to hold. ``score`` is the
    annotator's probability when the statement is returned by :meth:`annotate`.
    """

    id: str
    subject: str
    text: str
    relation: str
    cell: str
    when: dict[str, Any] = field(default_factory=dict)
    score: float | None = None

    def holds(self, object_class: str, state: dict[str, Any]) -> bool:
        """True if an object of ``object_class`` in ``state`` makes this statement true."""
        if object_class != self.subject:
            return False
        return all(key in state and state[key] == value for key, value in self.when.items())

    def with_score(self, score: float) -> Statement:
        return Statement(self.id, self.subject, self.text, self.relation, self.cell, dict(self.when), float(score))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "subject": self.subject, "text": self.text,
                               "relation": self.relation, "cell": self.cell}
        if self.when:
            out["when"] = dict(self.when)
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48]


class KnowledgeBase:
    """An ordered list of statements; the order is the column order of the annotator's scores."""

    def __init__(self, statements: Sequence[Statement], source: str = "<memory>") -> None:
        if not statements:
            raise KnowledgeBaseError(f"{source}: the knowledge base has no statements")
        ids = [s.id for s in statements]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise KnowledgeBaseError(f"{source}: duplicate statement ids {dupes}")
        self.statements: list[Statement] = list(statements)
        self.source = source

    def __len__(self) -> int:
        return len(self.statements)

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.statements]

    @property
    def subjects(self) -> list[str]:
        return sorted({s.subject for s in self.statements})

    @property
    def cells(self) -> np.ndarray:
        """(S,) array of each statement's taxonomy cell."""
        return np.array([s.cell for s in self.statements])

    def digest(self) -> str:
        """Short hash of the statement texts and conditions (recorded in adapter files)."""
        h = hashlib.sha256()
        for s in self.statements:
            h.update(f"{s.id}|{s.text}|{sorted(s.when.items())}\n".encode())
        return h.hexdigest()[:16]

    def truth(self, object_class: str, state: dict[str, Any]) -> np.ndarray:
        """(S,) bool: which statements an object of this class and state makes true."""
        return np.array([s.holds(object_class, state) for s in self.statements], dtype=bool)

    def truth_matrix(self, labels: Sequence[tuple[str, dict[str, Any]]]) -> np.ndarray:
        """(N, S) bool targets for N ``(object_class, state)`` labels."""
        if not labels:
            return np.zeros((0, len(self)), dtype=bool)
        return np.stack([self.truth(c, s) for c, s in labels])

    @classmethod
    def load(cls, path: str | Path | None = None) -> KnowledgeBase:
        """Read a knowledge-base YAML (or JSON) file; ``None`` reads the shipped one."""
        path = Path(path) if path is not None else DEFAULT_KB_PATH
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise KnowledgeBaseError(f"{path}: knowledge-base file not found") from None
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"{path}: not valid YAML/JSON ({exc})") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<memory>") -> KnowledgeBase:
        if not isinstance(raw, dict) or not isinstance(raw.get("statements"), dict):
            raise KnowledgeBaseError(f"{source}: expected a mapping with a 'statements' mapping of class -> list")
        relations = raw.get("relations")
        statements: list[Statement] = []
        for subject, items in raw["statements"].items():
            if not isinstance(items, list):
                raise KnowledgeBaseError(f"{source}: statements.{subject} must be a list")
            for k, item in enumerate(items):
                where = f"{source}: statements.{subject}[{k}]"
                if not isinstance(item, dict):
                    raise KnowledgeBaseError(f"{where} must be a mapping")
                for key in ("text", "relation", "cell"):
                    if not isinstance(item.get(key), str) or not item[key].strip():
                        raise KnowledgeBaseError(f"{where}: field '{key}' is missing or empty")
                if item["cell"] not in CELLS:
                    raise KnowledgeBaseError(f"{where}: cell '{item['cell']}' is not one of {list(CELLS)}")
                if relations is not None and item["relation"] not in relations:
                    raise KnowledgeBaseError(f"{where}: relation '{item['relation']}' is not listed in 'relations'")
                when = item.get("when") or {}
                if not isinstance(when, dict) or any(key not in STATE_KEYS for key in when):
                    raise KnowledgeBaseError(f"{where}: 'when' may only use the state keys {list(STATE_KEYS)}")
                sid = str(item.get("id") or f"{subject}:{_slug(item['text'])}")
                statements.append(Statement(sid, str(subject), item["text"].strip(), item["relation"],
                                            item["cell"], dict(when)))
        return cls(statements, source=source)
