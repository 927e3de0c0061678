"""The stand-in Bot API refuses what Telegram refuses, so that tests cannot pass where production fails."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fake_bot_api import TOKEN, FakeBotApi


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    server = FakeBotApi().start()
    yield server
    server.stop()


def _call(api: FakeBotApi, method: str, **params) -> tuple[int, dict]:
    response = httpx.post(f"{api.base_url}{TOKEN}/{method}", json=params, timeout=5)
    return response.status_code, response.json()


POLL = {"chat_id": 7, "question": "塔吊装完多久登记？", "options": [{"text": "三十日内"}, {"text": "六十日内"}],
        "type": "quiz", "correct_option_ids": [0], "is_anonymous": False, "open_period": 30,
        "explanation": "《建设工程安全生产管理条例》第三十五条"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"open_period": 1}, "open_period"),
        ({"open_period": 601}, "open_period"),
        ({"explanation": "一\n二\n三\n四"}, "explanation"),
        ({"explanation": "解" * 201}, "explanation"),
        ({"question": "问" * 301}, "question"),
        ({"options": [{"text": "长" * 101}, {"text": "短"}]}, "options"),
        ({"options": [{"text": str(n)} for n in range(13)]}, "2-12"),
        ({"options": [{"text": "唯一"}]}, "2-12"),
        ({"correct_option_ids": [5]}, "correct option"),
    ],
)
def test_polls_outside_telegrams_limits_are_refused(api: FakeBotApi, change: dict, reason: str) -> None:
    status, body = _call(api, "sendPoll", **{**POLL, **change})
    assert status == 400 and body["ok"] is False and reason in body["description"]
    assert not api.sent and api.rejected


def test_a_poll_within_the_limits_is_accepted(api: FakeBotApi) -> None:
    status, body = _call(api, "sendPoll", **{**POLL, "open_period": 5, "explanation": "一\n二\n三"})
    assert status == 200 and body["result"]["poll"]["id"]


def test_message_length_counts_the_visible_text_in_utf16(api: FakeBotApi) -> None:
    tagged = "<b>" + "质" * 4096 + "</b>"  # 4,103 characters with tags, 4,096 visible
    assert _call(api, "sendMessage", chat_id=1, text=tagged, parse_mode="HTML")[0] == 200
    assert _call(api, "sendMessage", chat_id=2, text="质" * 4097)[0] == 400
    assert _call(api, "sendMessage", chat_id=3, text="📖" * 2049)[0] == 400  # two UTF-16 units each
    assert _call(api, "sendMessage", chat_id=4, text="&amp;" * 4096, parse_mode="HTML")[0] == 200
    assert _call(api, "sendMessage", chat_id=5, text="  ")[0] == 400


@pytest.mark.parametrize("text", ["<b>未闭合", "A & B", "<b>交错<i>标签</b></i>", "<script>x</script>", "&am"])
def test_html_telegram_cannot_parse_is_refused(api: FakeBotApi, text: str) -> None:
    status, body = _call(api, "sendMessage", chat_id=1, text=text, parse_mode="HTML")
    assert status == 400 and "can't parse entities" in body["description"]


def test_callback_data_over_64_bytes_is_refused(api: FakeBotApi) -> None:
    def keyboard(data: str) -> dict:
        return {"inline_keyboard": [[{"text": "按钮", "callback_data": data}]]}

    assert _call(api, "sendMessage", chat_id=1, text="好", reply_markup=keyboard("质" * 21 + "a"))[0] == 200
    status, body = _call(api, "sendMessage", chat_id=2, text="好", reply_markup=keyboard("质" * 22))
    assert status == 400 and "BUTTON_DATA_INVALID" in body["description"]


def test_a_chat_sent_more_than_about_one_message_a_second_gets_429(api: FakeBotApi) -> None:
    statuses = [_call(api, "sendMessage", chat_id=9, text=f"第{n}条")[0] for n in range(6)]
    assert statuses[:4] == [200] * 4 and 429 in statuses[4:]
    status, body = _call(api, "sendMessage", chat_id=9, text="再来")
    assert status == 429 and body["parameters"]["retry_after"] >= 1
    assert _call(api, "sendMessage", chat_id=10, text="别的对话不受影响")[0] == 200
    assert _call(api, "sendChatAction", chat_id=9, action="typing")[0] == 200  # not a message
    assert len(api.messages_to(9)) == 4


def test_planted_faults_fail_the_next_calls(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", status=502, description="Bad Gateway")
    assert _call(api, "sendMessage", chat_id=1, text="一")[0] == 502
    assert _call(api, "sendMessage", chat_id=1, text="二")[0] == 200
    assert json.dumps([s.text for s in api.messages_to(1)], ensure_ascii=False) == '["二"]'
