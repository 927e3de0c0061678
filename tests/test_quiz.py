"""Quizzes: the bank, generated questions, attempts recorded exactly once, reports and certificates."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.quiz import reports
from bot.quiz.bank import Question, load_bank
from bot.quiz.engine import QuizError, QuizService
from bot.quiz.generate import generate_questions
from bot.storage import Store
from tests.conftest import KNOWLEDGE, ROOT

BANK = load_bank([KNOWLEDGE / "quizzes"])


def _service(tmp_path: Path, **env: str) -> QuizService:
    settings = load_settings({"BOT_DB_PATH": str(tmp_path / "q.db"), **env})
    store = Store(settings.db_path)
    store.touch_user(7, "李工", "li")
    store.set_profile(7, unit="施工单位", role="质量员")
    return QuizService(store, BANK.questions, settings)


def _finish(service: QuizService, user: int, right: int, seed: int = 1) -> dict:
    step = service.start(user, role="施工单位", seed=seed)
    outcome = None
    for n in range(step.total):
        q = step.question
        chosen = list(q.answer) if n < right else [i for i in range(len(q.options)) if i not in q.answer][:1]
        outcome = service.answer(step.attempt_id, step.index, chosen, 3.0)
        assert outcome.recorded
        step = outcome.next or step
    return outcome.finished


def test_shipped_bank_is_valid_and_large_enough() -> None:
    assert not BANK.faults, BANK.faults
    assert len(BANK.questions) >= 80
    assert {q.type for q in BANK.questions} == {"single", "multiple", "truefalse"}
    topics = {q.topic for q in BANK.questions}
    expected = {"强省行动计划", "五方责任主体", "终身责任", "见证取样", "隐蔽工程", "竣工验收", "工程保修", "法律责任"}
    assert expected <= topics
    assert all(len(q.explanation) <= 200 for q in BANK.questions)


def test_validate_names_each_fault(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("""questions:
- id: x1
  type: single
  question: 题干
  options: [甲, 乙]
  answer: [0, 1]
  explanation: 解析
  citation: {doc: 建筑法, loc: 第一条}
- id: x1
  type: truefalse
  question: 判断
  answer: [0]
  explanation: 解析
  citation: {doc: 建筑法, loc: 第二条}
- id: x3
  type: essay
  question: 论述
  options: [甲, 乙]
  answer: [5]
  explanation: %s
""" % ("长" * 201), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "quiz", "validate", str(bad)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 1
    out = result.stdout
    assert "x1：single 题只能有一个正确答案" in out and "x1：id 与" not in out  # first x1 rejected, second kept
    assert "x3：type 应为" in out and "x3：answer 应是选项序号" in out and "x3：解析超过 200 字" in out
    assert "x3：缺少出处" in out


def test_every_bank_citation_resolves(corpus_kb) -> None:
    retriever = corpus_kb.retriever()
    missing = []
    for q in BANK.questions:
        title = retriever.names.resolve(q.doc)
        if title is None or (title, q.loc) not in retriever.snapshot.by_article:
            missing.append(f"{q.id}: {q.doc} {q.loc}")
    assert not missing, missing


def test_generated_questions_are_cited_and_unambiguous(corpus_kb) -> None:
    retriever = corpus_kb.retriever()
    questions = generate_questions(retriever)
    assert len(questions) >= 60
    kinds = {q.id: q for q in questions}
    assert {"single", "truefalse"} <= {q.type for q in kinds.values()}
    for q in questions:
        article = retriever.snapshot.article_text(q.doc, q.loc)
        assert article, q
        if q.type == "single":
            assert q.options[q.answer[0]] in article  # the right answer is what the article says
            assert len(set(q.options)) == 4
        else:
            assert q.question.removeprefix("判断：") not in article  # the swapped statement is false


def test_attempt_is_scored_and_credits_granted_once(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0")
    first = _finish(service, 7, right=7)
    assert (first["score"], first["passed"], first["credits"]) == (70, 1, 2.0)
    assert first["cert_code"].startswith("ZLT-")
    second = _finish(service, 7, right=10, seed=2)
    assert second["score"] == 100 and second["credits"] == 0.0  # credits for the first pass only
    failed = _finish(service, 7, right=3, seed=3)
    assert (failed["passed"], failed["credits"], failed["cert_code"]) == (0, 0.0, "")
    with pytest.raises(QuizError, match="次数"):
        service.start(7)
    answers = service.db.execute("select count(*) from quiz_answers").fetchone()[0]
    assert answers == 30


def test_each_answer_is_recorded_exactly_once(tmp_path: Path) -> None:
    service = _service(tmp_path)
    step = service.start(7, seed=4)
    first = service.answer(step.attempt_id, 0, list(step.question.answer))
    assert first.recorded and first.correct
    assert not service.answer(step.attempt_id, 0, [0]).recorded  # the same update delivered again
    assert not service.answer(step.attempt_id, 5, [0]).recorded  # not the current question
    rows = reports.attempt_answers(service.store, step.attempt_id)
    assert [(r["idx"], r["correct"]) for r in rows] == [(0, 1)]


def test_attempt_survives_a_restart_and_a_kill(tmp_path: Path) -> None:
    service = _service(tmp_path)
    step = service.start(7, seed=5)
    service.answer(step.attempt_id, 0, list(step.question.answer))
    code = (
        "import os, signal, sys; sys.path.insert(0, {!r})\n"
        "from pathlib import Path\n"
        "from bot.config import load_settings\nfrom bot.storage import Store\n"
        "from bot.quiz.bank import load_bank\nfrom bot.quiz.engine import QuizService\n"
        "s = load_settings({{'BOT_DB_PATH': {!r}}})\n"
        "q = QuizService(Store(s.db_path), load_bank([Path({!r})]).questions, s)\n"
        "step = q.in_progress(7)\n"
        "q.answer(step.attempt_id, step.index, list(step.question.answer))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    ).format(str(ROOT), str(tmp_path / "q.db"), str(KNOWLEDGE / "quizzes"))
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    # Restarted with a different bank (the index and so the generated questions changed): the attempt
    # still asks and scores the questions it drew.
    settings = load_settings({"BOT_DB_PATH": str(tmp_path / "q.db")})
    restarted = QuizService(Store(settings.db_path), BANK.questions[:1], settings)
    resumed = restarted.in_progress(7)
    assert resumed is not None and (resumed.attempt_id, resumed.index) == (step.attempt_id, 2)
    drawn = QuizService._questions(service.store.one("select * from quiz_attempts"))
    assert resumed.question == drawn[2] and resumed.question.id not in restarted.by_id
    assert len(reports.attempt_answers(restarted.store, step.attempt_id)) == 2  # nothing committed was lost
    assert restarted.answer(step.attempt_id, 2, list(resumed.question.answer)).correct


def test_cooldown_and_campaign_window(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="30")
    _finish(service, 7, right=10)
    with pytest.raises(QuizError, match="分钟后"):
        service.start(7)
    closed = _service(tmp_path / "b", BOT_QUIZ_CAMPAIGN="2020-09-01..2020-09-30")
    with pytest.raises(QuizError, match="活动期间"):
        closed.start(7)


def test_draw_prefers_the_users_role(tmp_path: Path) -> None:
    import random

    service = _service(tmp_path)
    drawn = service.draw("工程监理单位", "", random.Random(1))
    assert len(drawn) == 10 and len({q.id for q in drawn}) == 10
    assert all("工程监理单位" in q.roles for q in drawn)
    topical = service.draw("", "工程保修", random.Random(1))
    assert topical and all(q.topic == "工程保修" for q in topical)


def test_exports_chart_certificate_and_verification(tmp_path: Path) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0")
    passed = _finish(service, 7, right=8)
    _finish(service, 7, right=2, seed=9)
    rows = reports.export_rows(service.store)
    assert [(r["score"], r["passed"], r["name"], r["unit"]) for r in rows] == [(80, 1, "李工", "施工单位"),
                                                                             (20, 0, "李工", "施工单位")]
    csv_text = reports.to_csv(rows).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("attempt_id,user_id,name,unit,role,quiz,score,passed")
    sheet = load_workbook(io.BytesIO(reports.to_xlsx(rows))).active
    assert sheet.max_row == 3 and sheet.cell(2, 7).value == 80
    assert reports.export_rows(service.store, since=__import__("datetime").date(2100, 1, 1)) == []
    assert reports.score_chart_png([80, 20]).startswith(b"\x89PNG")
    attempt = service.attempt_by_code(passed["cert_code"])
    pdf = reports.certificate_pdf(attempt)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert passed["cert_code"] in text and "李工" in text and "80" in text
    env = {"BOT_DB_PATH": str(tmp_path / "q.db"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "bot", "quiz", "verify", passed["cert_code"]], capture_output=True,
                        text=True, cwd=ROOT, env=env)
    assert ok.returncode == 0 and "有效" in ok.stdout and "李工" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "bot", "quiz", "verify", "ZLT-FFFFFF-FFFFFF"], capture_output=True,
                         text=True, cwd=ROOT, env=env)
    assert bad.returncode == 1 and "无效" in bad.stdout


def test_question_statistics(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0", BOT_QUIZ_ATTEMPTS="20")
    for n in range(12):
        _finish(service, 7, right=n % 11, seed=1)  # the same draw: every question answered 12 times
    stats = reports.question_stats(service.store, service.by_id)
    assert len(stats) == 10 and all(s["answers"] == 12 for s in stats)
    assert all(0 <= s["facility"] <= 1 for s in stats)
    assert all(s["discrimination"] is not None for s in stats)
    # Stronger attempts answered every question at least as well as weaker ones: discrimination ≥ 0.
    assert all(s["discrimination"] >= 0 for s in stats)
    easiest = max(stats, key=lambda s: s["facility"])
    assert easiest["facility"] == round(10 / 12, 2) and easiest["discrimination"] > 0.5


def test_questions_are_typed_records() -> None:
    q = BANK.questions[0]
    assert isinstance(q, Question) and q.is_correct(list(q.answer)) and not q.is_correct([])
    assert replace(q, answer=(0, 1)).is_correct([1, 0, 0])
