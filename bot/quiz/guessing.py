"""How far guessing gets: attempts drawn exactly as real ones are (draw, option order, scoring), answered by
fixed strategies that know nothing of the law. Used by the tests and ``scripts/simulate_guessing.py``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.quiz import draw as drawing
from bot.quiz.bank import TRUE_FALSE, Question
from bot.quiz.draw import Rules

# A strategy sees the question as shown and the order it was shown in, and returns options (as shown).
Strategy = Callable[[Question, tuple[int, ...], random.Random], list[int]]


def _first(question: Question, order: tuple[int, ...], rng: random.Random) -> list[int]:
    return [0]


def _bank_a(question: Question, order: tuple[int, ...], rng: random.Random) -> list[int]:
    """The option the bank lists first (its A); for multiple answers the bank's old favourite A+B+C."""
    wanted = [0, 1, 2] if question.type == "multiple" else [0]
    return sorted(order.index(i) for i in wanted if i in order)


def _verdict(word: str) -> Strategy:
    def strategy(question: Question, order: tuple[int, ...], rng: random.Random) -> list[int]:
        return [question.options.index(word)] if question.type == "truefalse" else [0]

    return strategy


def _random(question: Question, order: tuple[int, ...], rng: random.Random) -> list[int]:
    """One option at random; for multiple answers a uniformly random non-empty set."""
    n = len(question.options)
    if question.type != "multiple":
        return [rng.randrange(n)]
    while True:
        chosen = [i for i in range(n) if rng.random() < 0.5]
        if chosen:
            return chosen


def _longest(question: Question, order: tuple[int, ...], rng: random.Random) -> list[int]:
    """The test-wise guess: the longest option."""
    lengths = [len(o) for o in question.options]
    return [lengths.index(max(lengths))]


STRATEGIES: dict[str, Strategy] = {
    "总选第一个选项": _first, "总选题库中的 A": _bank_a, f"判断题总选{TRUE_FALSE[0]}": _verdict(TRUE_FALSE[0]),
    f"判断题总选{TRUE_FALSE[1]}": _verdict(TRUE_FALSE[1]), "随机作答": _random, "总选最长的选项": _longest,
}


@dataclass
class Report:
    attempts: int
    pass_rates: dict[str, float]
    mean_scores: dict[str, float]
    positions: Counter = field(default_factory=Counter)  # where the right option of single-choice questions sat
    truefalse_per_attempt: float = 0.0

    def position_shares(self) -> dict[str, float]:
        total = sum(self.positions.values()) or 1
        return {chr(65 + p): n / total for p, n in sorted(self.positions.items())}


def simulate(bank: list[Question], rules: Rules, attempts: int = 2000, seed: int = 1,
             roles: tuple[str, ...] = ("", "施工单位", "建设单位", "工程监理单位", "检测机构", "设计单位")) -> Report:
    """``attempts`` attempts by the real draw (users of various roles), each answered by every strategy."""
    rng = random.Random(seed)
    passed: Counter = Counter()
    points: Counter = Counter()
    positions: Counter = Counter()
    truefalse = 0
    for n in range(attempts):
        questions = drawing.draw(bank, rules, rng, roles[n % len(roles)])
        orders = [drawing.option_order(q, rng) for q in questions]
        shown = [drawing.present(q, o) for q, o in zip(questions, orders, strict=True)]
        truefalse += sum(q.type == "truefalse" for q in shown)
        positions.update(q.answer[0] for q in shown if q.type == "single")
        for name, strategy in STRATEGIES.items():
            right = sum(q.is_correct(strategy(q, o, rng)) for q, o in zip(shown, orders, strict=True))
            score = drawing.score(right, len(shown))
            points[name] += score
            passed[name] += drawing.passes(score, rules)
    return Report(attempts, {k: passed[k] / attempts for k in STRATEGIES},
                  {k: points[k] / attempts for k in STRATEGIES}, positions, truefalse / attempts)
