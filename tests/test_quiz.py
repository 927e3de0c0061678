"""Quizzes: the bank, fair draws, attempts recorded exactly once, campaigns, profiles, local time, exports,
certificates, item analysis and learning from mistakes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot import localtime
from bot.config import load_settings
from bot.quiz import export, itemstats
from bot.quiz.bank import Question, load_bank
from bot.quiz.campaigns import CampaignError, parse_window
from bot.quiz.certificate import certificate_pdf, verify_link
from bot.quiz.draw import Rules
from bot.quiz.engine import ProfileNeeded, QuizError, QuizService, code_key
from bot.quiz.guessing import STRATEGIES, simulate
from bot.quiz.profiles import ProfileError, mask, parse
from bot.storage import Store
from tests.conftest import KNOWLEDGE, ROOT

BANK = load_bank([KNOWLEDGE / "quizzes"])
TZ = "Asia/Shanghai"


def _window(name: str = "测试活动", days: int = 1) -> str:
    today = localtime.today(TZ)
    return f"{name}@{today - timedelta(days=days)}..{today + timedelta(days=days)}"


def _service(tmp_path: Path, campaign: bool = True, **env: str) -> QuizService:
    values = {"BOT_DB_PATH": str(tmp_path / "q.db"), **env}
    if campaign:
        values.setdefault("BOT_QUIZ_CAMPAIGN", _window())
    settings = load_settings(values)
    store = Store(settings.db_path)
    store.touch_user(7, "李工", "li")
    store.set_profile(7, unit="施工单位", role="质量员")
    service = QuizService(store, BANK.questions, settings)
    service.profiles.save(7, "李明", "广州某建工集团", "质量员", "粤144000001")
    return service


def _wrong(question: Question) -> list[int]:
    return [i for i in range(len(question.options)) if i not in question.answer][:1]


def _finish(service: QuizService, user: int, right: int, seed: int = 1, practice: bool = False) -> dict:
    step = service.start(user, role="施工单位", seed=seed, practice=practice)
    outcome = None
    for n in range(step.total):
        chosen = list(step.question.answer) if n < right else _wrong(step.question)
        outcome = service.answer(step.attempt_id, step.index, chosen, 3.0, user_id=user)
        assert outcome.recorded
        step = outcome.next or step
    return outcome.finished


# the bank ---------------------------------------------------------------------------------------
def test_shipped_bank_is_valid_balanced_and_large_enough() -> None:
    assert not BANK.faults, BANK.faults
    assert not BANK.warnings, BANK.warnings
    assert len(BANK.questions) >= 80
    assert {q.type for q in BANK.questions} == {"single", "multiple", "truefalse"}
    topics = {q.topic for q in BANK.questions}
    expected = {"强省行动计划", "五方责任主体", "终身责任", "见证取样", "隐蔽工程", "竣工验收", "工程保修", "法律责任"}
    assert expected <= topics
    assert all(len(q.explanation) <= 200 for q in BANK.questions)
    verdicts = [q.answer[0] for q in BANK.questions if q.type == "truefalse"]
    assert 0.4 <= sum(v == 0 for v in verdicts) / len(verdicts) <= 0.6  # true about as often as false
    multiples = {q.answer for q in BANK.questions if q.type == "multiple"}
    assert len(multiples) >= 4  # not always A+B or A+B+C


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


def test_validate_warns_when_answers_lean_to_one_position(tmp_path: Path) -> None:
    items = [f"""- id: s{n}
  type: single
  question: 第{n}题
  options: [甲{n}, 乙{n}, 丙{n}, 丁{n}]
  answer: [{0 if n < 6 else n % 4}]
  explanation: 解析
  citation: {{doc: 建筑法, loc: 第一条}}""" for n in range(8)]
    items += [f"""- id: t{n}
  type: truefalse
  question: 判断{n}
  answer: [0]
  explanation: 解析
  citation: {{doc: 建筑法, loc: 第一条}}""" for n in range(6)]
    (tmp_path / "lean.yaml").write_text("questions:\n" + "\n".join(items) + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "quiz", "validate", str(tmp_path / "lean.yaml")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout  # warnings, not faults
    assert "警告：单选题的正确答案有 75% 在选项 A" in result.stdout
    assert "警告：判断题有 100% 的答案是“正确”" in result.stdout
    shipped = subprocess.run([sys.executable, "-m", "bot", "quiz", "validate", str(KNOWLEDGE / "quizzes")],
                             capture_output=True, text=True, cwd=ROOT)
    assert "警告：" not in shipped.stdout and "0 条警告" in shipped.stdout


# fair draws -------------------------------------------------------------------------------------
def test_guessing_fails_by_the_real_draw() -> None:
    """2,000 attempts drawn and shuffled as real ones, with the default settings: no strategy that knows
    nothing passes 1 % of them, and the right option sits in every position about equally often."""
    settings = load_settings({})
    rules = Rules(size=settings.quiz_size, pass_mark=settings.quiz_pass_mark,
                  truefalse_share=settings.quiz_truefalse_share)
    report = simulate(BANK.questions, rules, attempts=2000, seed=11)
    assert set(report.pass_rates) == set(STRATEGIES)
    for name, rate in report.pass_rates.items():
        assert rate < 0.01, (name, rate)
    shares = report.position_shares()
    assert set(shares) == {"A", "B", "C", "D"} and all(0.2 < s < 0.3 for s in shares.values()), shares
    assert report.truefalse_per_attempt <= rules.truefalse_max
    # The same simulation with 10 questions and 2 true/false: guessing gets through far more often.
    short = simulate(BANK.questions, Rules(size=10, truefalse_share=0.2), attempts=2000, seed=11)
    assert short.pass_rates["随机作答"] > report.pass_rates["随机作答"]


def test_options_are_shuffled_per_attempt_and_scored_exactly(tmp_path: Path) -> None:
    service = _service(tmp_path, campaign=False)
    step = service.start(7, seed=3)
    attempt = service.attempt(step.attempt_id)
    orders = json.loads(attempt["orders"])
    drawn = json.loads(attempt["questions"])
    assert len(orders) == step.total == 20
    assert any(o != sorted(o) for o, q in zip(orders, drawn, strict=True) if q["type"] != "truefalse")
    # The first option shown is the option the order names; the right answer is renumbered with it.
    original = Question.from_dict(drawn[0])
    assert step.question.options == tuple(original.options[i] for i in orders[0])
    assert [step.question.options[i] for i in step.question.answer] == [original.options[i] for i in original.answer]
    outcome = service.answer(step.attempt_id, 0, list(step.question.answer), user_id=7)
    assert outcome.correct
    stored = service.store.one("select chosen from quiz_answers where attempt_id = ?", [step.attempt_id])
    assert json.loads(stored["chosen"]) == list(original.answer)  # the bank's option numbers are recorded
    # After a restart the attempt shows the same order again.
    restarted = QuizService(Store(service.settings.db_path), BANK.questions, service.settings)
    again = restarted.in_progress(7)
    assert again.question == outcome.next.question


def test_draw_keeps_true_false_share_and_prefers_the_users_role(tmp_path: Path) -> None:
    import random

    service = _service(tmp_path, campaign=False, BOT_QUIZ_SIZE="10")
    drawn = service.draw("工程监理单位", "", random.Random(1))
    assert len(drawn) == 10 and len({q.id for q in drawn}) == 10
    assert all("工程监理单位" in q.roles for q in drawn)
    for seed in range(30):
        full = service.draw("", "", random.Random(seed), Rules(size=20, truefalse_share=0.2))
        assert sum(q.type == "truefalse" for q in full) <= 4
    topical = service.draw("", "工程保修", random.Random(1))
    assert topical and all(q.topic == "工程保修" for q in topical)


# recording answers ------------------------------------------------------------------------------
def test_attempt_is_scored_and_credits_granted_once_per_campaign(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0")
    first = _finish(service, 7, right=14)
    assert (first["score"], first["passed"], first["credits"]) == (70, 1, 2.0)
    assert first["cert_code"].startswith("ZLT-") and len(code_key(first["cert_code"])) == 15
    assert first["quiz"] == "测试活动" and first["mode"] == "credited"
    second = _finish(service, 7, right=20, seed=2)
    assert second["score"] == 100 and second["credits"] == 0.0  # credits for the first pass only
    failed = _finish(service, 7, right=6, seed=3)
    assert (failed["passed"], failed["credits"], failed["cert_code"]) == (0, 0.0, "")
    with pytest.raises(QuizError, match="次数"):
        service.start(7)
    answers = service.db.execute("select count(*) from quiz_answers").fetchone()[0]
    assert answers == 60


def test_each_answer_is_recorded_exactly_once_and_only_from_the_owner(tmp_path: Path) -> None:
    service = _service(tmp_path)
    step = service.start(7, seed=4)
    foreign = service.answer(step.attempt_id, 0, list(step.question.answer), user_id=99)
    assert foreign.foreign and not foreign.recorded  # a forwarded poll answered by someone else
    first = service.answer(step.attempt_id, 0, list(step.question.answer), user_id=7)
    assert first.recorded and first.correct
    assert not service.answer(step.attempt_id, 0, [0], user_id=7).recorded  # the same update delivered again
    assert not service.answer(step.attempt_id, 5, [0], user_id=7).recorded  # not the current question
    rows = service.store.rows("select idx, correct from quiz_answers where attempt_id = ?", [step.attempt_id])
    assert [(r["idx"], r["correct"]) for r in rows] == [(0, 1)]


def test_attempt_survives_a_restart_and_a_kill(tmp_path: Path) -> None:
    service = _service(tmp_path)
    step = service.start(7, seed=5)
    service.answer(step.attempt_id, 0, list(step.question.answer), user_id=7)
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
    # still asks and scores the questions it drew, in the order it showed them.
    settings = load_settings({"BOT_DB_PATH": str(tmp_path / "q.db")})
    restarted = QuizService(Store(settings.db_path), BANK.questions[:1], settings)
    resumed = restarted.in_progress(7)
    assert resumed is not None and (resumed.attempt_id, resumed.index) == (step.attempt_id, 2)
    shown = service.shown_questions(service.store.one("select * from quiz_attempts"))
    assert resumed.question == shown[2] and resumed.question.id not in restarted.by_id
    answered = restarted.store.rows("select idx from quiz_answers where attempt_id = ?", [step.attempt_id])
    assert len(answered) == 2  # nothing committed was lost
    assert restarted.answer(step.attempt_id, 2, list(resumed.question.answer)).correct


# campaigns --------------------------------------------------------------------------------------
def test_campaign_window_format_and_local_dates(tmp_path: Path) -> None:
    assert parse_window("2026年质量月@2026-09-01..2026-09-30") == ("2026年质量月", date(2026, 9, 1), date(2026, 9, 30))
    assert parse_window("2026-09-01..2026-09-30")[0] == "质量月培训测验"  # the name is optional
    with pytest.raises(CampaignError):
        parse_window("2026-09-30..2026-09-01")
    service = _service(tmp_path, BOT_QUIZ_CAMPAIGN="质量月@2026-09-01..2026-09-30")
    # 00:30 on 1 September in Guangdong is still 31 August in UTC: the campaign is open.
    opening = datetime(2026, 8, 31, 16, 30, tzinfo=UTC)
    assert service.campaign(localtime.today(TZ, opening)) is not None
    assert service.campaign(opening.date()) is None  # (what a UTC clock would have said)
    closing = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 October, local
    assert service.campaign(localtime.today(TZ, closing)) is None
    assert service.campaign(date(2026, 9, 30)).name == "质量月"


def test_outside_any_campaign_quizzes_are_practice(tmp_path: Path) -> None:
    service = _service(tmp_path, campaign=False, BOT_QUIZ_ATTEMPTS="1")
    for seed in range(3):  # no attempt limit, no cooldown
        done = _finish(service, 7, right=20, seed=seed)
        assert (done["mode"], done["passed"], done["credits"], done["cert_code"], done["campaign_id"]) == \
            ("practice", 1, 0.0, "", None)
    assert service.latest_certificate(7) is None


def test_limits_and_credits_count_per_campaign(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_ATTEMPTS="1", BOT_QUIZ_CAMPAIGN=_window("2025年质量月"))
    first = _finish(service, 7, right=20)
    with pytest.raises(QuizError, match="次数"):
        service.start(7)
    old = service.campaign()
    with pytest.raises(CampaignError, match="重叠"):
        service.campaigns.open("2026年质量月", old.starts_on, old.ends_on)
    service.campaigns.close(old)
    new = service.campaigns.open("2026年质量月", old.starts_on, old.ends_on, pass_mark=80, credits=4)
    assert service.campaign().id == new.id
    second = _finish(service, 7, right=16, seed=2)  # a new campaign: a new allowance and new credits
    assert (second["quiz"], second["passed"], second["credits"]) == ("2026年质量月", 1, 4.0)
    rows = export.attempt_rows(service.store, TZ)
    assert [(r["campaign"], r["credits"]) for r in rows] == [("2025年质量月", 2.0), ("2026年质量月", 4.0)]
    assert first["campaign_id"] == old.id and second["campaign_id"] == new.id
    # Restarting with BOT_QUIZ_CAMPAIGN still set does not reopen the closed campaign.
    again = QuizService(Store(service.settings.db_path), BANK.questions, service.settings)
    assert again.campaign().id == new.id and len(again.campaigns.all()) == 2


# profiles ---------------------------------------------------------------------------------------
def test_profile_is_asked_before_a_credited_attempt_and_frozen(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0")
    service.store.touch_user(8, "Tg 名字")
    with pytest.raises(ProfileNeeded):
        service.start(8)
    assert parse("王小红 某监理公司", fallback_position="监理工程师") == ("王小红", "某监理公司", "监理工程师", "")
    with pytest.raises(ProfileError):
        parse("王小红")
    with pytest.raises(ProfileError):
        parse("=cmd|x 某公司")
    service.profiles.save(8, "王小红", "某监理公司", "监理工程师")
    passed = _finish(service, 8, right=20)
    service.profiles.save(8, "王大红", "另一公司", "总监")  # a later change
    service.store.touch_user(8, "改了名字")  # and a Telegram rename
    attempt = service.attempt_by_code(passed["cert_code"])
    assert (attempt["person_name"], attempt["employer"], attempt["position"]) == ("王小红", "某监理公司", "监理工程师")
    assert mask("王小红") == "王**" and mask("张三") == "张*"


def test_records_from_before_campaigns_survive_the_migration(tmp_path: Path) -> None:
    import sqlite3

    import sqlite_utils

    from bot.storage import migrations

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m004_campaigns_profiles")  # the schema as it was
    db["users"].insert({"id": 5, "name": "老用户", "username": "", "unit": "施工单位", "role": "质量员",
                        "leaderboard": 1, "created_at": "", "updated_at": ""})
    db["quiz_attempts"].insert({"user_id": 5, "quiz": "质量月培训测验", "question_ids": "[]", "questions": "[]",
                                "current": 10, "total": 10, "correct": 8, "score": 80, "passed": 1, "credits": 2.0,
                                "status": "finished", "cert_code": "ZLT-ABC123-DEF456",
                                "started_at": "2025-09-02T01:00:00.000+00:00",
                                "finished_at": "2025-09-02T01:10:00.000+00:00"})
    db.conn.commit()
    db.conn.close()
    service = QuizService(Store(path), BANK.questions, load_settings({"BOT_DB_PATH": str(path)}))
    legacy = service.attempt_by_code("zlt-abc123-def456")  # the old code format still verifies
    assert (legacy["mode"], legacy["person_name"], legacy["employer"], legacy["credits"]) == \
        ("credited", "老用户", "施工单位", 2.0)
    row = export.attempt_rows(service.store, TZ)[0]
    assert row["finished"] == "2025-09-02 09:10:00" and row["result"] == "合格"
    assert service.store.user(5)["leaderboard"] == 0  # the leaderboard is opt-in now


# exports ----------------------------------------------------------------------------------------
def test_exports_keep_the_record_in_local_time_and_neutralise_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0")
    service.store.touch_user(9, "=HYPERLINK(\"http://evil.example\",\"点我\")")
    service.profiles.save(9, "赵六", "@SUM(1+1)", "+质量员")
    passed = _finish(service, 7, right=16)
    _finish(service, 7, right=4, seed=9)
    _finish(service, 9, right=20, seed=4)
    _finish(service, 9, right=20, seed=5, practice=True)
    service.profiles.delete(9)
    service.store.touch_user(10, "-2+3")
    _finish(service, 10, right=1, seed=6, practice=True)
    rows = export.attempt_rows(service.store, TZ)
    assert [(r["person_name"], r["employer"], r["score"], r["result"], r["credits"]) for r in rows] == [
        ("李明", "广州某建工集团", 80, "合格", 2.0), ("李明", "广州某建工集团", 20, "不合格", 0.0),
        ("赵六", "@SUM(1+1)", 100, "合格", 2.0), ("赵六", "@SUM(1+1)", 100, "合格", 0.0),
        ("-2+3", "", 5, "不合格", 0.0)]
    assert rows[0]["campaign"] == "测试活动" and rows[3]["campaign"] == "练习"
    assert rows[0]["content"].startswith("测试活动（") and rows[0]["cert_code"] == passed["cert_code"]
    started = service.attempt(rows[0]["attempt_id"])["started_at"]
    assert rows[0]["started"] == localtime.show(started, TZ, seconds=True) != started[:19].replace("T", " ")
    # CSV: every cell that would run as a formula starts with an apostrophe.
    text = export.to_csv(rows).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("记录编号,培训活动,培训形式,用户ID,姓名,工作单位,岗位")
    assert "'@SUM(1+1)" in text and "'+质量员" in text and "'-2+3" in text and ",@SUM" not in text
    book = load_workbook(io.BytesIO(export.to_xlsx(rows)))
    cells = [c for row in book["测验记录"].iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" and not c.value.startswith(("=", "+", "-", "@")) for c in cells)
    assert {"'@SUM(1+1)", "'+质量员", "'-2+3"} <= {c.value for c in cells}
    # The per-employer summary counts people over credited, finished attempts.
    summary = {r["employer"]: r for r in export.employer_summary(rows)}
    assert summary["广州某建工集团"]["participants"] == 1 and summary["广州某建工集团"]["pass_rate"] == 1.0
    assert summary["广州某建工集团"]["attempts"] == 2 and summary["@SUM(1+1)"]["credits"] == 2.0
    summary_sheet = [[c.value for c in r] for r in book["单位汇总"].iter_rows()]
    assert summary_sheet[0] == ["培训活动", "工作单位", "参加人数", "合格人数", "合格率", "测验次数", "学时合计"]
    assert export.attempt_rows(service.store, TZ, since=date(2100, 1, 1)) == []
    today = localtime.today(TZ)
    assert len(export.attempt_rows(service.store, TZ, since=today)) == 5


def test_question_log_export_is_in_local_time_and_neutralised(tmp_path: Path) -> None:
    store = Store(tmp_path / "log.db")
    store.log_question(7, '=HYPERLINK("http://evil.example")', True, "extractive", "建筑法", "第一条", "答")
    asked = store.question(1)["asked_at"]
    line = store.export_questions_csv(TZ).decode("utf-8-sig").splitlines()[1]
    assert line.startswith(f"1,7,{localtime.show(asked, TZ, seconds=True)},")
    assert "'=HYPERLINK" in line and ',"=HYPERLINK' not in line and ",=HYPERLINK" not in line


# certificates -----------------------------------------------------------------------------------
def test_certificate_embeds_its_font_and_a_qr_code_of_the_deep_link(tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image
    from pypdf import PdfReader

    service = _service(tmp_path)
    passed = _finish(service, 7, right=17)
    attempt = service.attempt_by_code(passed["cert_code"].lower().replace("-", " "))  # typed sloppily
    assert attempt is not None
    pdf = PdfReader(io.BytesIO(certificate_pdf(attempt, TZ, "zhiliangtong_bot")))
    page = pdf.pages[0]
    text = page.extract_text()
    for expected in ("李明", "广州某建工集团", "质量员", "粤144000001", "测试活动", "85 分", "2 学时",
                     passed["cert_code"], localtime.show_date(passed["finished_at"], TZ), "/verify"):
        assert expected in text, expected
    assert "python -m bot" not in text
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    descriptors = [d["/FontDescriptor"] for f in fonts for d in f.get("/DescendantFonts", [f])
                   if "/FontDescriptor" in d.get_object()]
    assert descriptors and all("/FontFile2" in d.get_object() for d in descriptors)  # embedded TrueType
    assert all("STSong" not in str(f["/BaseFont"]) for f in fonts)
    image = Image.open(io.BytesIO(page.images[0].data))
    decoded = [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]
    assert decoded == [verify_link("zhiliangtong_bot", passed["cert_code"])]
    assert decoded[0] == f"https://t.me/zhiliangtong_bot?start=verify_{passed['cert_code']}"


def test_verify_and_revoke_from_the_command_line(tmp_path: Path) -> None:
    service = _service(tmp_path)
    passed = _finish(service, 7, right=16)
    env = {"BOT_DB_PATH": str(tmp_path / "q.db"), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "quiz", *args], capture_output=True, text=True,
                              cwd=ROOT, env=env)

    ok = run("verify", passed["cert_code"])
    assert ok.returncode == 0, ok.stderr
    for expected in ("有效", "李明", "广州某建工集团", "质量员", "粤144000001", "测试活动", "80 分", "2"):
        assert expected in ok.stdout
    bad = run("verify", "ZLT-FFFF-FFFF-FFFF")
    assert bad.returncode == 1 and "无效" in bad.stdout
    assert run("revoke", passed["cert_code"], "--reason", "代考").returncode == 0
    revoked = run("verify", passed["cert_code"])
    assert revoked.returncode == 1 and "已撤销" in revoked.stdout and "代考" in revoked.stdout
    assert service.latest_certificate(7) is None


# item analysis ----------------------------------------------------------------------------------
def test_item_statistics_match_a_hand_worked_example() -> None:
    """Four attempts of one fixed form of three questions (marks by hand):
    q1 1 1 0 0, q2 1 0 1 0, q3 1 1 0 0; totals 3 2 1 0.
    q1: rest 2 1 1 0; Cov = 1/3, Var(x) = 1/3, Var(rest) = 2/3 → DI = 100/√2 = 70.71; sorted Cov = 1/3 → DE 100.
    q2: rest 2 2 0 0; Cov = 0 → DI 0, DE 0: weak.  Var(X) = 5/3, ΣVar = 1 → CIC = 150·(1 − 3/5) = 60,
    ER = 100·√0.4 = 63.25."""
    attempts = [{"q1": 1, "q2": 1, "q3": 1}, {"q1": 1, "q2": 0, "q3": 1}, {"q1": 0, "q2": 1, "q3": 0},
                {"q1": 0, "q2": 0, "q3": 0}]
    analysis = itemstats.analyse([{k: float(v) for k, v in a.items()} for a in attempts])
    q1, q2, q3 = analysis.items
    assert (q1.facility, round(q1.discrimination, 2), round(q1.efficiency, 2)) == (0.5, 70.71, 100.0)
    assert (q2.facility, q2.discrimination, q2.efficiency) == (0.5, 0.0, 0.0) and q2.flags == ("区分度弱",)
    assert q3.discrimination == q1.discrimination and not q1.flags
    test = analysis.test
    assert test.fixed_form and round(test.cic, 2) == 60.0 and round(test.error_ratio, 2) == 63.25
    # Random forms: each question over the attempts that drew it; no whole-test coefficient.
    mixed = itemstats.analyse([{"a": 1.0, "b": 0.0}, {"a": 0.0, "c": 1.0}, {"b": 1.0, "c": 1.0}])
    assert {i.question_id: i.attempts for i in mixed.items} == {"a": 2, "b": 2, "c": 2}
    assert mixed.test.cic is None and not mixed.test.fixed_form
    easy = itemstats.item_stat("e", [1.0] * 20, [float(n % 5) + 1 for n in range(20)])
    hard = itemstats.item_stat("h", [0.0] * 19 + [1.0], [float(n % 5) for n in range(20)])
    assert "太容易" in easy.flags and "太难" in hard.flags


def test_item_statistics_from_recorded_attempts(tmp_path: Path) -> None:
    service = _service(tmp_path, BOT_QUIZ_COOLDOWN_MINUTES="0", BOT_QUIZ_ATTEMPTS="30")
    campaign = service.campaign()
    service.campaigns.close(campaign)
    fixed = service.campaigns.open("统一试卷", campaign.starts_on, campaign.ends_on, fixed_form=True)
    for user in range(100, 112):
        service.store.touch_user(user, f"用户{user}")
        service.profiles.save(user, "测试人", "某单位", "质量员")
        _finish(service, user, right=user - 100 + 5, seed=user)  # everyone draws the same form
    marks = itemstats.attempt_marks(service.store, fixed.id)
    assert len(marks) == 12 and len({frozenset(m) for m in marks}) == 1
    analysis = itemstats.analyse(marks)
    assert analysis.test.fixed_form and analysis.test.cic is not None and analysis.test.cic > 75
    assert all(i.attempts == 12 for i in analysis.items)


def test_charts_draw_chinese_labels_with_the_cjk_font() -> None:
    import warnings

    from bot.quiz import charts

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph (a box instead of a character) is a warning
        scores = charts.score_distribution_png([80, 20, 65, 100, 55], 60, "质量月成绩分布")
        rates = charts.employer_pass_rate_png([{"employer": "广州某建工集团", "participants": 3, "pass_rate": 2 / 3},
                                               {"employer": "", "participants": 1, "pass_rate": 0.0}])
    assert scores.startswith(b"\x89PNG") and rates.startswith(b"\x89PNG")


# learning from mistakes -------------------------------------------------------------------------
def test_review_lists_missed_questions_and_practice_draws_them_first(tmp_path: Path) -> None:
    service = _service(tmp_path)
    done = _finish(service, 7, right=17)
    attempt, missed = service.review(7)
    assert attempt["id"] == done["id"] and [m[0] for m in missed] == [17, 18, 19]
    for _, question, chosen in missed:
        assert chosen and not question.is_correct(chosen)
    wrong_ids = [q.id for _, q, _ in missed]
    assert [q.id for q in service.missed_questions(7)] == wrong_ids
    practice = service.start(7, practice=True, seed=8)
    drawn = json.loads(service.attempt(practice.attempt_id)["question_ids"])
    assert set(wrong_ids) <= set(drawn) and service.attempt(practice.attempt_id)["mode"] == "practice"
    # Answered right in practice, a question leaves the list of mistakes.
    step = practice
    while step is not None:
        outcome = service.answer(step.attempt_id, step.index, list(step.question.answer), user_id=7)
        step = outcome.next
    assert service.missed_questions(7) == []
    assert outcome.finished["credits"] == 0.0 and outcome.finished["cert_code"] == ""


# generated questions (need the corpus index) ----------------------------------------------------
def test_generated_questions_stand_on_their_own(corpus_kb) -> None:
    from bot.quiz.generate import CUES, PARTIES, _value_kind, generate_questions

    retriever = corpus_kb.retriever()
    questions = generate_questions(retriever)
    assert len(questions) >= 80 and len({q.id for q in questions}) == len(questions)
    assert generate_questions(retriever) == questions  # the same index gives the same questions
    topics = {q.topic for q in questions}
    assert {"义务主体", "法律责任", "期限"} <= topics
    verdicts = []
    for q in questions:
        article = retriever.snapshot.article_text(q.doc, q.loc)
        assert article, q
        head = f"依据《{q.doc}》{q.loc}"
        assert q.question.startswith(head)  # the stem says which provision it asks about
        if q.type == "truefalse":
            statement = q.question.split("判断：", 1)[1]
            true = q.answer == (0,)
            verdicts.append(true)
            assert (statement in article) is true, q
            continue
        stem = q.question[len(head) + 1:].split("\n")[0]
        answer = q.options[q.answer[0]]
        assert stem.count("（  ）") == 1 and len(set(q.options)) == 4, q
        assert answer not in stem, q  # nothing in the stem gives the answer away …
        before, after = stem.split("（  ）")
        assert not before.endswith("、") and not after.startswith(("、", "和", "及", "与", "或")), q  # … nor a list
        assert not stem.startswith(("逾期", "前款", "有前款", "情节严重")), q  # the situation is named
        if q.topic == "义务主体":
            assert answer in PARTIES and not any(c in stem for c in CUES[answer]), q
            assert all(o not in article for o in q.options if o != answer), q  # distractors: parties it does not name
            assert stem.replace("（  ）", answer) in article, q
        else:
            assert len({_value_kind(o) for o in q.options}) == 1, q  # distractors of the same kind
            assert answer in article
    assert len(verdicts) >= 20 and 0.4 <= sum(verdicts) / len(verdicts) <= 0.6  # true as often as false
    assert not any("特种设备检验、（  ）" in q.question for q in questions)


def test_guessing_fails_with_generated_questions_too(corpus_kb) -> None:
    from bot.quiz.generate import generate_questions

    settings = load_settings({})
    rules = Rules(size=settings.quiz_size, pass_mark=settings.quiz_pass_mark,
                  truefalse_share=settings.quiz_truefalse_share)
    bank = BANK.questions + generate_questions(corpus_kb.retriever())
    report = simulate(bank, rules, attempts=2000, seed=5)
    assert all(rate < 0.01 for rate in report.pass_rates.values()), report.pass_rates
    assert all(0.2 < s < 0.3 for s in report.position_shares().values()), report.position_shares()


# the quiz conversation, without a transport ----------------------------------------------------
def _dialogue(tmp_path: Path, **env: str):
    from bot.dialogue import Dialogue
    from bot.knowledge import KnowledgeBase

    settings = load_settings({"BOT_DB_PATH": str(tmp_path / "d.db"), "BOT_INDEX_DIR": str(tmp_path / "none"),
                              "BOT_GLOSSARY": str(KNOWLEDGE / "glossary.yaml"), "BOT_QUIZ_CAMPAIGN": _window(),
                              "BOT_USERNAME": "zhiliangtong_bot", "BOT_QUIZ_SIZE": "5", **env})
    store = Store(settings.db_path)
    return Dialogue(KnowledgeBase(settings), store, QuizService(store, BANK.questions, settings))


def test_guided_profile_asks_consent_then_one_field_at_a_time(tmp_path: Path) -> None:
    from bot.dialogue import Incoming

    dialogue = _dialogue(tmp_path)
    who = Incoming(21, "微信名", chat_id=21)
    asked = dialogue.on_command(who, "quiz")
    assert "实名信息" in asked.plain() and asked.poll is None
    buttons = {b.text: b.data for row in asked.buttons for b in row}
    assert set(buttons) == {"同意并登记", "先练习（不计学时）"}
    assert "真实姓名" in dialogue.on_button(who, buttons["同意并登记"]).plain()
    assert "不像真实姓名" in dialogue.on_text(who, "=cmd|calc").plain()  # checked field by field
    assert "工作单位" in dialogue.on_text(who, "陈小明").plain()
    assert "岗位" in dialogue.on_text(who, "佛山某建筑工程有限公司").plain()
    reg = dialogue.on_text(who, "施工员")
    assert "注册号" in reg.plain() and reg.buttons[0][0].data == "pf:skip"
    summary = dialogue.on_button(who, "pf:skip")
    assert "请核对" in summary.plain() and "陈小明" in summary.plain()
    assert dialogue.quiz.profiles.get(21) is None  # nothing is stored before it is confirmed
    assert "已登记" in dialogue.on_button(who, "pf:confirm").plain()
    assert dialogue.quiz.profiles.get(21).describe() == "陈小明，佛山某建筑工程有限公司，施工员"
    started = dialogue.on_command(who, "quiz")
    assert started.poll is not None and "陈小明" in started.plain()
    # Text sent now is a question again, not a profile field.
    assert not dialogue.quizzes.guiding(21)


def test_quiz_commands_in_a_group_get_only_a_link(tmp_path: Path) -> None:
    from bot.dialogue import Incoming

    dialogue = _dialogue(tmp_path, BOT_ADMIN_IDS="1")
    for user, command in ((21, "quiz"), (1, "export"), (1, "campaign"), (21, "verify"), (21, "profile")):
        reply = dialogue.on_command(Incoming(user, chat_id=-5, private=False), command, "x")
        assert "私聊" in reply.plain() and not reply.attachments and reply.poll is None
        assert reply.buttons[0][0].url.startswith("https://t.me/zhiliangtong_bot")
    assert dialogue.store.rows("select * from quiz_attempts") == []
