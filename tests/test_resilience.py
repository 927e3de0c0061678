"""A bot that keeps moving: flood gate on everything, bounded pools, Telegram errors retried safely.

End to end: the real python-telegram-bot stack against the stand-in Bot API (and a stand-in LLM) on 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.bot_harness import ADMIN, OTHER, USER, RunningBot, start_bot
from tests.fake_bot_api import Sent
from tests.fake_llm import FakeLLM
from tests.test_telegram import _answer_current

QUESTION = "施工单位对进场的钢筋水泥要检验吗？检验要有书面记录吗？"
SUMMARY = "需要检验。依据《建设工程质量管理条例》第二十九条，检验应当有书面记录和专人签字。"


def _settled(bot: RunningBot, chat_id: int, quiet: float = 2.0, timeout: float = 60.0) -> list[Sent]:
    """The messages to ``chat_id`` once none has arrived for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(bot.api.messages_to(chat_id))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.1)
    return bot.api.messages_to(chat_id)


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_flood_gate_covers_commands_and_buttons(bot: RunningBot) -> None:
    for _ in range(20):
        bot.api.push(bot.api.message(USER, "/help"))
    messages = _settled(bot, USER)
    assert sum("太快" in m.text for m in messages) == 1
    assert sum("直接发送您的问题" in m.text for m in messages) == bot.settings.flood_burst

    for _ in range(15):
        bot.api.push(bot.api.callback(OTHER, "up:987654"))
    messages = _settled(bot, OTHER)
    assert sum("已过期" in m.text for m in messages) == bot.settings.flood_burst
    answers = [s for s in bot.api.sent if s.method == "answerCallbackQuery"]
    assert len(answers) == 15 and sum("太快" in str(a.params.get("text", "")) for a in answers) == 1
    assert not bot.api.rejected  # paced within Telegram's limits throughout


def test_telegram_errors_are_retried_for_quiz_questions_and_answers(bot: RunningBot) -> None:
    bot.api.fail_next("sendPoll", status=502, description="Bad Gateway", times=2)
    bot.api.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)
    bot.api.push(bot.api.message(USER, "/quiz"))
    first = bot.api.wait_for_questions(USER, 1, timeout=60)[0]
    assert sum(1 for s, _ in bot.api.rejected if s.method in {"sendPoll", "sendMessage"}) >= 2
    time.sleep(1.5)
    assert len(bot.api.wait_for_questions(USER, 1)) == 1  # delivered once, not once per attempt
    assert any("每题" in m.text for m in bot.api.messages_to(USER))  # the introduction got through too

    bot.api.fail_next("sendPoll", status=429, description="Too Many Requests: retry after 1", retry_after=1)
    bot.api.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1)
    _answer_current(bot, USER, first, right=True)
    assert len(bot.api.wait_for_questions(USER, 2, timeout=60)) == 2

    bot.api.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1)
    answers = [m for m in bot.ask(OTHER, QUESTION, timeout=60) if "第二十九条" in m.text]
    time.sleep(1.5)
    assert len(answers) == 1 and len([m for m in bot.api.messages_to(OTHER) if "第二十九条" in m.text]) == 1


def test_answers_and_quizzes_keep_moving_while_the_work_pool_is_stalled(corpus_settings, embedder,
                                                                       tmp_path: Path) -> None:
    llm = FakeLLM(reply=SUMMARY).start()  # answers at once while the index is rebuilt, then hangs
    bot = start_bot(corpus_settings, embedder, tmp_path, llm_base_url=llm.url, llm_model="qwen-test",
                    llm_timeout=120.0, work_workers=1, work_queue=0, llm_concurrency=1, quiz_open_period=300)
    try:
        # A re-index takes the only work thread: questions and quiz steps go on meanwhile.
        bot.api.push(bot.api.message(ADMIN, "/reindex"))
        bot.api.push(bot.api.message(USER, "/quiz"))
        first = bot.api.wait_for_questions(USER, 1, timeout=60)[0]
        _answer_current(bot, USER, first, right=True)
        second = bot.api.wait_for_questions(USER, 2, timeout=60)[1]
        assert "没有找到" in bot.ask(OTHER, "公积金贷款买二套房，首付最低要几成？")[-1].text
        assert "仅限管理员" in bot.ask(OTHER, "/export")[-1].text  # refusals do not wait for the work pool
        assert "较多" in bot.ask(ADMIN, "/export")[-1].text  # the work pool is full: a polite "try again"
        reindexed = bot.api.wait_for(lambda s: s.chat_id == ADMIN and "索引已更新" in s.text, timeout=300)[0]
        assert second.at < reindexed.at

        # Now a stalled LLM holds the work thread: the answer comes at once, extractive.
        llm.hang, calls = 120, len(llm.requests)
        answer = bot.ask(USER, QUESTION, timeout=60)[-1]
        assert "第二十九条" in answer.text and "原文摘录" in answer.text
        _until(lambda: len(llm.requests) == calls + 1)
        answered = llm.answered
        again = bot.ask(OTHER, QUESTION, timeout=60)[-1]  # the LLM lane is full: no second call waits
        assert "第二十九条" in again.text and len(llm.requests) == calls + 1 and llm.answered == answered
        assert "较多" in bot.ask(ADMIN, "/export")[-1].text
        _answer_current(bot, USER, second, right=False)
        bot.api.wait_for_questions(USER, 3, timeout=60)

        # The model answers: its checked summary follows the answer it belongs to.
        llm.release()
        summary = bot.api.wait_for(lambda s: s.chat_id == USER and "语言模型" in s.text, timeout=60)[0]
        assert summary.text.startswith("需要检验") and "引用已核对" in summary.text
        assert summary.params["reply_parameters"]["message_id"] == answer.result["message_id"]
        asked = bot.dialogue.store.one("select * from questions where user_id = ? order by id", [USER])
        assert asked["mode"] == "llm" and asked["answer"].startswith("需要检验")
        bot.api.push(bot.api.message(ADMIN, "/export"))
        bot.api.wait_for(lambda s: s.method == "sendDocument" and s.chat_id == ADMIN, timeout=60)
        assert not bot.api.rejected
    finally:
        bot.stop()
        bot.api.stop()
        llm.stop()
