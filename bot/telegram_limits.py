"""What Telegram accepts in a quiz poll, and fitting a quiz question into it.

Limits (Bot API): question 1–300 characters, 2–12 options of 1–100 characters, explanation up to 200
characters with at most 2 line feeds, open_period 5–600 seconds. Lengths count UTF-16 code units.
"""

from __future__ import annotations

from telegram import Poll

from bot.dialogue.replies import PollSpec

POLL_QUESTION = 300
POLL_OPTION = 100
POLL_OPTIONS = (2, 12)
EXPLANATION = 200
EXPLANATION_LINE_FEEDS = 2
OPEN_PERIOD = (5, 600)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 units, ending in … when cut."""
    if utf16_len(text) <= limit:
        return text
    out = ""
    for ch in text:
        if utf16_len(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"


def fit_explanation(text: str) -> str:
    """At most two line feeds (later ones become spaces) and 200 characters."""
    lines = text.split("\n")
    if len(lines) > EXPLANATION_LINE_FEEDS + 1:
        lines = lines[:EXPLANATION_LINE_FEEDS] + [" ".join(lines[EXPLANATION_LINE_FEEDS:])]
    return fit("\n".join(lines), EXPLANATION)


def open_period(seconds: int) -> int:
    """A question's time, within what Telegram allows."""
    return max(OPEN_PERIOD[0], min(OPEN_PERIOD[1], int(seconds)))


def fits_a_poll(spec: PollSpec) -> bool:
    """Single-answer questions with 2–12 options go as quiz polls; others as messages with buttons."""
    return not spec.multiple and POLL_OPTIONS[0] <= len(spec.options) <= POLL_OPTIONS[1]


def poll_fields(spec: PollSpec) -> dict:
    """Keyword arguments of ``Bot.send_poll`` for a quiz question, every field within Telegram's limits."""
    return {
        "question": fit(spec.question, POLL_QUESTION),
        "options": [fit(o, POLL_OPTION) for o in spec.options],
        "is_anonymous": False,
        "type": Poll.QUIZ,
        "correct_option_ids": list(spec.correct),
        "explanation": fit_explanation(spec.explanation),
        "open_period": open_period(spec.open_period),
    }
