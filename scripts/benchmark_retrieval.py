"""Benchmark the knowledge engine on ../shared/corpus.

Measures: full index time (empty embedding cache), re-index after one changed file, cold start to first
answer (a fresh ``python -m bot ask`` process), warm query latency p50/p95 over the dev questions, and
peak memory. Usage: ``python scripts/benchmark_retrieval.py [--corpus ../shared/corpus] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.evaluation import load_questions  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zlt-bench-"))
    try:
        corpus = work / "corpus"  # a scratch copy, so that one file can be changed
        shutil.copytree(args.corpus, corpus)
        env = {
            "BOT_INDEX_DIR": str(work / "index"),
            "BOT_KNOWLEDGE_DIRS": str(corpus),
            "BOT_GLOSSARY": str(ROOT / "knowledge" / "glossary.yaml"),
            "BOT_DB_PATH": str(work / "db.sqlite"),
        }
        settings = load_settings(env)
        kb = KnowledgeBase(settings)

        started = time.perf_counter()
        report = kb.reindex()
        full = time.perf_counter() - started
        print(f"full index: {full:.1f} s ({report.documents} documents, {report.chunks} chunks)")

        changed = next(corpus.rglob("建设工程质量管理条例*.md"))
        changed.write_text(changed.read_text(encoding="utf-8").replace("必须", "必需", 3), encoding="utf-8")
        started = time.perf_counter()
        report = kb.reindex()
        print(f"re-index after one changed file: {time.perf_counter() - started:.2f} s "
              f"({report.embedded} chunks re-embedded, {report.reused_documents} files reused)")

        child_env = dict(os.environ, **env)
        colds = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bot", "ask", "塔吊装完多久要登记？"], cwd=ROOT,
                           env=child_env, check=True, capture_output=True)
            colds.append(time.perf_counter() - started)
        print(f"cold start to first answer (process start included): median {statistics.median(colds):.2f} s")

        questions = [q["question"] for q in load_questions(sorted(Path(args.eval).glob("dev_*.jsonl")))]
        retriever = kb.retriever()
        retriever.search("预热")
        search_ms, answer_ms = [], []
        for _ in range(args.rounds):
            for question in questions:
                started = time.perf_counter()
                retriever.search(question, k=10)
                search_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                kb.answer(question)
                answer_ms.append((time.perf_counter() - started) * 1000)

        def pct(values: list[float], p: float) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

        print(f"warm retrieval ({len(search_ms)} queries): p50 {pct(search_ms, .5):.1f} ms, "
              f"p95 {pct(search_ms, .95):.1f} ms")
        print(f"warm retrieval + composed answer: p50 {pct(answer_ms, .5):.1f} ms, "
              f"p95 {pct(answer_ms, .95):.1f} ms")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (this process, indexing included): {peak:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
