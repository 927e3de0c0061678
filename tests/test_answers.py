"""Composed answers: verbatim quotes with citations, linked penalties, honest abstention."""

from __future__ import annotations

import re

from bot.answers.compose import MAX_ANSWER_CHARS
from bot.evaluation import evaluate, load_questions
from tests.conftest import EVAL


def test_duty_answer_quotes_the_article_and_adds_its_penalty(corpus_kb) -> None:
    answer = corpus_kb.answer("施工单位对进场的商品混凝土要自己检验吗，检验要留什么记录？")
    assert answer.answered and len(answer.text) <= MAX_ANSWER_CHARS
    main = answer.sections[0]
    assert (main.doc, main.label) == ("建设工程质量管理条例", "第二十九条")
    snapshot = corpus_kb.retriever().snapshot
    for section in answer.sections:
        article = snapshot.article_text(section.doc, section.label)
        for piece in section.quote.split("……"):
            assert piece.rstrip("…") in article
    assert "penalty" in [s.role for s in answer.sections]
    # The answering sentence first, then its citation; nothing printed twice.
    lines = answer.text.splitlines()
    assert lines[0].startswith("“") and "书面记录" in lines[0]
    assert lines[1] == "——《建设工程质量管理条例》第二十九条（第四章 施工单位的质量责任和义务）"
    sentences = [p for p in re.split(r"[。；“”\n]", answer.text) if len(p) > 8]
    assert len(sentences) == len(set(sentences))
    # Marked: the statutory terms that matched, not every word.
    assert "商品混凝土" in main.terms and not {"单位", "施工", "工程", "检验"} & set(main.terms)


def test_period_question_leads_with_the_figure(corpus_kb) -> None:
    answer = corpus_kb.answer("房子的屋面防水按国家规定最少保修几年？")
    main = answer.sections[0]
    assert (main.doc, main.label) == ("建设工程质量管理条例", "第四十条")
    lead = answer.text.split("——", 1)[0]
    assert answer.text.startswith("“") and "为5年" in lead and "5年" in main.terms


def test_follow_ups_are_read_with_the_previous_question(corpus_kb) -> None:
    first = corpus_kb.answer("塔机安装验收合格以后还要去哪里办登记，有期限吗")
    assert (first.sections[0].doc, first.sections[0].label) == ("建设工程安全生产管理条例", "第三十五条")
    consequence = corpus_kb.answer("一直没去办呢，会怎么处罚", context=first.turn)
    assert consequence.context.startswith("接上一问") and consequence.text.startswith("（接上一问")
    main = consequence.sections[0]
    assert main.doc == "建设工程安全生产管理条例" and corpus_kb.retriever().hit(main.doc, main.label).chunk.penalty
    which = corpus_kb.answer("这是哪一条？", context=first.turn)
    assert (which.sections[0].doc, which.sections[0].label) == ("建设工程安全生产管理条例", "第三十五条")
    # A question that stands on its own is not bent by the one before it.
    other = corpus_kb.answer("投标保证金最多能收多少", context=first.turn)
    assert not other.context and other.sections[0].doc.endswith("招标投标法实施条例")


def test_region_follow_up_goes_to_the_other_jurisdiction(corpus_kb) -> None:
    first = corpus_kb.answer("建设工程质量管理条例里，施工单位对进场的建筑材料要做什么检验？")
    assert first.sections[0].doc == "建设工程质量管理条例"
    local = corpus_kb.answer("那广东的条例呢？", context=first.turn)
    assert local.sections[0].doc.startswith("广东省") and local.context


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


def test_penalty_answer_carries_the_sanction_of_the_matched_violation(corpus_kb) -> None:
    # No "多少" in the question: the fine must come from the penalty's own structure, not from figure-seeking.
    answer = corpus_kb.answer("城里的工地没做封闭围挡，被责令整改也没改，会受什么处罚？")
    main = answer.sections[0]
    assert (main.doc, main.label) == ("建设工程安全生产管理条例", "第六十四条")
    # The matched item and the fine that the lead-in sets for it, not just the item.
    assert "封闭围挡" in main.quote and "5万元以上10万元以下的罚款" in main.quote
