"""How far guessing gets: attempts drawn exactly as real ones are (the bank plus, with an index, the questions
generated from it; options shuffled per attempt), answered by strategies that know nothing of the law.

Usage: ``python scripts/simulate_guessing.py [--attempts 2000] [--size N] [--pass-mark N] [--truefalse S]
[--no-generated]``; settings default to the bot's (BOT_QUIZ_SIZE …). Prints the pass rate and mean score of
each strategy and where the right option of single-choice questions sat.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.quiz.bank import load_bank  # noqa: E402
from bot.quiz.draw import Rules  # noqa: E402
from bot.quiz.guessing import simulate  # noqa: E402


def main() -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--size", type=int, default=settings.quiz_size)
    parser.add_argument("--pass-mark", type=int, default=settings.quiz_pass_mark)
    parser.add_argument("--truefalse", type=float, default=settings.quiz_truefalse_share)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-generated", action="store_true", help="the curated bank only")
    args = parser.parse_args()

    bank = load_bank([settings.quiz_bank]).questions
    generated = []
    if not args.no_generated:
        from bot.knowledge import KnowledgeBase
        from bot.quiz.generate import generate_questions

        kb = KnowledgeBase(settings)
        if kb.has_index():
            retriever = kb.retriever()
            bank = [replace(q, doc=retriever.names.resolve(q.doc) or q.doc) for q in bank]
            generated = generate_questions(retriever)
        else:
            print("(no index: the curated bank only)", file=sys.stderr)
    rules = Rules(size=args.size, pass_mark=args.pass_mark, truefalse_share=args.truefalse)
    report = simulate(bank + generated, rules, attempts=args.attempts, seed=args.seed)
    print(f"{report.attempts} attempts of {rules.size} questions (≤ {rules.truefalse_max} true/false, "
          f"{report.truefalse_per_attempt:.1f} on average), pass mark {rules.pass_mark}; "
          f"bank {len(bank)} curated + {len(generated)} generated questions")
    for name, rate in report.pass_rates.items():
        print(f"  {name}: pass {rate:.2%}, mean score {report.mean_scores[name]:.1f}")
    shares = ", ".join(f"{k} {v:.1%}" for k, v in report.position_shares().items())
    print(f"  right option of single-choice questions as shown: {shares}")


if __name__ == "__main__":
    main()
