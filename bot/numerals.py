"""Chinese numerals as used in article labels (第一百二十三条)."""

from __future__ import annotations

import re

import cn2an

CN_DIGITS = "零〇一二两三四五六七八九十百千"
NUM_PATTERN = rf"[{CN_DIGITS}\d]+"


def to_int(numeral: str) -> int | None:
    """Parse a Chinese or Arabic numeral; None when it is neither."""
    numeral = numeral.strip()
    if not numeral:
        return None
    if numeral.isdigit():
        return int(numeral)
    try:
        value = cn2an.cn2an(numeral.replace("〇", "零").replace("两", "二"), "smart")
    except (ValueError, KeyError):
        return None
    return int(value)


def to_chinese(number: int) -> str:
    """123 -> 一百二十三, the form article labels use."""
    return str(cn2an.an2cn(number))


def article_label(number: int, suffix: str = "") -> str:
    """30 -> 第三十条; with suffix 之一 -> 第三十条之一."""
    return f"第{to_chinese(number)}条{suffix}"


_ARTICLE_RE = re.compile(rf"第({NUM_PATTERN})条(之[一二三四五六七八九十]+)?")


def normalize_article_label(text: str) -> str | None:
    """第30条 / 第三十条 -> 第三十条 (None if ``text`` holds no article reference)."""
    match = _ARTICLE_RE.search(text)
    if not match:
        return None
    number = to_int(match.group(1))
    if number is None:
        return None
    return article_label(number, match.group(2) or "")
