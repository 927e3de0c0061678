"""Retrieval and answer metrics on question files in the ../shared/eval format."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_PREFIX = "中华人民共和国"


def same_doc(a: str, b: str) -> bool:
    """Titles match with or without the 中华人民共和国 prefix."""
    return a.removeprefix(_PREFIX) == b.removeprefix(_PREFIX)


def load_questions(paths: Iterable[Path]) -> list[dict]:
    questions = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            questions.extend(json.loads(line) for line in fh if line.strip())
    return questions


def benchmark_files(folder: Path) -> list[Path]:
    """The project benchmark's question files (conversations are kept apart)."""
    return sorted(p for p in Path(folder).glob("*.jsonl") if p.name != "conversations.jsonl")


def load_split(folder: Path, split: str) -> list[dict]:
    """Questions of one split (``train`` or ``test``) of the project benchmark."""
    return [q for q in load_questions(benchmark_files(folder)) if q.get("split") == split]


def first_gold_rank(citations: list[dict], gold: list[dict], depth: int = 10) -> int | None:
    for rank, cite in enumerate(citations[:depth], start=1):
        if any(same_doc(cite["doc"], g["doc"]) and cite["loc"] == g["loc"] for g in gold):
            return rank
    return None


@dataclass
class Report:
    lines: list[str]
    metrics: dict[str, float]


def evaluate(questions: list[dict], ask: Callable[[str], dict]) -> Report:
    """Run ``ask`` (question -> ask --json object) on every question and score it."""
    per_type: dict[str, list[int | None]] = defaultdict(list)
    ranks: list[int | None] = []
    facts: list[float] = []
    answered_ok = answerable = abstain_ok = unanswerable = 0
    times: list[float] = []
    misses: list[str] = []
    for q in questions:
        started = time.perf_counter()
        result = ask(q["question"])
        times.append((time.perf_counter() - started) * 1000)
        if not q.get("answerable", True):
            unanswerable += 1
            abstain_ok += not result["answered"]
            continue
        answerable += 1
        answered_ok += bool(result["answered"])
        rank = first_gold_rank(result["citations"], q["gold"])
        ranks.append(rank)
        per_type[q.get("type", "?")].append(rank)
        key_facts = q.get("key_facts") or []
        if key_facts:
            facts.append(sum(f in result["answer"] for f in key_facts) / len(key_facts))
        if rank != 1:
            top = result["citations"][0] if result["citations"] else {"doc": "-", "loc": "-"}
            misses.append(f"  rank={rank} {q['id']} {q['question'][:40]} -> {top['doc'][:14]} {top['loc']}")

    def recall(rs: list[int | None], k: int) -> float:
        return sum(1 for r in rs if r is not None and r <= k) / len(rs) if rs else 0.0

    def mrr(rs: list[int | None]) -> float:
        return sum(1 / r for r in rs if r) / len(rs) if rs else 0.0

    times.sort()
    metrics = {
        "questions": float(len(questions)),
        "recall@1": recall(ranks, 1),
        "recall@5": recall(ranks, 5),
        "recall@10": recall(ranks, 10),
        "mrr": mrr(ranks),
        "key_facts": sum(facts) / len(facts) if facts else 0.0,
        "answered_rate": answered_ok / answerable if answerable else 0.0,
        "abstained": float(abstain_ok),
        "unanswerable": float(unanswerable),
        "ms_p50": times[len(times) // 2] if times else 0.0,
        "ms_mean": sum(times) / len(times) if times else 0.0,
    }
    lines = [
        f"questions {len(questions)} (answerable {answerable}, unanswerable {unanswerable})",
        f"Recall@1 {metrics['recall@1']:.3f}  Recall@5 {metrics['recall@5']:.3f}  "
        f"Recall@10 {metrics['recall@10']:.3f}  MRR {metrics['mrr']:.3f}",
        f"key facts in answer {metrics['key_facts']:.3f}  answered (answerable) {metrics['answered_rate']:.3f}  "
        f"abstained (unanswerable) {abstain_ok}/{unanswerable}",
        f"ms per question: mean {metrics['ms_mean']:.1f}  p50 {metrics['ms_p50']:.1f}",
        "per type:",
    ]
    for kind, rs in sorted(per_type.items()):
        lines.append(
            f"  {kind:<10} n={len(rs):<3} R@1 {recall(rs, 1):.2f}  R@5 {recall(rs, 5):.2f}  MRR {mrr(rs):.2f}"
        )
    if misses:
        lines.append("not ranked first:")
        lines.extend(misses)
    return Report(lines, metrics)


def evaluate_conversations(conversations: list[dict], ask: Callable[[str, object], dict]) -> Report:
    """Two-turn conversations: ``ask(question, context)`` returns an ask --json object with ``_turn``, the
    context for the next question. Scores the second turn: right article first and key facts, separately
    for follow-ups (which lean on the first turn) and topic switches (which must not be bent by it)."""
    stats: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    misses = []
    for conv in conversations:
        first, second = conv["turns"][0], conv["turns"][1]
        context = ask(first["question"], None).get("_turn")
        result = ask(second["question"], context)
        rank = first_gold_rank(result["citations"], second["gold"]) if result["answered"] else None
        facts = second.get("key_facts") or []
        share = sum(f in result["answer"] for f in facts) / len(facts) if facts else 1.0
        kind = "switch" if conv.get("kind") == "switch" else "follow_up"
        stats[kind].append((rank == 1, share))
        stats[f"  {conv.get('follow', kind)}"].append((rank == 1, share))
        if rank != 1:
            top = result["citations"][0] if result["citations"] else {"doc": "-", "loc": "-"}
            misses.append(f"  {conv['id']} {first['question'][:20]} / {second['question'][:20]} -> "
                          f"{top['doc'][:12]} {top['loc']}")
    lines = []
    metrics: dict[str, float] = {}
    for kind, values in stats.items():
        first_ok = sum(ok for ok, _ in values) / len(values)
        facts = sum(share for _, share in values) / len(values)
        lines.append(f"{kind:<14} n={len(values):<3} right article first {first_ok:.3f}  key facts {facts:.3f}")
        metrics[f"{kind.strip()}_first"], metrics[f"{kind.strip()}_facts"] = first_ok, facts
    return Report(lines + (["not first:"] + misses if misses else []), metrics)
