"""Fit the ranking and abstention models on benchmark questions (the ``train`` split only).

The ranker is a pairwise logistic regression (RankNet with a linear scorer): for every train question, the
feature difference between the gold article and each of its strongest wrong candidates is one example. Its
regularisation is chosen by 5-fold cross-validation grouped by question (mean reciprocal rank).

The abstention model is a logistic regression over question-level signals, with the ranker's scores taken
out of fold so that they are as confident as on unseen questions; out-of-scope questions are its negatives.
Its classes are weighted to balance, so the answering threshold is the probability 0.5, where a wrong refusal
and a wrong answer weigh the same; the rates it gives out of fold are recorded. Deterministic: the same index
and questions give the same file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.retrieval.features import FEATURES, QUESTION_FEATURES, Candidates
from bot.retrieval.ranker import LinearModel, model_id
from bot.retrieval.search import Retriever, question_signals

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
FOLDS = 5
NEGATIVES = 20  # wrong candidates paired with the gold article, the strongest by first-stage rank
THRESHOLD = 0.5


@dataclass
class Example:
    """One question with its candidates and which of them are gold."""

    question: dict
    candidates: Candidates
    gold: np.ndarray  # bool per candidate
    forced: list[int]
    rank_keys: np.ndarray  # (document, label) order of each candidate, for tie-breaking


def collect(retriever: Retriever, questions: list[dict], progress: Callable[[str], None] = print) -> list[Example]:
    """Candidates and gold labels for every question (out-of-scope ones have no gold)."""
    out = []
    for n, q in enumerate(questions, start=1):
        if n % 100 == 0:
            progress(f"features {n}/{len(questions)}")
        _, candidates, forced = retriever.candidates(q["question"])
        gold = {(retriever.names.resolve(g["doc"]) or g["doc"], g["loc"]) for g in q.get("gold") or []}
        labels = np.array([retriever.table.keys[a] in gold for a in candidates.articles], dtype=bool)
        out.append(Example(q, candidates, labels, forced, retriever.table.key_rank[candidates.articles]))
    return out


def _standardise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def _fit_linear(rows: np.ndarray, labels: np.ndarray, names: list[str], c: float,
                balanced: bool = False) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(rows)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced" if balanced else None)
    model.fit((rows - mean) / scale, labels)
    return LinearModel(tuple(names), mean.astype(np.float32), scale.astype(np.float32),
                       model.coef_[0].astype(np.float32), float(model.intercept_[0]))


def _order(example: Example, scores: np.ndarray) -> list[int]:
    order = list(np.argsort(-scores, kind="stable"))
    if example.forced:
        named = set(example.forced)
        arts = example.candidates.articles
        order = [i for i in order if arts[i] in named] + [i for i in order if arts[i] not in named]
    return order


def reciprocal_rank(example: Example, scores: np.ndarray) -> float:
    for rank, i in enumerate(_order(example, scores)[:10], start=1):
        if example.gold[i]:
            return 1.0 / rank
    return 0.0


def _folds(n: int) -> list[np.ndarray]:
    return [np.arange(n)[i::FOLDS] for i in range(FOLDS)]


_FIRST_STAGE = [FEATURES.index(n) for n in ("bm25_rr", "bm25p_rr", "cos_rr", "cosp_rr")]


def _fit_ranker(examples: list[Example], c: float) -> LinearModel:
    """Pairwise logistic regression on (gold − wrong) feature differences, in standardised units."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(np.vstack([e.candidates.features for e in examples]))
    pairs = []
    for e in examples:
        rows = (e.candidates.features - mean) / scale
        first = e.candidates.features[:, _FIRST_STAGE].max(axis=1)
        order = np.lexsort((e.rank_keys, -first))  # ties by (document, label): independent of index order
        wrong = [i for i in order if not e.gold[i]][:NEGATIVES]
        pairs.extend(rows[g] - rows[w] for g in np.flatnonzero(e.gold) for w in wrong)
    diffs = np.array(pairs)
    model = LogisticRegression(C=c, max_iter=5000, fit_intercept=False)
    model.fit(np.vstack([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))])
    return LinearModel(tuple(FEATURES), mean.astype(np.float32), scale.astype(np.float32),
                       model.coef_[0].astype(np.float32), 0.0)


def fit(retriever: Retriever, questions: list[dict], progress: Callable[[str], None] = print) -> dict:
    """Fit both models on ``questions`` (the train split) and return the model file's content."""
    examples = collect(retriever, questions, progress)
    answerable = [e for e in examples if e.question.get("answerable", True) and e.gold.any()]
    folds = _folds(len(answerable))

    def cv_mrr(c: float) -> float:
        total = 0.0
        for fold in folds:
            held = set(fold.tolist())
            model = _fit_ranker([e for i, e in enumerate(answerable) if i not in held], c)
            total += sum(reciprocal_rank(answerable[i], model.score(answerable[i].candidates.features))
                         for i in fold)
        return total / len(answerable)

    scores_by_c = {c: cv_mrr(c) for c in C_GRID}
    best_c = max(C_GRID, key=lambda c: (round(scores_by_c[c], 4), -c))
    progress("ranker C: " + ", ".join(f"{c:g}→MRR {m:.3f}" for c, m in scores_by_c.items()))
    ranker = _fit_ranker(answerable, best_c)

    # Question-level rows with out-of-fold ranker scores (every train question, out-of-scope included).
    q_folds = _folds(len(examples))
    signals = np.zeros((len(examples), len(QUESTION_FEATURES)), dtype=np.float32)
    for fold in q_folds:
        held = set(fold.tolist())
        model = _fit_ranker([e for e in answerable if id(e) not in {id(examples[i]) for i in held}], best_c)
        for i in fold:
            scores = model.score(examples[i].candidates.features)
            signals[i] = question_signals(examples[i].candidates, scores, _order(examples[i], scores))
    labels = np.array([bool(e.question.get("answerable", True)) for e in examples])
    abstain = _fit_linear(signals, labels, QUESTION_FEATURES, 1.0, balanced=True)

    # Threshold on out-of-fold probabilities.
    probs = np.zeros(len(examples))
    for fold in q_folds:
        keep = np.ones(len(examples), dtype=bool)
        keep[fold] = False
        model = _fit_linear(signals[keep], labels[keep], QUESTION_FEATURES, 1.0, balanced=True)
        probs[fold] = 1 / (1 + np.exp(-model.score(signals[fold])))
    answered, declined = rates(probs, labels, examples, THRESHOLD)
    progress(f"abstention at {THRESHOLD}: answered {answered:.3f}, declined {declined:.3f} (out of fold)")

    # Typical gap between a gold article's best phrasing cosine and its own cosine (for articles without
    # phrasings, see FeatureBuilder).
    cos, cosp = FEATURES.index("cos"), FEATURES.index("cosp")
    gaps = [e.candidates.features[g, cosp] - e.candidates.features[g, cos]
            for e in answerable for g in np.flatnonzero(e.gold)]
    data = {
        "embedder": retriever.embedder.id,
        "phrasing_offset": round(float(np.median(gaps)), 4),
        "ranker": ranker.to_dict(),
        "abstain": {**abstain.to_dict(), "threshold": THRESHOLD},
        "fitted_on": {
            "split": "train",
            "questions": len(examples),
            "answerable_with_gold_in_candidates": len(answerable),
            "out_of_scope": int((~labels).sum()),
            "ranker_C": best_c,
            "cv_mrr": round(scores_by_c[best_c], 4),
            "cv_answered": round(answered, 4),
            "cv_declined": round(declined, 4),
        },
    }
    data["id"] = model_id(data)
    return data


def rates(probs: np.ndarray, labels: np.ndarray, examples: list[Example], threshold: float) -> tuple[float, float]:
    """(answered share of answerable, declined share of out-of-scope) at ``threshold``. Explicit references are
    always answered, and an unknown law alone is always declined, so those questions are left out."""
    unknown, named = QUESTION_FEATURES.index("unknown_law"), QUESTION_FEATURES.index("named_doc")
    free = np.array([not e.forced and not (e.candidates.question[unknown] and not e.candidates.question[named])
                     for e in examples])
    pos, neg = probs[labels & free], probs[~labels & free]
    answered = float((pos >= threshold).mean()) if len(pos) else 1.0
    declined = float((neg < threshold).mean()) if len(neg) else 1.0
    return answered, declined


def dump(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def write_model(retriever: Retriever, questions: list[dict], path: Path,
                progress: Callable[[str], None] = print) -> dict:
    """Fit on ``questions`` and write the model file; returns its content."""
    data = fit(retriever, questions, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(data), encoding="utf-8")
    return data
