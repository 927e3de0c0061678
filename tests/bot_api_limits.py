"""Telegram's limits, as the stand-in Bot API enforces them: a request Telegram would reject is rejected.

Sources: the Bot API reference (sendMessage, sendPoll, InlineKeyboardButton, formatting options) and
Telegram's FAQ on flood limits (about one message per second in a chat, short bursts tolerated).
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
from typing import Any

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
POLL_QUESTION_LIMIT = 300
POLL_OPTION_LIMIT = 100
POLL_OPTIONS = (2, 12)
EXPLANATION_LIMIT = 200
EXPLANATION_LINE_FEEDS = 2
OPEN_PERIOD = (5, 600)
CALLBACK_DATA_BYTES = 64
CALLBACK_ANSWER_LIMIT = 200
# Methods that put a new message into a chat (the ones flood control counts).
NEW_MESSAGE_METHODS = {"sendMessage", "sendPoll", "sendDocument", "sendPhoto", "sendMediaGroup", "copyMessage",
                       "forwardMessage"}
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                 "pre", "blockquote", "tg-emoji"}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>|&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|[<>&]")


class Rejected(Exception):
    """What Telegram would answer: a status and a description (and parameters for 429)."""

    def __init__(self, status: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of a message in Telegram's HTML; raises Rejected where Telegram cannot parse it."""
    visible: list[str] = []
    stack: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        visible.append(text[position:match.start()])
        position = match.end()
        closing, tag, _attributes, entity = match.group(1), match.group(2), match.group(3), match.group(4)
        if entity is not None:
            visible.append(html.unescape(match.group(0)))
        elif tag is None:
            raise Rejected(400, f"Bad Request: can't parse entities: unexpected character {match.group(0)!r} "
                                f"at byte offset {match.start()}")
        elif tag.lower() not in _ALLOWED_TAGS:
            raise Rejected(400, f"Bad Request: can't parse entities: unsupported start tag \"{tag}\"")
        elif closing:
            if not stack or stack[-1] != tag.lower():
                raise Rejected(400, f"Bad Request: can't parse entities: can't find end tag corresponding to "
                                    f"start tag \"{stack[-1] if stack else tag}\"")
            stack.pop()
        else:
            stack.append(tag.lower())
    if stack:
        raise Rejected(400, f"Bad Request: can't parse entities: can't find end tag corresponding to start tag "
                            f"\"{stack[-1]}\"")
    visible.append(text[position:])
    return "".join(visible)


def _text(params: dict, field: str, limit: int, required: bool) -> None:
    raw = str(params.get(field, "") or "")
    visible = parse_html(raw) if str(params.get("parse_mode", "")).upper() == "HTML" else raw
    if required and not visible.strip():
        raise Rejected(400, f"Bad Request: message {field} is empty")
    if utf16_len(visible) > limit:
        raise Rejected(400, "Bad Request: message is too long" if field == "text" else
                       f"Bad Request: message {field} is too long")


def _keyboard(params: dict) -> None:
    markup = params.get("reply_markup")
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not str(button.get("text", "")).strip():
                raise Rejected(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_BYTES:
                raise Rejected(400, "Bad Request: BUTTON_DATA_INVALID")


def _poll(params: dict) -> None:
    question = str(params.get("question", ""))
    if not 1 <= utf16_len(question) <= POLL_QUESTION_LIMIT:
        raise Rejected(400, "Bad Request: poll question length must not exceed 300")
    options = [o if isinstance(o, str) else str(o.get("text", "")) for o in params.get("options", [])]
    if not POLL_OPTIONS[0] <= len(options) <= POLL_OPTIONS[1]:
        raise Rejected(400, "Bad Request: poll must have 2-12 options")
    if any(not 1 <= utf16_len(o) <= POLL_OPTION_LIMIT for o in options):
        raise Rejected(400, "Bad Request: poll options length must not exceed 100")
    explanation = str(params.get("explanation", "") or "")
    if utf16_len(explanation) > EXPLANATION_LIMIT or explanation.count("\n") > EXPLANATION_LINE_FEEDS:
        raise Rejected(400, "Bad Request: explanation must be 0-200 characters with at most 2 line feeds")
    period = params.get("open_period")
    if period is not None and not OPEN_PERIOD[0] <= int(period) <= OPEN_PERIOD[1]:
        raise Rejected(400, "Bad Request: open_period must be between 5 and 600")
    if params.get("type") == "quiz":
        correct = params.get("correct_option_ids")
        if correct is None and params.get("correct_option_id") is not None:
            correct = [params["correct_option_id"]]
        if not correct or any(not 0 <= int(i) < len(options) for i in correct):
            raise Rejected(400, "Bad Request: wrong correct option ids specified")


def validate(method: str, params: dict[str, Any], files: dict) -> None:
    """Raise Rejected when Telegram would refuse this call (limits the bot can meet)."""
    if method in {"sendMessage", "editMessageText"}:
        _text(params, "text", TEXT_LIMIT, required=True)
        _keyboard(params)
    elif method == "sendPoll":
        _poll(params)
        _keyboard(params)
    elif method in {"sendDocument", "sendPhoto"}:
        _text(params, "caption", CAPTION_LIMIT, required=False)
        _keyboard(params)
        field = "document" if method == "sendDocument" else "photo"
        if field not in files and not params.get(field):
            raise Rejected(400, f"Bad Request: there is no {field} in the request")
    elif method == "editMessageReplyMarkup":
        _keyboard(params)
    elif method == "answerCallbackQuery":
        if utf16_len(str(params.get("text", "") or "")) > CALLBACK_ANSWER_LIMIT:
            raise Rejected(400, "Bad Request: MESSAGE_TOO_LONG")


class ChatFloodControl:
    """About one new message per second in each chat, with a short burst: a token bucket per chat."""

    def __init__(self, burst: int = 4, per_second: float = 1.0) -> None:
        self.burst, self.per_second = burst, per_second
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._lock = threading.Lock()

    def admit(self, chat_id: int) -> None:
        """Take a token for ``chat_id`` or raise Rejected (429 with retry_after, in whole seconds)."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(chat_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            if tokens < 1.0:
                self._buckets[chat_id] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.per_second))
                raise Rejected(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
            self._buckets[chat_id] = (tokens - 1.0, now)
