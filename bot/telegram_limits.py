"""What Telegram accepts in a quiz poll, counted as Telegram counts it.

Limits (Bot API): question 1–300 characters, 2–12 options of 1–100 characters, explanation up to 200
characters with at most 2 line feeds, open_period 5–600 seconds. Lengths are UTF-16 code units (an emoji
outside the BMP counts two). A question a poll cannot carry goes out with tick buttons instead.
"""

from __future__ import annotations

from telegram import Poll

from bot.dialogue.replies import PollSpec

POLL_QUESTION = 300
POLL_OPTION = 100
EXPLANATION = 200
OPEN_PERIOD = (5, 600)
MULTIPLE_HINT = "（多选）"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def open_period(seconds: int) -> int:
    """A question's time, within what Telegram allows."""
    return max(OPEN_PERIOD[0], min(OPEN_PERIOD[1], int(seconds)))


def fits_a_poll(spec: PollSpec) -> bool:
    """:attr:`PollSpec.fits_poll`, with lengths counted in UTF-16 units as Telegram counts them."""
    return (spec.fits_poll and utf16_len(spec.question) <= POLL_QUESTION
            and all(utf16_len(o) <= POLL_OPTION for o in spec.options)
            and utf16_len(spec.explanation) <= EXPLANATION)


def poll_fields(spec: PollSpec) -> dict:
    """Keyword arguments of ``Bot.send_poll`` for a question that :func:`fits_a_poll`."""
    question = spec.question
    if spec.multiple and utf16_len(question + MULTIPLE_HINT) <= POLL_QUESTION:
        question += MULTIPLE_HINT
    return {
        "question": question,
        "options": list(spec.options),
        "is_anonymous": False,
        "type": Poll.QUIZ,
        "allows_multiple_answers": spec.multiple,
        "correct_option_ids": list(spec.correct),
        "explanation": spec.explanation,
        "open_period": open_period(spec.open_period),
    }
