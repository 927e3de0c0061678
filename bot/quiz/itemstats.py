"""Item analysis as Moodle defines it (question/classes/statistics/questions/calculator.php).

Per question, over the S attempts that drew it, with x its mark (0–1) and X the attempt's total, all
(co)variances with S − 1:
- facility index F = mean(x);
- discrimination index DI = 100·Cov(x, X−x) / √(Var(x)·Var(X−x)) — the item–rest correlation;
- discriminative efficiency DE = 100·Cov(x, X−x) / Cov_max, Cov_max from x and X−x each sorted on its own.
For a fixed form (every attempt drew the same questions), the whole test: Cronbach's α as the coefficient of
internal consistency CIC = 100·p/(p−1)·(1 − ΣVar(x_q)/Var(X)) and the error ratio ER = 100·√(1 − CIC/100).
Weak items: facility < 0.2 or > 0.95, or discrimination < 20 (0.2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from bot.storage import Store

EASY, HARD, WEAK_DISCRIMINATION = 0.95, 0.2, 20.0


@dataclass(frozen=True)
class ItemStat:
    question_id: str
    attempts: int
    facility: float
    discrimination: float | None  # percent; None when x or X−x does not vary
    efficiency: float | None  # percent
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestStat:
    attempts: int
    questions: int
    mean: float  # percent of the maximum
    fixed_form: bool
    cic: float | None = None  # percent
    error_ratio: float | None = None  # percent


@dataclass
class Analysis:
    items: list[ItemStat] = field(default_factory=list)
    test: TestStat | None = None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _cov(a: list[float], b: list[float]) -> float:
    ma, mb = _mean(a), _mean(b)
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / (len(a) - 1)


def item_stat(question_id: str, marks: list[float], totals: list[float]) -> ItemStat:
    """One question: ``marks`` its mark in each attempt that drew it, ``totals`` those attempts' totals."""
    s = len(marks)
    facility = _mean(marks) if s else 0.0
    discrimination = efficiency = None
    if s >= 2:
        rest = [t - x for x, t in zip(marks, totals, strict=True)]
        cov, var_x, var_rest = _cov(marks, rest), _cov(marks, marks), _cov(rest, rest)
        if var_x > 0 and var_rest > 0:
            discrimination = 100 * cov / math.sqrt(var_x * var_rest)
        cov_max = _cov(sorted(marks), sorted(rest))
        if cov_max > 0:
            efficiency = 100 * cov / cov_max
    flags = []
    if facility < HARD:
        flags.append("太难")
    if facility > EASY:
        flags.append("太容易")
    if discrimination is not None and discrimination < WEAK_DISCRIMINATION:
        flags.append("区分度弱")
    return ItemStat(question_id, s, facility, discrimination, efficiency, tuple(flags))


def analyse(attempts: list[dict[str, float]]) -> Analysis:
    """``attempts``: one {question_id: mark} per attempt. Items in order of first appearance."""
    totals = [sum(a.values()) for a in attempts]
    order: list[str] = []
    for attempt in attempts:
        order.extend(q for q in attempt if q not in order)
    items = []
    for qid in order:
        drew = [(a[qid], t) for a, t in zip(attempts, totals, strict=True) if qid in a]
        items.append(item_stat(qid, [x for x, _ in drew], [t for _, t in drew]))
    if not attempts:
        return Analysis(items)
    forms = {frozenset(a) for a in attempts}
    p = len(order)
    mean = 100 * _mean([t / len(a) for a, t in zip(attempts, totals, strict=True) if a])
    test = TestStat(len(attempts), p, mean, fixed_form=len(forms) == 1)
    if test.fixed_form and p > 1 and len(attempts) > 1:
        var_total = _cov(totals, totals)
        if var_total > 0:
            item_vars = sum(_cov([a[q] for a in attempts], [a[q] for a in attempts]) for q in order)
            cic = 100 * p / (p - 1) * (1 - item_vars / var_total)
            error = 100 * math.sqrt(1 - cic / 100) if cic <= 100 else 0.0
            test = TestStat(len(attempts), p, mean, True, cic, error)
    return Analysis(items, test)


def attempt_marks(store: Store, campaign_id: int | None = None, first_only: bool = True) -> list[dict[str, float]]:
    """Finished attempts as {question_id: mark}: a campaign's credited ones (all credited ones when None),
    each person's first only by default, as Moodle does."""
    where = "a.campaign_id = ?" if campaign_id is not None else "a.mode = 'credited'"
    params = [campaign_id] if campaign_id is not None else []
    rows = store.rows(
        "select a.id, a.user_id, a.campaign_id, a.question_ids, q.question_id, q.correct from quiz_attempts a "
        f"join quiz_answers q on q.attempt_id = a.id where a.status = 'finished' and {where} order by a.id, q.idx",
        params)
    by_attempt: dict[int, dict[str, float]] = {}
    first: dict[tuple[int, int | None], int] = {}
    for row in rows:
        key = (row["user_id"], row["campaign_id"])
        if first_only and first.setdefault(key, row["id"]) != row["id"]:
            continue
        by_attempt.setdefault(row["id"], {qid: 0.0 for qid in json.loads(row["question_ids"])})
        by_attempt[row["id"]][row["question_id"]] = float(row["correct"])
    return list(by_attempt.values())
