"""Retries that cannot duplicate a message, and quiz questions fitted into Telegram's poll limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.dialogue.replies import PollSpec
from bot.telegram_delivery import deliver, retry_is_safe
from bot.telegram_limits import fits_a_poll, poll_fields


def _caused(exc: Exception, cause: Exception) -> Exception:
    exc.__cause__ = cause
    return exc


FIVE_XX = NetworkError("Internal Server Error")  # what PTB raises when Telegram answers 5xx
UNSENT = _caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused"))
POOL = TimedOut("Pool timeout: All connections in the connection pool are occupied.")
ANSWER_LOST = _caused(TimedOut(), httpx.ReadTimeout("read"))  # Telegram may have sent the message
CUT_OFF = _caused(NetworkError("httpx.ReadError"), httpx.ReadError("reset"))


@pytest.mark.parametrize(
    ("error", "safe"),
    [(FIVE_XX, True), (UNSENT, True), (POOL, True), (RetryAfter(1), True),
     (ANSWER_LOST, False), (CUT_OFF, False), (BadRequest("message text is empty"), False), (Forbidden("x"), False)],
)
def test_only_failures_that_cannot_have_delivered_are_retried(error: Exception, safe: bool) -> None:
    assert retry_is_safe(error) is safe


def _flaky(errors: list[Exception]):
    calls: list[int] = []

    async def send() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "sent"

    return send, calls


def test_deliver_retries_5xx_and_429_then_succeeds() -> None:
    send, calls = _flaky([FIVE_XX, RetryAfter(1), UNSENT])
    assert asyncio.run(deliver(send, "quiz question", backoff=0.01)) == "sent"
    assert len(calls) == 4


@pytest.mark.parametrize("error", [ANSWER_LOST, CUT_OFF, BadRequest("can't parse entities")])
def test_deliver_never_retries_what_may_duplicate_or_cannot_succeed(error: Exception) -> None:
    send, calls = _flaky([error])
    with pytest.raises(type(error)):
        asyncio.run(deliver(send, "verdict", backoff=0.01))
    assert len(calls) == 1


def test_deliver_gives_up_after_its_attempts() -> None:
    send, calls = _flaky([FIVE_XX] * 10)
    with pytest.raises(NetworkError):
        asyncio.run(deliver(send, "quiz question", attempts=3, backoff=0.01))
    assert len(calls) == 3


def _spec(**changes) -> PollSpec:
    base = dict(attempt_id=1, index=0, total=10, question="（1/10）塔吊装完多久登记？",
                options=("三十日内", "六十日内"), correct=(0,), multiple=False, explanation="依据第三十五条。",
                open_period=60)
    return PollSpec(**{**base, **changes})


def test_poll_fields_keep_telegrams_limits() -> None:
    fields = poll_fields(_spec())
    assert fields["question"] == "（1/10）塔吊装完多久登记？" and fields["allows_multiple_answers"] is False
    assert poll_fields(_spec(open_period=1))["open_period"] == 5  # Telegram's shortest
    assert poll_fields(_spec(open_period=3600))["open_period"] == 600
    several = poll_fields(_spec(multiple=True, correct=(0, 1)))
    assert several["question"].endswith("（多选）") and several["correct_option_ids"] == [0, 1]
    assert not poll_fields(_spec(question="问" * 298, multiple=True, correct=(0, 1)))["question"].endswith("（多选）")


def test_questions_a_poll_cannot_carry_go_as_buttons() -> None:
    assert fits_a_poll(_spec()) and fits_a_poll(_spec(multiple=True, correct=(0, 1)))
    assert not fits_a_poll(_spec(options=tuple(f"选项{n}" for n in range(13))))
    assert not fits_a_poll(_spec(explanation="一\n二\n三\n四"))
    assert fits_a_poll(_spec(options=("好" * 100, "坏")))
    assert not fits_a_poll(_spec(options=("📖" * 51, "坏")))  # 102 UTF-16 units: Telegram would refuse it
