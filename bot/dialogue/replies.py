"""Structured replies and their two renderings: Telegram HTML and plain terminal text."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

TELEGRAM_LIMIT = 4096
_ENTITY = r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);"
CALLBACK_DATA_BYTES = 64


@dataclass(frozen=True)
class Button:
    text: str
    data: str = ""  # callback data (1–64 bytes, Telegram's limit)
    url: str = ""  # a link instead (e.g. to the bot's private chat)

    def __post_init__(self) -> None:
        if self.url:
            return
        if not 1 <= len(self.data.encode("utf-8")) <= CALLBACK_DATA_BYTES:
            raise ValueError(f"callback data must be 1–64 bytes: {self.data!r}")


@dataclass(frozen=True)
class Block:
    """A paragraph: ``heading`` (a companion's citation), ``quote`` (verbatim text), ``cite`` (the citation
    under the quote it belongs to) or ``text``."""

    text: str
    style: str = "text"
    marks: tuple[str, ...] = ()  # words to emphasise inside a quote


@dataclass
class Attachment:
    filename: str
    data: bytes
    caption: str = ""


@dataclass(frozen=True)
class PollSpec:
    """A quiz question to put to the user (a quiz poll in Telegram, options to type in the terminal)."""

    attempt_id: int
    index: int
    total: int
    question: str
    options: tuple[str, ...]
    correct: tuple[int, ...]
    multiple: bool
    explanation: str
    open_period: int
    selected: tuple[int, ...] = ()  # multiple choice: options ticked so far

    @property
    def fits_poll(self) -> bool:
        """Whether a Telegram quiz poll can carry it (question 300, options 100 characters, 12 options,
        explanation 200 characters with at most 2 line feeds); if not, it goes out with tick buttons."""
        return (len(self.question) <= 300 and 2 <= len(self.options) <= 12
                and all(len(o) <= 100 for o in self.options)
                and len(self.explanation) <= 200 and self.explanation.count("\n") <= 2)

    def toggle_buttons(self) -> list[list[Button]]:
        rows = [[Button(("✅ " if i in self.selected else "⬜ ") + f"{chr(65 + i)}. {o}"[:60],
                        f"mq:{self.attempt_id}:{self.index}:{i}")] for i, o in enumerate(self.options)]
        rows.append([Button("提交答案", f"ms:{self.attempt_id}:{self.index}")])
        return rows


@dataclass
class Reply:
    blocks: list[Block] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    edit: bool = False  # replace the message the button was pressed on (onboarding steps)
    poll: PollSpec | None = None  # a quiz question, sent after the blocks
    # Slow optional work whose reply follows this one (the LLM's summary); adapters run it off the chat path
    # and may drop it when busy.
    followup: Callable[[], Reply | None] | None = None

    @classmethod
    def text(cls, text: str, buttons: list[list[Button]] | None = None) -> Reply:
        return cls([Block(text)], buttons or [])

    def plain(self) -> str:
        parts = []
        for block in self.blocks:
            if block.style == "heading":
                parts.append(f"【{block.text}】")
            elif block.style == "quote":
                parts.append(f"“{block.text}”")
            elif block.style == "cite":
                parts.append(block.text)
            else:
                parts.append(block.text)
        return "\n".join(parts)

    def html_chunks(self, limit: int = TELEGRAM_LIMIT) -> list[str]:
        """HTML messages, every piece of text escaped, split at block (paragraph) boundaries."""
        rendered = [_block_html(b) for b in self.blocks]
        chunks: list[str] = []
        current = ""
        for piece in rendered:
            for part in _split_long(piece, limit):
                if current and len(current) + 1 + len(part) > limit:
                    chunks.append(current)
                    current = part
                else:
                    current = f"{current}\n{part}" if current else part
        if current:
            chunks.append(current)
        return chunks or [""]


def _block_html(block: Block) -> str:
    text = html.escape(block.text)
    if block.style == "heading":
        return f"<b>{text}</b>"
    if block.style == "cite":
        return f"<i>{text}</i>"
    if block.style == "quote":
        marks = [re.escape(html.escape(m)) for m in sorted(block.marks, key=len, reverse=True) if m.strip()]
        if marks:  # entities (&amp; …) are matched first so that a mark never lands inside one
            text = re.sub(f"({_ENTITY})|" + "|".join(marks),
                          lambda m: m.group(0) if m.group(1) else f"<b>{m.group(0)}</b>", text)
        return f"<blockquote>{text}</blockquote>"
    return text


def _split_long(piece: str, limit: int) -> list[str]:
    """A block longer than a message: cut at line breaks, else hard, never inside a tag."""
    if len(piece) <= limit:
        return [piece]
    plain = re.sub(r"</?(?:blockquote|b|i)>", "", piece)
    out, current = [], ""
    for line in plain.split("\n"):
        while len(line) > limit:
            cut = _safe_cut(line, limit)
            out.append(line[:cut])
            line = line[cut:]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def _safe_cut(line: str, limit: int) -> int:
    """Where to cut escaped text at most ``limit`` long: never inside an entity such as ``&amp;``."""
    amp = line.rfind("&", max(0, limit - 9), limit)
    return amp if amp > 0 and ";" not in line[amp:limit] else limit
