"""Fit the ranking and abstention model on the project benchmark's ``train`` split and write it.

    python scripts/fit_ranker.py [--corpus ../shared/corpus] [--index DIR] [--out FILE]

Indexes the shipped knowledge and the reference corpus (incrementally, into ``--index``), computes the
candidate features of every train question, fits both logistic regressions and writes the model file
(default: knowledge/models/<embedder>.json), then re-indexes so that the index serves with it. Only the
``train`` split is read; ``test`` and ../shared/eval are for reporting (``python -m bot eval``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.evaluation import load_split  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.retrieval.fitting import write_model  # noqa: E402
from bot.retrieval.ranker import model_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--index", default=str(Path(tempfile.gettempdir()) / "zlt-fit-index"))
    parser.add_argument("--benchmark", default=str(ROOT / "tests" / "benchmark"))
    parser.add_argument("--out", default=None, help="model file (default: knowledge/models/<embedder>.json)")
    args = parser.parse_args()
    settings = load_settings({
        "BOT_INDEX_DIR": args.index,
        "BOT_KNOWLEDGE_DIRS": f"{args.corpus}:{ROOT / 'knowledge'}",  # as the test suite builds it
        "BOT_GLOSSARY": str(ROOT / "knowledge" / "glossary.yaml"),
        "BOT_PHRASINGS": str(ROOT / "knowledge" / "phrasings"),
        "BOT_MODELS_DIR": str(ROOT / "knowledge" / "models"),
        "BOT_DB_PATH": str(Path(args.index) / "unused.db"),
    })
    kb = KnowledgeBase(settings)
    report = kb.reindex(None, lambda m: None)
    print(f"index: {report.documents} documents, {report.chunks} chunks, {report.phrasings} phrasings "
          f"({report.seconds:.0f} s)")
    questions = load_split(Path(args.benchmark), "train")
    out = Path(args.out) if args.out else model_file(settings.models_dir, kb.embedder.id)
    data = write_model(kb.retriever(), questions, out)
    print(f"wrote {out} (id {data['id']}): {data['fitted_on']}")
    kb.reindex(None, lambda m: None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
