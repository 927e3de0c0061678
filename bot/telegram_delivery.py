"""Getting messages to Telegram: pacing within its limits, and retrying the sends that matter.

Pacing (:class:`ChatPacer`, python-telegram-bot's rate-limiter interface) keeps every chat at about one new
message a second after a short burst, groups at 20 a minute, and the bot at ``overall`` a second; a 429
(``retry_after``) is waited out and the request made again — Telegram did not process it.

Retrying (:func:`deliver`) is for sends a user must not miss (quiz questions, verdicts): 5xx answers and
failures before the request reached Telegram are retried with backoff. A timeout while waiting for the
answer is not: Telegram may have delivered the message already, and a retry would send it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

# Methods that put a new message into a chat: the ones Telegram's flood control counts.
NEW_MESSAGE = {"sendMessage", "sendPoll", "sendDocument", "sendPhoto", "sendMediaGroup", "copyMessage",
               "forwardMessage", "sendVoice", "sendVideo", "sendAudio", "sendAnimation", "sendSticker"}
CHAT_BURST = 3  # messages a chat may get at once …
CHAT_PER_SECOND = 1.0  # … and then per second
GROUP_PER_MINUTE = 20
# Exceptions of httpx after which the request certainly did not reach Telegram (or was cut off unsent).
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout, httpx.WriteError)


def seconds(retry_after: int | float | dt.timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dt.timedelta) else float(retry_after)


class ChatPacer(BaseRateLimiter[int]):
    """Throttles new messages per chat (always) and overall (``overall`` per second, 0 for no limit)."""

    def __init__(self, overall: float = 30.0, max_retries: int = 3, chat_burst: int = CHAT_BURST,
                 chat_per_second: float = CHAT_PER_SECOND) -> None:
        self._overall = AsyncLimiter(overall, 1) if overall > 0 else None
        self._max_retries = max_retries
        self._chat_burst, self._chat_per_second = chat_burst, chat_per_second
        self._chats: dict[int | str, tuple[AsyncLimiter, float]] = {}
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _chat_limiter(self, chat_id: int | str) -> AsyncLimiter:
        now = time.monotonic()
        if len(self._chats) > 10_000:  # forget chats idle for a minute (their buckets are full again)
            self._chats = {k: v for k, v in self._chats.items() if now - v[1] < 60}
        limiter = self._chats.get(chat_id, (None, 0.0))[0] or AsyncLimiter(
            self._chat_burst, self._chat_burst / self._chat_per_second)
        self._chats[chat_id] = (limiter, now)
        return limiter

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any], endpoint: str,
        data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        paced = endpoint in NEW_MESSAGE and chat_id is not None
        group = paced and (isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0))
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        for attempt in range(retries + 1):
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if paced:
                        await stack.enter_async_context(self._chat_limiter(chat_id))
                    if group:
                        limiter = self._groups.setdefault(chat_id, AsyncLimiter(GROUP_PER_MINUTE, 60))
                        await stack.enter_async_context(limiter)
                    if self._overall is not None and endpoint != "sendChatAction":
                        await stack.enter_async_context(self._overall)
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                wait = seconds(exc._retry_after) + 0.1  # noqa: SLF001 - the timedelta, without the deprecation
                log.info("Telegram asked to wait %.1f s before %s to %s", wait, endpoint, chat_id)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def retry_is_safe(exc: TelegramError) -> bool:
    """Whether sending again cannot duplicate a message: Telegram refused it or never received it."""
    if isinstance(exc, RetryAfter):
        return True
    if isinstance(exc, TimedOut):
        return isinstance(exc.__cause__, _UNSENT) or "Pool timeout" in exc.message
    if type(exc) is NetworkError:
        cause = exc.__cause__
        return cause is None or isinstance(cause, _UNSENT)  # no cause: Telegram answered 5xx
    return False  # BadRequest, Forbidden …: sending again cannot help


async def deliver(send: Callable[[], Awaitable[T]], what: str, attempts: int = 5, backoff: float = 0.5) -> T:
    """Run ``send`` and retry it, with exponential backoff, after failures that cannot have delivered it."""
    for attempt in range(1, attempts + 1):
        try:
            return await send()
        except TelegramError as exc:
            if attempt == attempts or not retry_is_safe(exc):
                raise
            delay = seconds(exc._retry_after) + 0.1 if isinstance(exc, RetryAfter) else (  # noqa: SLF001
                backoff * 2 ** (attempt - 1) * random.uniform(1.0, 1.25))
            log.warning("%s failed (%s); retry %d in %.1f s", what, exc, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
