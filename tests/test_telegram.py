"""End to end: the real python-telegram-bot stack over HTTP against the stand-in Bot API on 127.0.0.1."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.dialogue import Dialogue
from bot.knowledge import KnowledgeBase
from bot.quiz.bank import load_bank
from bot.quiz.engine import QuizService
from bot.retrieval.store import current_version
from bot.storage import Store
from tests.bot_harness import RunningBot
from tests.conftest import KNOWLEDGE
from tests.fake_bot_api import TOKEN, FakeBotApi

ADMIN, USER, OTHER = 1, 2, 3


def start_bot(corpus_settings, embedder, tmp_path: Path, **overrides) -> RunningBot:
    index = tmp_path / "index"
    shutil.copytree(corpus_settings.index_dir, index)  # admin tests re-index: keep the shared index intact
    api = FakeBotApi().start()
    settings = replace(
        corpus_settings, index_dir=index, db_path=tmp_path / "db.sqlite", upload_dir=tmp_path / "uploads",
        telegram_token=TOKEN, telegram_api_base_url=api.base_url, telegram_api_file_url=api.base_file_url,
        admin_ids=frozenset({ADMIN}), rate_limit=0, **{"quiz_open_period": 30, **overrides},
    )
    kb = KnowledgeBase(settings, embedder)
    store = Store(settings.db_path)
    names = kb.retriever().names
    bank = [replace(q, doc=names.resolve(q.doc) or q.doc) for q in load_bank([KNOWLEDGE / "quizzes"]).questions]
    return RunningBot(api, Dialogue(kb, store, QuizService(store, bank, settings)), settings).start()


@pytest.fixture
def bot(corpus_settings, embedder, tmp_path: Path) -> Iterator[RunningBot]:
    running = start_bot(corpus_settings, embedder, tmp_path)
    yield running
    running.stop()
    running.api.stop()


def _last_text(bot: RunningBot, user: int) -> str:
    return bot.api.messages_to(user)[-1].text


def test_commands_are_registered_at_start(bot: RunningBot) -> None:
    calls = bot.api.wait_for(lambda s: s.method == "setMyCommands")
    names = {c["command"] for c in calls[0].params["commands"]}
    assert {"start", "help", "role", "duties", "about"} <= names and "reindex" not in names
    admin = [c for c in calls if c.params.get("scope", {}).get("chat_id") == ADMIN]
    assert admin and "reindex" in {c["command"] for c in admin[0].params["commands"]}


def test_onboarding_remembers_unit_and_role(bot: RunningBot) -> None:
    reply = bot.ask(USER, "/start")[-1]
    assert "单位类型" in reply.text
    assert any(b["callback_data"] == "unit:施工单位" for row in reply.buttons for b in row)
    bot.api.push(bot.api.callback(USER, "unit:施工单位"))
    bot.api.wait_for(lambda s: s.method == "editMessageText" and "岗位" in s.text)
    bot.api.push(bot.api.callback(USER, "pos:质量员"))
    bot.api.wait_for(lambda s: s.method == "editMessageText" and "已记住" in s.text)
    user = bot.dialogue.store.user(USER)
    assert (user["unit"], user["role"]) == ("施工单位", "质量员")
    assert "施工单位·质量员" in bot.ask(USER, "/start")[-1].text


def test_question_answered_with_citation_buttons_and_feedback(bot: RunningBot) -> None:
    reply = bot.ask(USER, "商品混凝土送到工地，施工单位自己还要检验吗？")[-1]
    assert reply.params["parse_mode"] == "HTML"
    assert "《建设工程质量管理条例》第二十九条" in reply.text and "<blockquote>" in reply.text
    assert any(s.method == "sendChatAction" and s.chat_id == USER for s in bot.api.sent)
    data = {b["text"]: b["callback_data"] for row in reply.buttons for b in row}
    assert set(data) == {"📖 原文", "相关条文", "👍", "👎"}

    before = len(bot.api.messages_to(USER))
    bot.api.push(bot.api.callback(USER, data["📖 原文"]))
    bot.api.wait_for(lambda s: len(bot.api.messages_to(USER)) > before)
    assert "未经检验或者检验不合格的，不得使用" in _last_text(bot, USER)

    before = len(bot.api.messages_to(USER))
    bot.api.push(bot.api.callback(USER, data["👎"]))
    bot.api.wait_for(lambda s: len(bot.api.messages_to(USER)) > before)
    row = bot.dialogue.store.one("select * from feedback")
    assert row["vote"] == -1 and "商品混凝土" in row["question"] and "第二十九条" in row["answer"]


def test_out_of_scope_question_is_declined(bot: RunningBot) -> None:
    assert "没有找到" in bot.ask(USER, "公积金贷款买二套房，首付最低要几成？")[-1].text


def test_non_admins_are_refused_and_nothing_changes(bot: RunningBot) -> None:
    version = current_version(bot.settings.index_dir)
    assert "仅限管理员" in bot.ask(USER, "/reindex")[-1].text
    assert "仅限管理员" in bot.ask(USER, "/export")[-1].text
    before = len(bot.api.messages_to(USER))
    bot.api.push(bot.api.document(USER, "新规定.md", "# 新规定\n\n第一条 甲。\n\n第二条 乙。\n".encode()))
    bot.api.wait_for(lambda s: len(bot.api.messages_to(USER)) > before)
    assert "只有管理员" in _last_text(bot, USER)
    assert current_version(bot.settings.index_dir) == version


def test_admin_upload_reindex_and_bad_upload(bot: RunningBot) -> None:
    law = ("# 示范塔吊管理规定\n\n<!-- INFO END -->\n\n第一条 为了规范塔吊管理，制定本规定。\n\n"
           "第二条 塔式起重机的司索信号工应当持证上岗，每班作业前进行绿色旗语交接。\n")
    before = len(bot.api.messages_to(ADMIN))
    bot.api.push(bot.api.document(ADMIN, "示范塔吊管理规定.md", law.encode()))
    bot.api.wait_for(lambda s: len(bot.api.messages_to(ADMIN)) > before, timeout=120)
    assert "已加入《示范塔吊管理规定》" in _last_text(bot, ADMIN) and "索引已更新" in _last_text(bot, ADMIN)
    assert "《示范塔吊管理规定》第二条" in bot.ask(USER, "塔吊信号工作业前要用什么旗语交接？")[-1].text

    version = current_version(bot.settings.index_dir)
    for name, data in (("坏.docx", b"PK\x03\x04 broken"), ("表格.xlsx", b"PK\x03\x04"), ("空.txt", b"  ")):
        before = len(bot.api.messages_to(ADMIN))
        bot.api.push(bot.api.document(ADMIN, name, data))
        bot.api.wait_for(lambda s, b=before: len(bot.api.messages_to(ADMIN)) > b)
        text = _last_text(bot, ADMIN)
        assert ("无法使用" in text or "不支持" in text) and name.rsplit(".", 1)[-1] in text
    huge = bot.api.document(ADMIN, "大文件.pdf", b"%PDF-1.4")
    huge["message"]["document"]["file_size"] = 25 * 1024 * 1024  # Telegram reports the size before download
    before = len(bot.api.messages_to(ADMIN))
    bot.api.push(huge)
    assert "超过 20 MB" in bot.api.wait_for_messages(ADMIN, before + 1)[-1].text
    assert current_version(bot.settings.index_dir) == version
    assert not any(p.name.startswith(".incoming") for p in bot.settings.upload_dir.iterdir())

    assert "索引已更新" in bot.ask(ADMIN, "/reindex", timeout=120)[-1].text
    stats = bot.ask(ADMIN, "/stats")[-1].text
    assert "提问" in stats
    bot.api.push(bot.api.message(ADMIN, "/export"))
    sent = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.files["document"][0] == "questions.csv")[0]
    assert "塔吊信号工" in sent.files["document"][1].decode("utf-8-sig")


def test_bad_input(bot: RunningBot) -> None:
    assert "请输入您的问题" in bot.ask(USER, "   ")[-1].text
    assert "问题太长" in bot.ask(USER, "质" * 5000)[-1].text
    assert "未知命令 /foo" in bot.ask(USER, "/foo")[-1].text
    sticker = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False}
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}]
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 3}
    for extra, word in (({"sticker": sticker}, "贴纸"), ({"photo": photo}, "图片"), ({"voice": voice}, "语音")):
        before = len(bot.api.messages_to(USER))
        bot.api.push(bot.api.message(USER, None, **extra))
        bot.api.wait_for(lambda s, b=before: len(bot.api.messages_to(USER)) > b)
        assert word in _last_text(bot, USER)


def test_duplicated_update_is_answered_once(bot: RunningBot) -> None:
    update = bot.api.message(USER, "《建筑法》第五十四条")
    update["update_id"] = 777
    bot.api.push(update)
    bot.api.wait_for(lambda s: s.chat_id == USER and "第五十四条" in s.text)
    bot.api.push(dict(update), redeliver=True)
    marker = bot.ask(USER, "/help")  # handled after the duplicate would have been
    assert marker
    answers = [m for m in bot.api.messages_to(USER) if "第五十四条" in m.text]
    assert len(answers) == 1
    assert bot.dialogue.store.stats()["questions"] == 1


def test_one_user_flooding_does_not_starve_others(bot: RunningBot) -> None:
    for n in range(50):
        bot.api.push(bot.api.message(USER, f"第{n}个问题：塔吊要登记吗？"))
    started = time.monotonic()
    reply = bot.ask(OTHER, "塔吊装完多久要登记？", timeout=60)
    assert "第三十五条" in reply[-1].text
    assert time.monotonic() - started < 30
    time.sleep(3)
    flood = bot.api.messages_to(USER)
    assert len(flood) <= 10 and any("太快" in m.text for m in flood)


def _answer_current(bot: RunningBot, user: int, question_sent, right: bool) -> None:
    """Answer a quiz question as Telegram would: a poll_answer, or tick buttons then submit."""
    step = bot.dialogue.quiz.in_progress(user)
    options = list(step.question.answer) if right else [i for i in range(len(step.question.options))
                                                         if i not in step.question.answer][:1]
    if question_sent.method == "sendPoll":
        bot.api.push(bot.api.poll_answer(user, question_sent.result["poll"]["id"], options))
    else:
        for option in options:
            bot.api.push(bot.api.callback(user, f"mq:{step.attempt_id}:{step.index}:{option}"))
            bot.api.wait_for(lambda s, o=option: s.method == "editMessageText" and s.chat_id == user
                             and f"mq:{step.attempt_id}:{step.index}:{o}" in str(s.params.get("reply_markup")))
        bot.api.push(bot.api.callback(user, f"ms:{step.attempt_id}:{step.index}"))


def test_quiz_in_telegram_polls_records_and_reports(bot: RunningBot) -> None:
    bot.api.push(bot.api.message(USER, "/quiz"))
    questions = bot.api.wait_for_questions(USER, 1)
    first = questions[0]
    if first.method == "sendPoll":
        assert first.params["type"] == "quiz" and first.params["is_anonymous"] is False
        assert first.params["correct_option_ids"] and first.params["open_period"] == 30
        assert 0 < len(first.params["explanation"]) <= 200
    for n in range(10):
        sent = bot.api.wait_for_questions(USER, n + 1)[n]
        if n == 0 and sent.method == "sendPoll":  # a duplicated poll answer counts once
            update = bot.api.poll_answer(USER, sent.result["poll"]["id"], [0])
            update["update_id"] = 9000
            bot.api.push(update)
            bot.api.push(dict(update), redeliver=True)
        else:
            _answer_current(bot, USER, sent, right=n < 8 or n == 0)
        if n < 9:
            bot.api.wait_for_questions(USER, n + 2)
    bot.api.wait_for(lambda s: s.chat_id == USER and "测验结束" in s.text)
    rows = bot.dialogue.store.rows("select * from quiz_answers order by idx")
    assert [r["idx"] for r in rows] == list(range(10))
    attempt = bot.dialogue.store.one("select * from quiz_attempts")
    assert attempt["status"] == "finished" and attempt["correct"] == sum(r["correct"] for r in rows)
    assert "累计继续教育学时" in bot.ask(USER, "/myscore")[-1].text
    board = bot.ask(OTHER, "/leaderboard")[-1].text
    assert "个人排行" in board
    assert "移出排行榜" in bot.ask(USER, "/leaderboard off")[-1].text
    assert "还没有人完成测验" in bot.ask(OTHER, "/leaderboard")[-1].text
    bot.api.push(bot.api.message(ADMIN, "/export"))
    sent = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.files["document"][0].endswith(".xlsx"))[0]
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(sent.files["document"][1])).active
    assert sheet.max_row == 2 and sheet.cell(2, 7).value == attempt["score"]
    bot.api.push(bot.api.message(ADMIN, "/quizstats"))
    chart = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.files["document"][0] == "scores.png")[0]
    assert chart.files["document"][1].startswith(b"\x89PNG")


def test_quiz_question_times_out_and_the_next_follows(corpus_settings, embedder, tmp_path: Path) -> None:
    running = start_bot(corpus_settings, embedder, tmp_path, quiz_open_period=1)
    try:
        running.api.push(running.api.message(USER, "/quiz"))
        questions = running.api.wait_for_questions(USER, 2, timeout=60)  # nobody answers: the timer moves on
        polls = [q for q in questions if q.method == "sendPoll"]
        assert all(p.params["open_period"] == 5 for p in polls)  # Telegram's shortest, not the 1 s configured
        running.api.wait_for(lambda s: s.chat_id == USER and "超时" in s.text)
        answers = running.dialogue.store.rows("select * from quiz_answers")
        assert answers[0]["idx"] == 0 and answers[0]["correct"] == 0
    finally:
        running.stop()
        running.api.stop()
