"""Drawing an attempt's questions and the order its options are shown in; scoring. Pure functions, so that
the guessing simulation runs exactly what attempts run."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from bot.quiz.bank import Question


@dataclass(frozen=True)
class Rules:
    """What an attempt is held to: by a campaign, or the defaults for practice."""

    size: int = 20
    pass_mark: int = 60
    truefalse_share: float = 0.2
    attempts: int = 0  # 0: no limit
    cooldown_minutes: float = 0.0
    credits: float = 0.0
    fixed_form: bool = False  # everyone draws the same questions (options are still shuffled)

    @property
    def truefalse_max(self) -> int:
        return math.floor(self.size * self.truefalse_share + 1e-9)


def draw(bank: list[Question], rules: Rules, rng: random.Random, role: str = "", topic: str = "",
         first: tuple[Question, ...] = ()) -> list[Question]:
    """``rules.size`` questions: ``first`` (e.g. earlier mistakes), then the user's role, then curated before
    generated ones; at most ``rules.truefalse_max`` true/false questions; in random order."""
    size, tf_left = rules.size, rules.truefalse_max
    pool = [q for q in bank if not topic or topic in q.topic]
    suited = [q for q in pool if role and role in q.roles]
    general = [q for q in pool if q not in suited]
    chosen: list[Question] = []
    seen: set[str] = set()
    groups = (list(first), suited, [q for q in general if not q.generated], [q for q in general if q.generated])
    for n, group in enumerate(groups):
        group = list(group)
        if n:  # earlier mistakes keep their order (the oldest first)
            rng.shuffle(group)
        for question in group:
            if len(chosen) >= size:
                break
            if question.id in seen or (question.type == "truefalse" and tf_left <= 0):
                continue
            tf_left -= question.type == "truefalse"
            seen.add(question.id)
            chosen.append(question)
    rng.shuffle(chosen)
    return chosen


def option_order(question: Question, rng: random.Random) -> tuple[int, ...]:
    """The order to show the options in (original indices). True/false keeps 正确, 错误."""
    order = list(range(len(question.options)))
    if question.type != "truefalse":
        rng.shuffle(order)
    return tuple(order)


def present(question: Question, order: tuple[int, ...] | list[int] | None) -> Question:
    """The question as shown: options in ``order``, the answer renumbered to match."""
    if not order:
        return question
    options = tuple(question.options[i] for i in order)
    answer = tuple(sorted(order.index(i) for i in question.answer))
    return replace(question, options=options, answer=answer)


def to_original(order: tuple[int, ...] | list[int] | None, shown: list[int]) -> list[int]:
    """Shown option positions back to the bank's option indices."""
    if not order:
        return sorted(set(shown))
    return sorted({order[i] for i in shown if 0 <= i < len(order)})


def to_shown(order: tuple[int, ...] | list[int] | None, original: list[int]) -> list[int]:
    if not order:
        return sorted(set(original))
    return sorted(list(order).index(i) for i in set(original) if i in order)


def score(correct: int, total: int) -> int:
    return round(100 * correct / total) if total else 0


def passes(points: int, rules: Rules) -> bool:
    return points >= rules.pass_mark
