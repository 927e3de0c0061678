"""End to end: the real python-telegram-bot stack over HTTP against the stand-in Bot API on 127.0.0.1."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path

from bot import localtime
from bot.retrieval.store import current_version
from tests.bot_harness import ADMIN, OTHER, USER, RunningBot, start_bot


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
    reply = bot.ask(USER, "商砼进场以后总包还用自己再检验一遍吗？")[-1]
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
    assert row["vote"] == -1 and "商砼" in row["question"] and "第二十九条" in row["answer"]


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


def _answer_current(bot: RunningBot, user: int, question_sent, right: bool, voter: int | None = None) -> None:
    """Answer a quiz question as Telegram would: a poll_answer (by ``voter``, default the user), or tick
    buttons then submit."""
    step = bot.dialogue.quiz.in_progress(user)
    options = list(step.question.answer) if right else [i for i in range(len(step.question.options))
                                                         if i not in step.question.answer][:1]
    if question_sent.method == "sendPoll":
        bot.api.push(bot.api.poll_answer(voter or user, question_sent.result["poll"]["id"], options))
    else:
        for option in options:
            bot.api.push(bot.api.callback(user, f"mq:{step.attempt_id}:{step.index}:{option}"))
            bot.api.wait_for(lambda s, o=option: s.method == "editMessageText" and s.chat_id == user
                             and f"mq:{step.attempt_id}:{step.index}:{o}" in str(s.params.get("reply_markup")))
        bot.api.push(bot.api.callback(user, f"ms:{step.attempt_id}:{step.index}"))


def _campaign(name: str = "2026年质量月") -> str:
    today = localtime.today("Asia/Shanghai")
    return f"{name}@{today - timedelta(days=3)}..{today + timedelta(days=3)}"


def _take_quiz(bot: RunningBot, user: int, right: int, first: int = 0) -> list:
    """Answer every question of the attempt just started (``first`` questions already on their way)."""
    bot.api.wait_for_questions(user, first + 1)
    total = bot.dialogue.quiz.in_progress(user).total
    sent = []
    for n in range(total):
        question = bot.api.wait_for_questions(user, first + n + 1)[first + n]
        sent.append(question)
        _answer_current(bot, user, question, right=n < right)
    bot.api.wait_for(lambda s: s.chat_id == user and ("测验结束" in s.text or "练习结束" in s.text)
                     and s.at >= sent[-1].at)
    return sent


def test_quiz_in_telegram_polls_records_and_reports(corpus_settings, embedder, tmp_path: Path) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    bot = start_bot(corpus_settings, embedder, tmp_path, quiz_campaign=_campaign(), quiz_size=20)
    try:
        consent = bot.ask(USER, "/quiz")[-1]
        assert "实名信息" in consent.text and "/profile" in consent.text
        assert not [s for s in bot.api.calls_to(USER) if s.method == "sendPoll"]  # no question before the profile
        assert "已登记" in bot.ask(USER, "/profile 张三 广州某建设集团有限公司 质量员 粤144000123")[-1].text
        bot.api.push(bot.api.message(USER, "/quiz"))
        first = bot.api.wait_for_questions(USER, 1)[0]
        step = bot.dialogue.quiz.in_progress(USER)
        attempt = bot.dialogue.store.one("select * from quiz_attempts where id = ?", [step.attempt_id])
        assert attempt["mode"] == "credited" and attempt["person_name"] == "张三"
        assert first.method == "sendPoll" and first.params["type"] == "quiz" and first.params["is_anonymous"] is False
        assert [o["text"] for o in first.params["options"]] == list(step.question.options)  # its own order …
        assert first.params["correct_option_ids"] == list(step.question.answer)  # … and its answer key
        assert first.params["open_period"] == 30 and 0 < len(first.params["explanation"]) <= 200
        # A forwarded poll answered by someone else is not recorded and gets no reply.
        before = len(bot.api.calls_to(OTHER))
        _answer_current(bot, USER, first, right=True, voter=OTHER)
        marker = bot.ask(USER, "/help")
        assert marker and len(bot.api.calls_to(OTHER)) == before
        assert bot.dialogue.store.rows("select * from quiz_answers") == []
        # The same poll answer delivered twice counts once.
        update = bot.api.poll_answer(USER, first.result["poll"]["id"], list(step.question.answer))
        update["update_id"] = 9000
        bot.api.push(update)
        bot.api.push(dict(update), redeliver=True)
        for n in range(1, 20):
            question = bot.api.wait_for_questions(USER, n + 1)[n]
            _answer_current(bot, USER, question, right=n < 16)
        bot.api.wait_for(lambda s: s.chat_id == USER and "测验结束" in s.text)
        sent = bot.api.wait_for_questions(USER, 20)
        assert all(s.method == "sendPoll" for s in sent)  # multiple-answer questions too: one quiz poll each
        several = [s for s in sent if len(s.params["correct_option_ids"]) > 1]
        assert all(s.params["allows_multiple_answers"] for s in several)
        rows = bot.dialogue.store.rows("select * from quiz_answers order by idx")
        assert [r["idx"] for r in rows] == list(range(20))
        done = bot.dialogue.store.one("select * from quiz_attempts")
        assert done["status"] == "finished" and done["correct"] == sum(r["correct"] for r in rows) == 16
        assert done["passed"] == 1 and done["credits"] == 2.0 and done["cert_code"]
        code = done["cert_code"]

        score = bot.ask(USER, "/myscore")[-1].text
        finished_local = localtime.show(done["finished_at"], "Asia/Shanghai")
        assert finished_local in score and "2026年质量月" in score and "累计继续教育学时：2" in score
        bot.api.push(bot.api.message(USER, "/certificate"))
        pdf_sent = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.chat_id == USER)[0]
        assert f"验证码：{code}" in bot.api.messages_to(USER)[-1].text
        page = PdfReader(io.BytesIO(pdf_sent.files["document"][1])).pages[0]
        assert "张三" in page.extract_text() and code in page.extract_text()
        fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
        described = [d.get_object()["/FontDescriptor"] for f in fonts for d in f.get("/DescendantFonts", [f])
                     if "/FontDescriptor" in d.get_object()]
        assert described and all("/FontFile2" in d for d in described)  # the CJK font is embedded …
        assert not any("STSong" in str(f["/BaseFont"]) for f in fonts)  # … and no font that is not
        import zxingcpp
        from PIL import Image

        qr = Image.open(io.BytesIO(page.images[0].data)).convert("L")
        assert [r.text for r in zxingcpp.read_barcodes(qr)] == [f"https://t.me/zhiliangtong_bot?start=verify_{code}"]

        checked = bot.ask(OTHER, f"/verify {code.lower()}")[-1].text  # anyone may check
        for expected in ("有效", "张三", "广州某建设集团有限公司", "质量员", "粤144000123", "2026年质量月", "80 分"):
            assert expected in checked
        linked = bot.ask(OTHER, f"/start verify_{code}")[-1].text  # t.me/<bot>?start=verify_CODE
        assert "张三" in linked and "有效" in linked
        assert "不存在" in bot.ask(OTHER, "/verify ZLT-0000-0000-0000")[-1].text
        assert "已撤销" in bot.ask(ADMIN, f"/revoke {code} 代考")[-1].text
        assert "已撤销" in bot.ask(OTHER, f"/verify {code}")[-1].text

        assert "排行榜上还没有人" in bot.ask(OTHER, "/leaderboard")[-1].text  # opt-in
        assert "加入排行榜" in bot.ask(USER, "/leaderboard on")[-1].text
        board = bot.ask(OTHER, "/leaderboard")[-1].text
        assert "张*" in board and "张三" not in board
        bot.api.push(bot.api.message(ADMIN, "/export"))
        sent_xlsx = bot.api.wait_for(lambda s: s.method == "sendDocument"
                                     and s.files["document"][0].endswith(".xlsx"))[0]
        book = load_workbook(io.BytesIO(sent_xlsx.files["document"][1]))
        records = [[c.value for c in r] for r in book["测验记录"].iter_rows()]
        assert len(records) == 2 and records[1][1] == "2026年质量月" and records[1][4] == "张三"
        assert records[1][12] == 80 and records[1][16] == "已撤销"
        bot.api.push(bot.api.message(ADMIN, "/quizstats"))
        charts = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.files["document"][0].endswith(".png"))
        assert charts[0].files["document"][1].startswith(b"\x89PNG")
    finally:
        bot.stop()
        bot.api.stop()


def test_group_chat_gets_a_link_to_the_private_chat_and_nothing_else(bot: RunningBot) -> None:
    group = -100
    for user, text in ((USER, "/quiz"), (ADMIN, "/export"), (ADMIN, "/quizstats"), (USER, "/myscore"),
                       (USER, "/verify ZLT-0000-0000-0000"), (ADMIN, "/campaign open 测试@2026-09-01..2026-09-30")):
        before = len(bot.api.messages_to(group))
        bot.api.push(bot.api.message(user, text, chat_id=group))
        reply = bot.api.wait_for_messages(group, before + 1)[-1]
        assert "私聊" in reply.text, text
        links = [b.get("url", "") for row in reply.buttons for b in row]
        assert links and links[0].startswith("https://t.me/zhiliangtong_bot"), text
    time.sleep(1)
    calls = [c.method for c in bot.api.calls_to(group)]
    assert set(calls) <= {"sendMessage", "sendChatAction"} and calls.count("sendMessage") == 6
    assert bot.dialogue.store.rows("select * from quiz_attempts") == []
    assert bot.dialogue.quiz.campaigns.all() == []
    assert bot.api.messages_to(USER) == [] and bot.api.messages_to(ADMIN) == []


def test_campaign_switch_and_formula_neutralised(corpus_settings, embedder, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    bot = start_bot(corpus_settings, embedder, tmp_path, quiz_size=5, quiz_attempts=1, quiz_cooldown_minutes=0.0)
    try:
        today = localtime.today("Asia/Shanghai")
        window = f"{today - timedelta(days=1)}..{today + timedelta(days=1)}"
        assert "当前没有进行中的活动" in bot.ask(ADMIN, "/campaign")[-1].text
        assert "已开启活动" in bot.ask(ADMIN, f"/campaign open 2025年质量月@{window} credits=3")[-1].text
        evil = '=HYPERLINK("http://evil.example","点我")'
        bot.api.push(bot.api.message(USER, "/profile 李四 @SUM(1+1) +施工员", first_name=evil))
        bot.api.wait_for_messages(USER, 1)
        bot.api.push(bot.api.message(USER, "/quiz", first_name=evil))
        _take_quiz(bot, USER, right=5)
        assert "达到允许的次数" in bot.ask(USER, "/quiz")[-1].text  # one attempt per campaign
        assert "已关闭活动" in bot.ask(ADMIN, "/campaign close")[-1].text
        practice = bot.ask(USER, "/quiz")  # between campaigns: practice
        assert any("本次为练习" in m.text for m in practice)
        _take_quiz(bot, USER, right=5, first=5)
        assert "已开启活动" in bot.ask(ADMIN, f"/campaign open 2026年质量月 {window} credits=4")[-1].text
        bot.api.push(bot.api.message(USER, "/quiz"))
        _take_quiz(bot, USER, right=4, first=10)  # a new campaign: a new allowance, credits again
        score = bot.ask(USER, "/myscore")[-1].text
        assert "2025年质量月：继续教育学时 3" in score and "2026年质量月：继续教育学时 4" in score
        bot.api.push(bot.api.message(ADMIN, "/export"))
        sent = bot.api.wait_for(lambda s: s.method == "sendDocument" and s.files["document"][0].endswith(".xlsx"))[0]
        book = load_workbook(io.BytesIO(sent.files["document"][1]))
        rows = [[c.value for c in r] for r in book["测验记录"].iter_rows(min_row=2)]
        assert [(r[1], r[2][:4]) for r in rows] == [("2025年质量月", "在线测验"), ("练习", "在线练习"),
                                                     ("2026年质量月", "在线测验")]
        assert rows[1][4] == "李四"  # practice keeps the profile too
        cells = [c for r in book["测验记录"].iter_rows(min_row=2) for c in r if isinstance(c.value, str)]
        assert {"'@SUM(1+1)", "'+施工员"} <= {c.value for c in cells}
        assert all(c.data_type == "s" and not c.value.startswith(("=", "+", "-", "@")) for c in cells)
        summary = [[c.value for c in r] for r in book["单位汇总"].iter_rows(min_row=2)]
        assert [(r[0], r[1], r[2], r[6]) for r in summary] == [("2025年质量月", "'@SUM(1+1)", 1, 3),
                                                               ("2026年质量月", "'@SUM(1+1)", 1, 4)]
    finally:
        bot.stop()
        bot.api.stop()


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


def test_follow_up_in_telegram_is_read_with_the_previous_question(bot: RunningBot) -> None:
    first = bot.ask(USER, "塔机安装验收合格以后还要去哪里办登记，有期限吗")[-1]
    assert "第三十五条" in first.text and first.text.startswith("<blockquote>")
    assert "<b>" in first.text and "<b>施工</b>" not in first.text  # terms that matched, not every word
    follow = bot.ask(USER, "这是哪一条？")[-1]
    assert "接上一问" in follow.text and "《建设工程安全生产管理条例》第三十五条" in follow.text
    # Another chat has no context: the same words there are read on their own.
    other = bot.ask(OTHER, "这是哪一条？")[-1]
    assert "接上一问" not in other.text


def test_duties_come_in_pages_with_buttons(bot: RunningBot) -> None:
    reply = bot.ask(USER, "/duties 施工单位")[-1]
    assert "施工单位的义务：共" in reply.text and "《建设工程质量管理条例》" in reply.text
    data = {b["text"]: b["callback_data"] for row in reply.buttons for b in row}
    next_page = next(v for k, v in data.items() if k.startswith("下一页"))
    before = len(bot.api.messages_to(USER))
    bot.api.push(bot.api.callback(USER, next_page))
    bot.api.wait_for(lambda s: len(bot.api.messages_to(USER)) > before)
    page_two = bot.api.messages_to(USER)[-1]
    assert "施工单位的义务" in page_two.text and page_two.text != reply.text
    assert any(b["text"].startswith("⬅") for row in page_two.buttons for b in row)
