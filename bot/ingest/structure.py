"""Parse document text into title, kind, date and article- or section-level chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.ingest.lines import article_head, attachment, division
from bot.ingest.models import Chunk
from bot.numerals import article_label

MAX_CHUNK_CHARS = 700

_DATE_IN_NAME = re.compile(r"(\d{4})[-_.年](\d{1,2})[-_.月](\d{1,2})")
_DATE_IN_TEXT = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_MD_HEADING = re.compile(r"^(#{1,6})\s*(.+?)\s*#*$")
_ITEM = re.compile(r"^[（(][零〇一二两三四五六七八九十百千\d]+[）)]")
# Notice-style headings, by level: 一、  （一）  1.  （1）
_NOTICE_HEADINGS = [
    re.compile(r"^[一二三四五六七八九十]+、"),
    re.compile(r"^[（(][一二三四五六七八九十]+[）)]"),
    re.compile(r"^\d{1,2}[.．、](?!\d)"),
    re.compile(r"^[（(]\d{1,2}[）)]"),
]
_PENALTY_CHAPTER = re.compile(r"法律责任|罚则")
# A sanction in the article itself, for documents without a 法律责任/罚则 chapter.
_SANCTION = re.compile(
    r"(?:处|并处)[^。；]{0,40}罚款|吊销[^。；]{0,12}(?:证|执照)|给予[^。；]{0,8}处分|责令停产停业整顿"
)
_BODY_END = "。；;：:！？"


@dataclass
class ParsedText:
    title: str
    date: str
    chunks: list[Chunk] = field(default_factory=list)


def _clean_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.strip().strip("\u3000").strip() for line in text.split("\n")]


def _is_heading_like(line: str) -> bool:
    return 0 < len(line) <= 40 and line[-1] not in _BODY_END


def extract_date(name: str, text: str) -> str:
    """Version date: from the file name when it carries one, else the first date in the text."""
    for source in (name, text[:3000]):
        pattern = _DATE_IN_NAME if source is name else _DATE_IN_TEXT
        match = pattern.search(source)
        if match:
            year, month, day = (int(g) for g in match.groups())
            if 1949 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31:
                return f"{year:04d}-{month:02d}-{day:02d}"
    return ""


def extract_title(lines: list[str], fallback: str) -> tuple[str, int]:
    """Return the title and the index of the first body line.

    Markdown: the first ``# `` heading. Notice with an attachment (附件): the attachment's title lines.
    Otherwise the leading heading-like lines (joined: long titles are often broken over lines).
    """
    for i, line in enumerate(lines[:10]):
        match = _MD_HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return match.group(2).strip(), i + 1
    for i, line in enumerate(lines):
        if article_head(line) is not None:
            break  # a statute: an attachment after its articles is not the document's title
        if re.fullmatch(r"附件[：:]?\s*\d*[：:]?", line):
            title, end = _join_title(lines, i + 1)
            if title:
                return title, end
            break
    title, end = _join_title(lines, 0)
    return (title or fallback), (end if title else 0)


def _join_title(lines: list[str], start: int) -> tuple[str, int]:
    parts: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if (
            not _is_heading_like(line)
            or any(p.match(line) for p in _NOTICE_HEADINGS)
            or article_head(line) is not None
            or division(line) is not None
            or _DATE_IN_TEXT.search(line)
            or line.startswith("<!--")
        ):
            break
        if parts and (line.startswith(("各", "为")) or len("".join(parts)) > 80):
            break
        parts.append(line)
        i += 1
        if len(parts) >= 5:
            break
    return "".join(parts), i


def _skip_markdown_meta(lines: list[str], start: int) -> int:
    for i in range(start, min(len(lines), start + 40)):
        if lines[i].startswith("<!--") and "INFO END" in lines[i]:
            return i + 1
    return start


def parse_text(text: str, name: str, doc_kind: str = "") -> ParsedText:
    """Parse a whole document. ``name`` is the file name (for the date and a fallback title)."""
    lines = _clean_lines(text)
    stem = re.sub(r"\(\d{4}-\d{2}-\d{2}\)$", "", name.rsplit(".", 1)[0]).strip()
    title, body_start = extract_title(lines, stem)
    body_start = _skip_markdown_meta(lines, body_start)
    body = lines[body_start:]
    parsed = ParsedText(title=title, date=extract_date(name, text))
    article_lines = sum(1 for line in body if article_head(line) is not None)
    if article_lines >= 2:
        parsed.chunks = _parse_articles(body, title)
    else:
        parsed.chunks = _parse_sections(body, title)
    for chunk in parsed.chunks:
        chunk.kind = doc_kind
    return parsed


def _parse_articles(lines: list[str], title: str) -> list[Chunk]:
    """Statute layout: 编/章/节 headings and 第X条 articles with their paragraphs and items.

    Numbers may skip (an excerpt keeps each article); a line that starts with a reference continues
    its article; an attachment (附件、附表、附录, or numbering that restarts at 第一条) opens a scope of its
    own whose labels carry its name (附件1 第二条), so that every label stays unique.
    """
    return _ArticleParser(title).parse(lines)


class _ArticleParser:
    def __init__(self, title: str) -> None:
        self.title = title
        self.chunks: list[Chunk] = []
        self.divisions: dict[str, str] = {}
        self.scope = ""  # "" for the body, else the attachment's name (附件1)
        self.scope_title: list[str] = []
        self.scope_titled = False  # the marker line carried the title (附件1：……)
        self.scope_text: list[str] = []  # an attachment's lines before its first article
        self.scopes: set[str] = set()
        self.last_no = 0
        self.current: list[str] | None = None
        self.current_no: int | None = None
        self.current_label = ""
        self.current_chapter = ""
        self.preamble: list[str] = []

    def parse(self, lines: list[str]) -> list[Chunk]:
        for line in lines:
            if line:
                self._line(line)
        self._flush_article()
        self._flush_scope_text()
        preamble_text = "\n".join(self.preamble).strip()
        if len(preamble_text) >= 20:
            self.chunks.insert(0, Chunk(doc=self.title, label="序言", text=preamble_text))
        return self.chunks

    def _line(self, line: str) -> None:
        marker = attachment(line)
        if marker is not None and (self.scope or self.last_no):
            # (Before any article a marker starts the document itself: a cover notice and its rules.)
            self._open_scope(*marker)
            return
        heading = division(line)
        if heading is not None:
            level, name = heading
            if level == "编":
                self.divisions = {"编": name}
            elif level == "章":
                self.divisions = {k: v for k, v in self.divisions.items() if k == "编"} | {"章": name}
            else:
                self.divisions = {k: v for k, v in self.divisions.items() if k != "节"} | {"节": name}
            return
        md = _MD_HEADING.match(line)
        if md and self.current is None:
            if self.scope and not self.scope_titled and _is_heading_like(md.group(2)):
                self.scope_title.append(md.group(2).strip())
            return
        head = article_head(line)
        if head is not None and self._opens_article(head.number, head.suffix, head.separated):
            self._flush_article()
            self._flush_scope_text()
            self.current_no = head.number
            label = article_label(head.number, head.suffix)
            self.current_label = f"{self.scope} {label}" if self.scope else label
            self.current_chapter = self._chapter()
            self.current = [f"{self.current_label}　{head.rest}" if head.rest else self.current_label]
            self.last_no = head.number
            return
        if self.current is not None:
            self.current.append(line)
        elif self.scope:
            if not self.scope_text and not self.scope_titled and _is_heading_like(line) and len(self.scope_title) < 2:
                self.scope_title.append(line)
            else:
                self.scope_text.append(line)
        else:
            self.preamble.append(line)

    def _opens_article(self, number: int, suffix: str, separated: bool) -> bool:
        if number > self.last_no or (suffix and number == self.last_no):
            return True
        if number == 1 and not suffix and separated:
            # Numbering starts again without a marker: an attachment whose heading we did not recognise.
            title = self._trailing_heading_lines()
            self._open_scope("附件", "")
            self.scope_title = title
            return True
        return False

    def _trailing_heading_lines(self) -> list[str]:
        """Heading-like lines at the end of the article being read: the next attachment's title."""
        taken: list[str] = []
        while self.current is not None and len(self.current) > 1 and _is_heading_like(self.current[-1]) \
                and not _ITEM.match(self.current[-1]) and len(taken) < 3:
            taken.insert(0, self.current.pop())
        return taken

    def _open_scope(self, name: str, title: str) -> None:
        self._flush_article()
        self._flush_scope_text()
        kind = re.sub(r"\d+$", "", name)
        number = 2
        while name in self.scopes:
            name = f"{kind}{number}"
            number += 1
        self.scopes.add(name)
        self.scope = name
        self.scope_title = [title] if title else []
        self.scope_titled = bool(title)
        self.scope_text = []
        self.divisions = {}
        self.last_no = 0

    def _scope_heading(self) -> str:
        return f"{self.scope} {''.join(self.scope_title)}".strip() if self.scope else ""

    def _chapter(self) -> str:
        parts = [self.divisions[k] for k in ("编", "章", "节") if k in self.divisions]
        if self.scope:
            parts.insert(0, self._scope_heading())
        return " / ".join(parts)

    def _flush_article(self) -> None:
        if self.current is not None:
            self.chunks.extend(_make_article_chunks(self.title, self.current_chapter, self.current_label,
                                                    self.current_no, self.current))
        self.current = None

    def _flush_scope_text(self) -> None:
        """An attachment's own text (a table, a form) before or instead of articles: one chunk, or parts."""
        text = "\n".join(self.scope_text).strip()
        self.scope_text = []
        if not self.scope or not text:
            return
        heading = self._scope_heading()
        parts = _split_plain(f"{heading}\n{text}")
        for i, part in enumerate(parts, start=1):
            self.chunks.append(Chunk(doc=self.title, label=self.scope, chapter=heading, text=part,
                                     part=i if len(parts) > 1 else 0))


def _make_article_chunks(
    title: str, chapter: str, label: str, number: int | None, lines: list[str]
) -> list[Chunk]:
    text = "\n".join(lines)
    penalty = bool(_PENALTY_CHAPTER.search(chapter)) or (
        not _has_chapter_structure(chapter) and bool(_SANCTION.search(text))
    )
    base = dict(doc=title, label=label, chapter=chapter, article_no=number, penalty=penalty)
    if len(text) <= MAX_CHUNK_CHARS:
        return [Chunk(text=text, **base)]
    return [Chunk(text=part, part=i, **base) for i, part in enumerate(split_long(lines), start=1)]


def _has_chapter_structure(chapter: str) -> bool:
    return "章" in chapter


def split_long(lines: list[str], limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split an over-long article at its items (else paragraphs), repeating the head in each part."""
    head_end = next((i for i, line in enumerate(lines) if i > 0 and _ITEM.match(line)), None)
    if head_end is None:
        head_end = 1
    head = "\n".join(lines[:head_end])
    parts: list[str] = []
    buffer: list[str] = []
    size = len(head)
    for line in lines[head_end:]:
        if buffer and size + len(line) > limit:
            parts.append("\n".join([head, *buffer]))
            buffer, size = [], len(head)
        buffer.append(line)
        size += len(line) + 1
    if buffer or not parts:
        parts.append("\n".join([head, *buffer]))
    return parts


def _heading_level(line: str) -> tuple[int, str] | None:
    md = _MD_HEADING.match(line)
    if md:
        return len(md.group(1)), md.group(2).strip()
    if not _is_heading_like(line):
        return None
    for level, pattern in enumerate(_NOTICE_HEADINGS, start=2):
        if pattern.match(line):
            return level, line
    return None


def _parse_sections(lines: list[str], title: str) -> list[Chunk]:
    """Notice or training layout: numbered or markdown headings; each lowest section is a chunk."""
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    label = "前言"

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            chapter = " / ".join(h for _, h in path[:-1]) if label != "前言" else ""
            full = f"{label}\n{text}" if label != "前言" else text
            parts = _split_plain(full)
            for i, part in enumerate(parts, start=1):
                number = i if len(parts) > 1 else 0
                chunks.append(Chunk(doc=title, label=label, chapter=chapter, text=part, part=number))

    for line in lines:
        if not line:
            continue
        heading = _heading_level(line)
        if heading is None:
            body.append(line)
            continue
        flush()
        body = []
        level, label = heading
        path = [(lv, h) for lv, h in path if lv < level] + [(level, label)]
    flush()
    return chunks


def _split_plain(text: str) -> list[str]:
    if len(text) <= MAX_CHUNK_CHARS:
        return [text]
    lines = text.split("\n")
    return split_long(lines)
