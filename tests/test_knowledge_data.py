"""The data the system reads: glossary without duplicate keys, phrasings that are not copies of evaluation
questions and are written the way people ask, and a project benchmark of the promised size."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from bot.evaluation import benchmark_files, load_questions
from bot.retrieval.glossary import Glossary
from bot.retrieval.phrasings import char_ngrams, normalise, read_phrasing_files
from bot.yamlio import DuplicateKeyError, load_yaml
from tests.conftest import EVAL, KNOWLEDGE, ROOT

BENCHMARK = ROOT / "tests" / "benchmark"


def _phrasings() -> list[tuple[str, str, str]]:
    """(file, label, question) of every shipped phrasing."""
    files, problems = read_phrasing_files(KNOWLEDGE / "phrasings")
    assert not problems
    return [(f.path.name, str(a["label"]), str(p["q"])) for f in files for a in f.articles for p in a["phrasings"]]


def _protected() -> list[tuple[str, str]]:
    """(id, question) of the project benchmark, its conversations and ../shared/eval."""
    paths = sorted(BENCHMARK.glob("*.jsonl")) + (sorted(EVAL.glob("*.jsonl")) if EVAL.exists() else [])
    out = []
    for item in load_questions(paths):
        if "question" in item:
            out.append((item["id"], item["question"]))
        out.extend((f"{item['id']}/{n}", t["question"]) for n, t in enumerate(item.get("turns", [])))
    return out


def near_copies(phrasings: list[str], protected: list[tuple[str, str]], share: float = 0.6) -> list[tuple[str, str]]:
    """(phrasing, protected id) pairs where the phrasing repeats a protected question exactly, or holds at least
    ``share`` of its character 5-grams."""
    index: dict[str, set[int]] = defaultdict(set)
    grams = [char_ngrams(p, 5) for p in phrasings]
    for i, g in enumerate(grams):
        for gram in g:
            index[gram].add(i)
    exact = {normalise(p): i for i, p in enumerate(phrasings)}
    found = []
    for qid, question in protected:
        if normalise(question) in exact:
            found.append((phrasings[exact[normalise(question)]], qid))
            continue
        wanted = char_ngrams(question, 5)
        if not wanted:
            continue
        counts: Counter[int] = Counter()
        for gram in wanted:
            counts.update(index.get(gram, ()))
        found.extend((phrasings[i], qid) for i, n in counts.items() if n / len(wanted) >= share)
    return found


def test_yaml_loader_rejects_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("roles:\n  a: [b]\nterms:\n  x: [y]\nroles:\n  c: [d]\n", encoding="utf-8")
    with pytest.raises(DuplicateKeyError, match="roles"):
        load_yaml(path)
    path.write_text("terms:\n  甲方: [建设单位]\n  甲方: [业主]\n", encoding="utf-8")
    with pytest.raises(DuplicateKeyError, match="甲方"):
        Glossary.load(path)


def test_shipped_glossary_and_phrasings_have_no_duplicate_keys() -> None:
    glossary = load_yaml(KNOWLEDGE / "glossary.yaml")
    assert {"terms", "documents", "roles", "regions"} <= set(glossary)
    for path in (KNOWLEDGE / "phrasings").glob("*.yaml"):
        labels = [a["label"] for a in load_yaml(path)["articles"]]
        assert len(labels) == len(set(labels)), path.name


def test_copy_check_catches_exact_and_near_copies() -> None:
    protected = [("b-1", "塔吊装好以后多少天内要去办使用登记？"), ("b-2", "保修期多久")]
    found = near_copies(["塔吊装好以后多少天内去办使用登记", "屋面防水保修期多久", "挖机进场要验收吗"], protected)
    assert {qid for _, qid in found} == {"b-1", "b-2"}


def test_no_phrasing_copies_a_benchmark_or_evaluation_question() -> None:
    questions = [q for _, _, q in _phrasings()]
    assert near_copies(questions, _protected()) == []


def test_phrasings_are_written_the_way_people_ask() -> None:
    phrasings = _phrasings()
    assert len(phrasings) >= 3000
    per_article = Counter((f, label) for f, label, _ in phrasings)
    assert min(per_article.values()) >= 3
    openings = Counter(normalise(q)[:2] for _, _, q in phrasings)
    assert openings.most_common(1)[0][1] / len(phrasings) <= 0.10


def test_benchmark_has_the_promised_size_and_coverage() -> None:
    questions = load_questions(benchmark_files(BENCHMARK))
    by_split = Counter(q["split"] for q in questions)
    assert by_split["train"] >= 250 and by_split["test"] >= 150
    assert sum(not q["answerable"] for q in questions) >= 60
    per_doc = Counter(g["doc"] for q in questions for g in q["gold"])
    assert per_doc["建设工程质量管理条例"] >= 60 and per_doc["广东省建设工程质量管理条例"] >= 40
    assert len(per_doc) >= 19 and min(per_doc.values()) >= 8
    assert {q["voice"] for q in questions} >= {"site", "exam", "fragment"}
    conversations = [json.loads(line) for line in (BENCHMARK / "conversations.jsonl").read_text("utf-8").splitlines()]
    assert len(conversations) >= 40


def test_median_phrasing_shares_under_half_of_its_four_grams_with_the_article(corpus_kb) -> None:
    snapshot = corpus_kb.retriever().snapshot
    assert snapshot.manifest["phrasing_problems"] == []
    shares = []
    for phrasing in snapshot.phrasings:
        grams = char_ngrams(phrasing.question, 4)
        if grams:
            article = char_ngrams(snapshot.article_text(phrasing.doc, phrasing.label), 4)
            shares.append(len(grams & article) / len(grams))
    assert statistics.median(shares) < 0.5
