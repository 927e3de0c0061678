"""Reflow the text layer of a PDF: printed line breaks inside sentences joined, page furniture dropped.

A PDF keeps the lines as printed: "作好隐蔽工\\n程的质量检查" splits a word for the tokenizer and breaks
quotes. Running headers and footers (the same line at the top or bottom of most pages) and page numbers
(3, - 3 -, 第3页, 3/10 …) are removed; then a line that reaches the right margin and does not end a
sentence is joined with the next one, unless the next one opens a structural unit (an article, a
chapter, an item, a numbered heading, an attachment).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from bot.ingest.lines import article_head, attachment, division

_PAGE_NUMBER = re.compile(
    r"^(?:[-—–_·\s]*\d{1,4}[-—–_·\s]*"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/、]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4}"
    r"|(?:page|Page|PAGE)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r"|[-—–]\s*[一二三四五六七八九十百]+\s*[-—–])$"
)
_SENTENCE_END = "。！？!?"
_CLOSERS = "”’」』）)】"
_OPENS_UNIT = re.compile(
    r"^(?:[（(][一二三四五六七八九十百\d]{1,3}[）)]|[一二三四五六七八九十]{1,3}、|\d{1,2}[.．、](?!\d)|#)"
)
EDGE = 3  # lines at the top and at the bottom of a page where furniture is looked for


def reflow_pages(pages: list[str], positions: list[dict[str, list[float]]] | None = None) -> str:
    """The document's text from the text of each page.

    ``positions`` (optional, per page) maps a line's :func:`key` to the heights on the page at which it
    is drawn, in order: a running header sits at the same height on every page, the title on page 1 does not.
    """
    page_lines = [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]
    page_lines = _drop_furniture(page_lines, positions or [{} for _ in pages])
    lines = [line for page in page_lines for line in page]
    return "\n".join(_join_wrapped(lines))


def key(line: str) -> str:
    """A header or footer compared without its digits (which change from page to page) and spaces."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", line))


def _edges(lines: list[str]) -> list[int]:
    return sorted(set(range(min(EDGE, len(lines)))) | set(range(max(0, len(lines) - EDGE), len(lines))))


def _drop_furniture(pages: list[list[str]], positions: list[dict[str, list[float]]]) -> list[list[str]]:
    counts: Counter[str] = Counter()
    heights: dict[str, Counter[float]] = {}
    for lines, where in zip(pages, positions, strict=True):
        keys = {key(lines[i]) for i in _edges(lines)}
        counts.update(keys)
        for k in keys & where.keys():
            heights.setdefault(k, Counter())[round(where[k][0])] += 1
    needed = max(2, (len(pages) + 1) // 2)
    repeated = {k for k, n in counts.items() if n >= needed} if len(pages) >= 2 else set()
    usual = {k: c.most_common(1)[0][0] for k, c in heights.items()}
    return [_strip_page(lines, where, repeated, usual) for lines, where in zip(pages, positions, strict=True)]


def _strip_page(lines: list[str], where: dict[str, list[float]], repeated: set[str],
                usual: dict[str, float]) -> list[str]:
    """Drop page numbers and running headers and footers (each once) near the top and bottom of a page."""
    drop: set[int] = set()
    seen: set[str] = set()
    occurrence: Counter[str] = Counter()
    keys = [key(line) for line in lines]
    for i in range(len(lines)):
        k = keys[i]
        n = occurrence[k]
        occurrence[k] += 1
        if i not in _edges(lines) or k in seen:
            continue
        if _PAGE_NUMBER.match(lines[i]):
            drop.add(i)
        elif i < EDGE and k in keys[i + 1:EDGE + 1]:
            drop.add(i)  # a header above the same words (the title)
            seen.add(k)
        elif k in repeated:
            height = where.get(k, [])[n] if n < len(where.get(k, [])) else None
            if height is not None and k in usual and abs(height - usual[k]) > 3:
                continue  # the same words elsewhere on the page (the title), not the running header
            drop.add(i)
            seen.add(k)
    return [line for i, line in enumerate(lines) if i not in drop]


def width(line: str) -> float:
    """Printed width in full-width characters (Latin letters and digits count half)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in line)


def _full_width(lines: list[str]) -> float:
    """The width of a line that reaches the right margin (the common width of long lines)."""
    widths = sorted(width(line) for line in lines if width(line) >= 8)
    if len(widths) < 3:
        return float("inf")
    return widths[int(0.8 * (len(widths) - 1))]


def _opens_unit(line: str) -> bool:
    return (article_head(line) is not None or division(line) is not None or attachment(line) is not None
            or bool(_OPENS_UNIT.match(line)))


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_END


def _join_wrapped(lines: list[str]) -> list[str]:
    full = _full_width(lines)
    if full < 12:
        return lines
    margin = min(full - 2, 0.85 * full)
    out: list[str] = []
    previous = ""  # the previous printed line (out[-1] may hold several joined ones)
    for line in lines:
        if out and width(previous) >= margin and not _ends_sentence(previous) and not _opens_unit(line):
            out[-1] = _glue(out[-1], line)
        else:
            out.append(line)
        previous = line
    return out


def _glue(left: str, right: str) -> str:
    """Join two pieces of one sentence: no space between CJK text, one between Latin words."""
    if left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right
