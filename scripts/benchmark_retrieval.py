"""Benchmark the knowledge engine on ../shared/corpus (and the shipped knowledge, phrasings included).

Measures: full index time (empty embedding cache), re-index after one changed file, cold start to first answer
(a fresh ``python -m bot ask`` process), warm query latency p50/p95 over the benchmark and dev questions (retrieval
alone, and retrieval + composed answer + follow-up context), peak memory, and — with ``--scale 10`` — warm
latency with the corpus copied ten times under new titles (the copies reuse the originals' vectors, so only
the time to query, not to embed, is measured).

    python scripts/benchmark_retrieval.py [--corpus ../shared/corpus] [--rounds 3] [--scale 10] [--skip-full]
"""

from __future__ import annotations

import argparse
import os
import re
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
from bot.evaluation import benchmark_files, load_questions  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.retrieval.embedders import make_embedder  # noqa: E402

_COPY = re.compile(r"（副本\d+）")


class CopyReusingEmbedder:
    """The real embedder, but a copy's passage (its title marked （副本N）) reuses the original's vector."""

    def __init__(self, inner) -> None:
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self._memo: dict[str, object] = {}

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        import numpy as np

        originals = [_COPY.sub("", t) for t in texts]
        missing = list(dict.fromkeys(t for t in originals if t not in self._memo))
        if missing:
            for text, vector in zip(missing, self.inner.embed_passages(missing), strict=True):
                self._memo[text] = vector
        return np.stack([self._memo[t] for t in originals])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def settings_for(work: Path, corpus: Path):
    env = {
        "BOT_INDEX_DIR": str(work / "index"),
        "BOT_KNOWLEDGE_DIRS": f"{corpus}:{ROOT / 'knowledge'}",
        "BOT_GLOSSARY": str(ROOT / "knowledge" / "glossary.yaml"),
        "BOT_PHRASINGS": str(ROOT / "knowledge" / "phrasings"),
        "BOT_MODELS_DIR": str(ROOT / "knowledge" / "models"),
        "BOT_DB_PATH": str(work / "db.sqlite"),
    }
    return env, load_settings(env)


def warm_latency(kb: KnowledgeBase, questions: list[str], rounds: int, label: str) -> None:
    retriever = kb.retriever()
    retriever.search("预热")
    search_ms, answer_ms = [], []
    for _ in range(rounds):
        previous = None
        for question in questions:
            started = time.perf_counter()
            retriever.search(question, k=10)
            search_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = kb.answer(question, context=previous)
            answer_ms.append((time.perf_counter() - started) * 1000)
            previous = answer.turn
    print(f"{label}: warm retrieval ({len(search_ms)} queries) p50 {pct(search_ms, .5):.1f} ms, "
          f"p95 {pct(search_ms, .95):.1f} ms; retrieval + answer + context p50 {pct(answer_ms, .5):.1f} ms, "
          f"p95 {pct(answer_ms, .95):.1f} ms", flush=True)


def copy_corpus(source: Path, target: Path, copies: int) -> None:
    """``copies`` copies of every document, each under a new title (（副本N） after the original)."""
    for n in range(1, copies + 1):
        for path in source.rglob("*"):
            if not path.is_file() or path.suffix not in {".md", ".txt"} or path.stem.upper() == "README":
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".md":
                text = re.sub(r"^# (.+)$", rf"# \1（副本{n}）", text, count=1, flags=re.M)
            else:
                continue  # the notice's title spans lines; the ten copies of the laws are enough
            out = target / f"copy{n}" / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=0, help="also measure with the corpus copied N times")
    parser.add_argument("--skip-full", action="store_true", help="reuse an index instead of a cold full build")
    parser.add_argument("--work", default=None, help="working folder (kept) instead of a temporary one")
    args = parser.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="zlt-bench-"))
    questions = [q["question"] for q in load_questions(
        benchmark_files(ROOT / "tests" / "benchmark") + sorted(Path(args.eval).glob("dev_*.jsonl")))]
    try:
        corpus = work / "corpus"  # a scratch copy, so that one file can be changed
        if corpus.exists():
            shutil.rmtree(corpus)
        shutil.copytree(args.corpus, corpus)
        env, settings = settings_for(work, corpus)
        kb = KnowledgeBase(settings)
        if not args.skip_full:
            shutil.rmtree(work / "index", ignore_errors=True)
        started = time.perf_counter()
        report = kb.reindex()
        label = "full index (empty embedding cache)" if not args.skip_full else "index (cache reused)"
        print(f"{label}: {time.perf_counter() - started:.1f} s ({report.documents} documents, {report.chunks} chunks, "
              f"{report.phrasings} phrasings, {report.embedded} chunks embedded)", flush=True)

        changed = next(corpus.rglob("建设工程质量管理条例*.md"))
        changed.write_text(changed.read_text(encoding="utf-8").replace("必须", "必需", 3), encoding="utf-8")
        started = time.perf_counter()
        report = kb.reindex()
        print(f"re-index after one changed file: {time.perf_counter() - started:.2f} s "
              f"({report.embedded} chunks re-embedded, {report.reused_documents} files reused, "
              f"{len(report.phrasing_problems)} phrasing entries set aside as changed)", flush=True)

        child_env = dict(os.environ, **env)
        colds = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bot", "ask", "塔吊装完多久要登记？"], cwd=ROOT,
                           env=child_env, check=True, capture_output=True)
            colds.append(time.perf_counter() - started)
        print(f"cold start to first answer (process start included): median {statistics.median(colds):.2f} s",
              flush=True)

        warm_latency(kb, questions, args.rounds, "corpus")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (this process, indexing included): {peak:.0f} MiB", flush=True)

        if args.scale:
            scaled = work / "scaled"
            shutil.rmtree(scaled, ignore_errors=True)
            shutil.copytree(args.corpus, scaled / "original")
            copy_corpus(Path(args.corpus), scaled, args.scale - 1)
            env_scaled, settings_scaled = settings_for(work / "scaled-index", scaled)
            embedder = CopyReusingEmbedder(make_embedder(settings_scaled.embedder))
            big = KnowledgeBase(settings_scaled, embedder)  # type: ignore[arg-type]
            started = time.perf_counter()
            report = big.reindex()
            print(f"scaled index ×{args.scale}: {report.documents} documents, {report.chunks} chunks "
                  f"({time.perf_counter() - started:.0f} s, vectors of copies reused)", flush=True)
            warm_latency(big, questions, 1, f"corpus ×{args.scale}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
