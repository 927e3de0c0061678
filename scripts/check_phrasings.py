"""Check phrasing files (knowledge/phrasings/*.yaml) against the documents they describe.

    python scripts/check_phrasings.py [--fill] [--corpus ../shared/corpus] [FILE ...]

Reports, per file and overall: articles covered and with fewer than three phrasings, answers that are not
verbatim, unknown labels, changed articles, the median share of a phrasing's character 4-grams found in its
article (must stay under 0.5), the most common openings (none may cover more than a tenth), and phrasings
that copy a benchmark or development question (exact, or holding >= 60 % of its character 5-grams).
``--fill`` writes the fingerprint of each article into the file (for new entries).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ingest import discover_files, load_document  # noqa: E402
from bot.ingest.models import article_texts  # noqa: E402
from bot.retrieval.phrasings import (  # noqa: E402
    VOICES,
    article_fingerprint,
    char_ngrams,
    ngram_share,
    normalise,
)
from bot.yamlio import load_yaml  # noqa: E402

PREFIX = "中华人民共和国"


def opening(text: str, size: int = 2) -> str:
    return normalise(text)[:size]


def load_articles(paths: list[Path]) -> dict[tuple[str, str], str]:
    files, _ = discover_files(paths)
    texts: dict[tuple[str, str], str] = {}
    for file in files:
        try:
            texts.update(article_texts(load_document(file).chunks))
        except Exception:
            continue
    return texts


def resolve(name: str, titles: set[str]) -> str | None:
    for candidate in (name, PREFIX + name, name.removeprefix(PREFIX)):
        if candidate in titles:
            return candidate
    return None


def copies(question: str, others: list[tuple[str, str]]) -> str | None:
    """The id of a benchmark/dev question this phrasing copies (exact or near), if any."""
    bare = normalise(question)
    for qid, other in others:
        if bare == normalise(other):
            return qid
        if char_ngrams(other, 5) and ngram_share(other, question, 5) >= 0.6:
            return qid
    return None


def protected_questions() -> list[tuple[str, str]]:
    """(id, question) of questions phrasings must never copy: the project benchmark and ../shared/eval."""
    out: list[tuple[str, str]] = []
    for folder in (ROOT / "tests" / "benchmark", ROOT.parent / "shared" / "eval"):
        for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if "question" in item:
                    out.append((item["id"], item["question"]))
                out.extend((f"{item['id']}/{n}", t["question"]) for n, t in enumerate(item.get("turns", [])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--fill", action="store_true", help="write article fingerprints into the files")
    args = parser.parse_args()
    files = [Path(f) for f in args.files] or sorted((ROOT / "knowledge" / "phrasings").glob("*.yaml"))
    articles = load_articles([Path(args.corpus), ROOT / "knowledge"])
    titles = {doc for doc, _ in articles}
    protected = protected_questions()
    all_shares: list[float] = []
    all_openings: Counter[str] = Counter()
    total = 0
    faults = 0
    for path in files:
        data = load_yaml(path)
        title = resolve(str(data.get("doc", "")), titles)
        if title is None:
            print(f"{path.name}: unknown document {data.get('doc')!r}")
            faults += 1
            continue
        shares: list[float] = []
        few: list[str] = []
        seen_labels: set[str] = set()
        for entry in data.get("articles") or []:
            label = str(entry.get("label", ""))
            if label in seen_labels:
                print(f"{path.name} {label}: label listed twice")
                faults += 1
            seen_labels.add(label)
            text = articles.get((title, label))
            if text is None:
                print(f"{path.name} {label}: no such article in 《{title}》")
                faults += 1
                continue
            fingerprint = article_fingerprint(text)
            if args.fill:
                rest = {k: v for k, v in entry.items() if k not in ("label", "fingerprint")}
                entry.clear()
                entry.update({"label": label, "fingerprint": fingerprint, **rest})
            elif entry.get("fingerprint") != fingerprint:
                print(f"{path.name} {label}: fingerprint {entry.get('fingerprint')} != {fingerprint}")
                faults += 1
            items = entry.get("phrasings") or []
            if len(items) < 3:
                few.append(label)
            for item in items:
                q, answer, voice = str(item.get("q", "")), str(item.get("answer", "")), item.get("voice")
                total += 1
                if voice not in VOICES:
                    print(f"{path.name} {label}: voice {voice!r} not one of {VOICES}")
                    faults += 1
                if answer not in text:
                    print(f"{path.name} {label}: answer not verbatim: {answer[:40]}")
                    faults += 1
                copied = copies(q, protected)
                if copied:
                    print(f"{path.name} {label}: too close to protected question {copied}, drop or rewrite: {q}")
                    faults += 1
                share = ngram_share(q, text, 4)
                shares.append(share)
                all_openings[opening(q)] += 1
        all_shares.extend(shares)
        median = statistics.median(shares) if shares else 0.0
        print(f"{path.name}: {len(seen_labels)} articles, {len(shares)} phrasings, median 4-gram share "
              f"{median:.2f}" + (f"; fewer than 3 phrasings: {' '.join(few)}" if few else ""))
        if args.fill:
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000),
                            encoding="utf-8")
    if total:
        top = all_openings.most_common(8)
        print(f"overall: {total} phrasings, median 4-gram share {statistics.median(all_shares):.2f}, "
              f"top openings " + ", ".join(f"{o}:{n / total:.1%}" for o, n in top))
        if top and top[0][1] / total > 0.10:
            print("fault: one opening covers more than a tenth of the phrasings")
            faults += 1
        if statistics.median(all_shares) >= 0.5:
            print("fault: median 4-gram share with the article is not under 0.5")
            faults += 1
    print(f"{faults} fault(s)")
    return 1 if faults else 0


if __name__ == "__main__":
    raise SystemExit(main())
