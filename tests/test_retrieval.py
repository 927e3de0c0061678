"""Retrieval on the reference corpus: references, jargon, penalties, and the dev-set targets."""

from __future__ import annotations

import pytest

from bot.evaluation import evaluate, load_questions
from tests.conftest import EVAL


def _top(kb, question: str, k: int = 1) -> list[tuple[str, str]]:
    return [(h.doc, h.label) for h in kb.retriever().search(question, k=k)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("质量条例第30条说的是什么", ("建设工程质量管理条例", "第三十条")),
        ("《建筑法》第五十四条", ("中华人民共和国建筑法", "第五十四条")),
        ("《中华人民共和国建筑法》第54条", ("中华人民共和国建筑法", "第五十四条")),
        ("广东质量条例第十九条", ("广东省建设工程质量管理条例", "第十九条")),
        ("广东省的质量管理条例第8条", ("广东省建设工程质量管理条例", "第八条")),
        ("安全生产法第一百一十四条", ("中华人民共和国安全生产法", "第一百一十四条")),
    ],
)
def test_explicit_reference_goes_straight_to_the_article(corpus_kb, question, expected) -> None:
    assert _top(corpus_kb, question) == [expected]


def test_bare_article_number_lists_that_article_of_several_documents(corpus_kb) -> None:
    top = _top(corpus_kb, "第三十条", k=5)
    assert all(label == "第三十条" for _, label in top)
    assert len({doc for doc, _ in top}) == 5


def test_glossary_maps_site_jargon_to_statutory_terms(corpus_kb) -> None:
    plan = corpus_kb.retriever().plan("塔吊装完多久要登记？甲方不管")
    assert "起重机械" in plan.expansions and "建设单位" in plan.expansions
    top = _top(corpus_kb, "塔吊装完多久要登记？", k=3)
    assert ("建设工程安全生产管理条例", "第三十五条") in top


def test_consequence_question_lands_on_the_penalty_article(corpus_kb) -> None:
    duty = _top(corpus_kb, "商砼进场以后总包还用自己再检验一遍吗")[0]
    assert duty == ("建设工程质量管理条例", "第二十九条")
    question = "商砼没检验就用上了，施工单位会被怎么罚"
    hits = corpus_kb.retriever().search(question, k=5)
    assert hits[0].chunk.penalty
    assert ("建设工程质量管理条例", "第六十五条") in [(h.doc, h.label) for h in hits]


def test_duty_and_penalty_articles_are_linked(corpus_kb) -> None:
    retriever = corpus_kb.retriever()
    snapshot = retriever.snapshot
    duty = snapshot.by_article[("建设工程质量管理条例", "第二十九条")]
    linked = [snapshot.chunks[p] for p in retriever.linked_positions(duty)]
    assert ("建设工程质量管理条例", "第六十五条") == (linked[0].doc, linked[0].label)
    penalty = snapshot.by_article[("建设工程质量管理条例", "第六十六条")]
    back = {(snapshot.chunks[p].label) for p in retriever.linked_positions(penalty)}
    assert "第四十一条" in back  # 保修义务


def test_dev_set_meets_the_retrieval_targets(corpus_kb) -> None:
    questions = load_questions(sorted(EVAL.glob("dev_*.jsonl")))
    assert len(questions) >= 50
    retriever = corpus_kb.retriever()

    def ask(question: str) -> dict:
        hits = retriever.search(question, k=10)
        return {"answered": True, "answer": "", "citations": [{"doc": h.doc, "loc": h.label} for h in hits]}

    metrics = evaluate(questions, ask).metrics
    assert metrics["recall@1"] >= 0.80, metrics
    assert metrics["recall@5"] >= 0.95, metrics
    assert metrics["mrr"] >= 0.85, metrics
