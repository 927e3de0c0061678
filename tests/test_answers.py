"""Composed answers: verbatim quotes with citations, linked penalties, honest abstention."""

from __future__ import annotations

from bot.answers.compose import MAX_ANSWER_CHARS
from bot.evaluation import evaluate, load_questions
from tests.conftest import EVAL


def test_duty_answer_quotes_the_article_and_adds_its_penalty(corpus_kb) -> None:
    answer = corpus_kb.answer("商砼进场以后总包还用自己再检验一遍吗？检验完要留什么记录？")
    assert answer.answered and len(answer.text) <= MAX_ANSWER_CHARS
    main = answer.sections[0]
    assert (main.doc, main.label) == ("建设工程质量管理条例", "第二十九条")
    snapshot = corpus_kb.retriever().snapshot
    for section in answer.sections:
        article = snapshot.article_text(section.doc, section.label)
        for piece in section.quote.split("……"):
            assert piece.rstrip("…") in article
    assert "penalty" in [s.role for s in answer.sections]
    assert "【依据】《建设工程质量管理条例》第二十九条" in answer.text


def test_full_article_on_request(corpus_kb) -> None:
    answer = corpus_kb.answer("塔吊装完多久要登记？", full=True)
    assert "登记标志应当置于或者附着于该设备的显著位置" in answer.text


def test_out_of_scope_question_is_declined_with_nearest_topics(corpus_kb) -> None:
    answer = corpus_kb.answer("公积金贷款买二套房，首付最低要几成？")
    assert not answer.answered and not answer.sections
    assert "没有找到" in answer.text and "《" in answer.text
    assert len(answer.citations) == 10  # still listed for the record, not presented as the answer


def test_dev_set_answer_targets(corpus_kb) -> None:
    questions = load_questions(sorted(EVAL.glob("dev_*.jsonl")))

    def ask(question: str) -> dict:
        answer = corpus_kb.answer(question)
        return {"answered": answer.answered, "answer": answer.text, "citations": [
            {"doc": c["doc"], "loc": c["loc"]} for c in answer.citations]}

    metrics = evaluate(questions, ask).metrics
    assert metrics["key_facts"] >= 0.90, metrics
    assert metrics["answered_rate"] >= 0.95, metrics
    assert metrics["abstained"] >= 5, metrics
