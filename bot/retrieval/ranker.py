"""The fitted ranking and abstention model: two logistic regressions stored as a small JSON file.

The ranker scores candidate articles on :data:`bot.retrieval.features.FEATURES`; the abstention model turns
question-level signals (:data:`QUESTION_FEATURES`) into the probability that the knowledge answers the
question. Both are fitted on the project benchmark's ``train`` split (``scripts/fit_ranker.py`` or
``python -m bot calibrate``) and stored per embedder in ``knowledge/models/``. Scoring needs only numpy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.retrieval.features import FEATURES, QUESTION_FEATURES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearModel:
    """A standardised linear model: score = ((x − mean) / scale) · coef + intercept."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def score(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [round(float(x), 6) for x in self.mean],
            "scale": [round(float(x), 6) for x in self.scale],
            "coef": [round(float(x), 6) for x in self.coef],
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, data: dict, expected: list[str]) -> LinearModel:
        if list(data["features"]) != list(expected):
            raise ValueError("model features do not match this version of the code; refit it")
        return cls(tuple(data["features"]), np.array(data["mean"], dtype=np.float32),
                   np.array(data["scale"], dtype=np.float32), np.array(data["coef"], dtype=np.float32),
                   float(data["intercept"]))


@dataclass(frozen=True)
class RankingModel:
    """Ranker + abstention model + the probability threshold for answering."""

    ranker: LinearModel
    abstain: LinearModel
    threshold: float
    embedder: str = ""
    id: str = ""
    fitted: bool = True
    phrasing_offset: float = 0.05  # typical cosine gap, question–phrasing minus question–article

    def rank_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.ranker.score(rows) if len(rows) else np.zeros(0, dtype=np.float32)

    def answer_probability(self, question: np.ndarray) -> float:
        logit = float(np.clip(self.abstain.score(question[None, :])[0], -30.0, 30.0))
        return 1.0 / (1.0 + np.exp(-logit))

    @classmethod
    def from_dict(cls, data: dict) -> RankingModel:
        return cls(
            ranker=LinearModel.from_dict(data["ranker"], FEATURES),
            abstain=LinearModel.from_dict(data["abstain"], QUESTION_FEATURES),
            threshold=float(data["abstain"]["threshold"]),
            embedder=str(data.get("embedder", "")),
            id=str(data.get("id", "")),
            phrasing_offset=float(data.get("phrasing_offset", 0.05)),
        )


def model_id(data: dict) -> str:
    """A content hash of a model file's fitted parts."""
    body = json.dumps({k: data.get(k) for k in ("ranker", "abstain", "embedder", "phrasing_offset")},
                      sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:12]


def prior_model() -> RankingModel:
    """The unfitted fallback, used only until a model is fitted: reciprocal ranks of the four lists, summed,
    and every question answered. It exists so that an index can be built before the first fit."""
    n, m = len(FEATURES), len(QUESTION_FEATURES)
    coef = np.zeros(n, dtype=np.float32)
    for name in ("bm25_rr", "bm25p_rr", "cos_rr", "cosp_rr"):
        coef[FEATURES.index(name)] = 1.0
    ranker = LinearModel(tuple(FEATURES), np.zeros(n, np.float32), np.ones(n, np.float32), coef, 0.0)
    abstain = LinearModel(tuple(QUESTION_FEATURES), np.zeros(m, np.float32), np.ones(m, np.float32),
                          np.zeros(m, np.float32), 10.0)
    return RankingModel(ranker, abstain, 0.5, id="prior", fitted=False)


def model_file(models_dir: Path, embedder_id: str) -> Path:
    """Where the model for an embedder lives: ``<models_dir>/<embedder id, as a file name>.json``."""
    return Path(models_dir) / (re.sub(r"[^\w.-]+", "_", embedder_id).strip("_") + ".json")


def load_model_data(models_dir: Path | None, embedder_id: str) -> dict:
    """The stored model for ``embedder_id``; else the default embedder's (with a warning); else {}."""
    if models_dir is None:
        return {}
    own = model_file(models_dir, embedder_id)
    if own.exists():
        return json.loads(own.read_text(encoding="utf-8"))
    fitted = sorted(Path(models_dir).glob("*.json")) if Path(models_dir).is_dir() else []
    if fitted:
        log.warning("no ranking model fitted for %s; using %s until `python -m bot calibrate` is run",
                    embedder_id, fitted[0].name)
        return json.loads(fitted[0].read_text(encoding="utf-8"))
    return {}


def from_snapshot(data: dict) -> RankingModel:
    """The model an index version serves with (the prior when it was built without one)."""
    if not data:
        return prior_model()
    try:
        return RankingModel.from_dict(data)
    except (KeyError, ValueError) as exc:
        log.warning("index's ranking model unusable (%s); using the prior until re-indexed", exc)
        return prior_model()
