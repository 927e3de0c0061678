"""Recognising structural lines: article heads, divisions (编/章/节) and attachment markers.

Article heads come in many real layouts: 第一条, 第1条, 第 1 条, 第１条, **第一条**, with a space, a
full-width space, a colon or nothing before the text. A line that merely starts with a reference to an
article (第二条规定的…, 第三十条第二款…) is not a head: it continues the article it stands in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.numerals import CN_DIGITS, to_int

NUM = rf"[{CN_DIGITS}0-9０-９]+"
_GAP = r"[ \t\u3000]*"
_SEP = r"[ \t\u3000:：]*"
_ARTICLE = re.compile(
    rf"^(?:\*\*)?第{_GAP}({NUM}){_GAP}条(之[一二三四五六七八九十]+)?(?:\*\*)?({_SEP})(.*)$"
)
_DIVISION = re.compile(rf"^(?:#+\s*)?(第{_GAP}{NUM}{_GAP}([编章节]))({_SEP})(.*)$")
# What follows 第X条 when the line begins with a reference rather than an article.
_REFERENCE_TAIL = re.compile(
    rf"^(?:第{_GAP}{NUM}{_GAP}[款项目]|规定|所[称列指述]|之规定|以及|或者|[、，,及和与或至到的])"
)
_ATTACHMENT = re.compile(
    r"^(?:#+\s*)?(附件|附表|附录)[ \t\u3000]*([0-9０-９一二三四五六七八九十]*)"
    r"(?:[ \t\u3000]*[：:][ \t\u3000]*|[ \t\u3000]+|$)(.*)$"
)
_BODY_END = "。；;：:！？!?"
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True)
class ArticleHead:
    number: int
    suffix: str  # 之一 …, or ""
    rest: str  # the article's text on its first line
    separated: bool  # a space or colon stood between 第X条 and the text


def article_head(line: str) -> ArticleHead | None:
    """The article a line opens, or None (also for a line that starts with a reference)."""
    match = _ARTICLE.match(line)
    if not match:
        return None
    number = to_int(match.group(1).translate(_FULL_WIDTH_DIGITS))
    if number is None or number <= 0:
        return None
    separated = bool(match.group(3))
    rest = match.group(4).strip()
    if not separated and _REFERENCE_TAIL.match(rest):
        return None
    return ArticleHead(number, match.group(2) or "", rest, separated)


def division(line: str) -> tuple[str, str] | None:
    """(level 编/章/节, name such as "第一章 总则") of a division heading, else None."""
    match = _DIVISION.match(line)
    if not match or len(line) > 40:
        return None
    rest = match.group(4).strip()
    if not match.group(3) and _REFERENCE_TAIL.match(rest):
        return None
    if article_head(line.lstrip("# ")) is not None:
        return None
    label = re.sub(r"[ \t\u3000]+", "", match.group(1)).translate(_FULL_WIDTH_DIGITS)
    return match.group(2), f"{label} {rest}".strip()


def attachment(line: str) -> tuple[str, str] | None:
    """(name such as 附件1 or 附表, title on the same line) of an attachment marker, else None."""
    match = _ATTACHMENT.match(line)
    if not match or len(line) > 60:
        return None
    title = match.group(3).strip()
    if title and (title[-1] in _BODY_END or len(title) > 50):
        return None
    number = match.group(2).translate(_FULL_WIDTH_DIGITS)
    if number and not number.isdigit():
        value = to_int(number)
        number = str(value) if value else number
    return f"{match.group(1)}{number}", title

