"""Check benchmark question files (tests/benchmark/*.jsonl) against the reference corpus.

    python scripts/check_benchmark.py [--corpus ../shared/corpus] [FILE ...]

Every gold (doc, loc) must exist, every key fact must be verbatim in a gold article, ids unique, fields
valid. Prints counts by document, type, voice and split.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from check_phrasings import load_articles, resolve  # noqa: E402

TYPES = {"duty", "penalty", "number", "procedure", "definition", "plan", "cross", "oos"}
VOICES = {"site", "exam", "fragment", "chat"}
SPLITS = {"train", "test", None}


def check_item(item: dict, where: str, articles: dict, titles: set[str]) -> list[str]:
    """Faults of one question (or one conversation turn)."""
    faults = []
    if not str(item.get("question", "")).strip():
        faults.append(f"{where}: empty question")
    answerable = item.get("answerable", True)
    gold = item.get("gold") or []
    if answerable and not gold:
        faults.append(f"{where}: answerable without gold")
    if not answerable and gold:
        faults.append(f"{where}: unanswerable with gold")
    texts = []
    for g in gold:
        title = resolve(str(g.get("doc", "")), titles)
        text = articles.get((title, str(g.get("loc", "")))) if title else None
        if text is None:
            faults.append(f"{where}: no article {g.get('doc')} {g.get('loc')}")
        else:
            texts.append(text)
    for fact in item.get("key_facts") or []:
        if texts and not any(fact in t for t in texts):
            faults.append(f"{where}: key fact not verbatim in gold: {fact}")
    if answerable and not item.get("key_facts"):
        faults.append(f"{where}: no key_facts")
    return faults


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    args = parser.parse_args()
    files = [Path(f) for f in args.files] or sorted((ROOT / "tests" / "benchmark").glob("*.jsonl"))
    articles = load_articles([Path(args.corpus)])
    titles = {doc for doc, _ in articles}
    faults: list[str] = []
    ids: Counter[str] = Counter()
    by_doc: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    by_voice: Counter[str] = Counter()
    by_split: Counter[str] = Counter()
    conversations = 0
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                faults.append(f"{where}: not JSON ({exc})")
                continue
            ids[str(item.get("id"))] += 1
            if item.get("split") not in SPLITS:
                faults.append(f"{where}: split {item.get('split')!r}")
            by_split[str(item.get("split"))] += 1
            if "turns" in item:
                conversations += 1
                turns = item["turns"]
                if len(turns) < 2:
                    faults.append(f"{where}: a conversation needs two turns")
                for t, turn in enumerate(turns):
                    faults.extend(check_item(turn, f"{where} turn {t + 1}", articles, titles))
                if item.get("kind") not in {"follow_up", "switch"}:
                    faults.append(f"{where}: kind must be follow_up or switch")
                continue
            faults.extend(check_item(item, where, articles, titles))
            if item.get("type") not in TYPES:
                faults.append(f"{where}: type {item.get('type')!r}")
            if item.get("voice") not in VOICES:
                faults.append(f"{where}: voice {item.get('voice')!r}")
            by_type[str(item.get("type"))] += 1
            by_voice[str(item.get("voice"))] += 1
            for doc in {resolve(g["doc"], titles) or g["doc"] for g in item.get("gold") or []}:
                by_doc[doc] += 1
    faults.extend(f"duplicate id {i}" for i, n in ids.items() if n > 1)
    print(f"{sum(by_type.values())} questions, {conversations} conversations")
    print("by split: " + ", ".join(f"{k} {v}" for k, v in sorted(by_split.items())))
    print("by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())))
    print("by voice: " + ", ".join(f"{k} {v}" for k, v in sorted(by_voice.items())))
    for doc, count in sorted(by_doc.items(), key=lambda x: -x[1]):
        print(f"  {count:4d}  {doc}")
    for fault in faults:
        print("fault:", fault)
    print(f"{len(faults)} fault(s)")
    return 1 if faults else 0


if __name__ == "__main__":
    raise SystemExit(main())
