"""How people ask about each article: phrasings kept in ``knowledge/phrasings/*.yaml``.

Each entry is keyed by document title, article label and a fingerprint of the article text; an entry whose
article changed since it was written is ignored and reported. Every phrasing carries the sentence of the
article that answers it, verbatim. File layout::

    doc: 建设工程质量管理条例
    articles:
      - label: 第三十条
        fingerprint: 1a2b3c4d5e6f
        phrasings:
          - q: 管线埋进墙里之前要叫谁来看？
            voice: site            # site | exam | fragment
            answer: 隐蔽工程在隐蔽前，施工单位应当通知建设单位和建设工程质量监督机构。
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.yamlio import load_yaml

VOICES = ("site", "exam", "fragment")
_NOT_TEXT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Phrasing:
    """One way of asking about one article, with the article's answering sentence."""

    doc: str
    label: str
    question: str
    answer: str
    voice: str = "site"

    def to_dict(self) -> dict:
        return {"doc": self.doc, "label": self.label, "q": self.question, "answer": self.answer,
                "voice": self.voice}


@dataclass
class PhrasingFile:
    """The raw entries of one file, before they are matched to indexed articles."""

    path: Path
    doc: str
    articles: list[dict] = field(default_factory=list)


@dataclass
class Attached:
    """Phrasings that matched their articles, and what was wrong with the rest."""

    phrasings: list[Phrasing] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def article_fingerprint(text: str) -> str:
    """A short hash of an article's text, blind to whitespace."""
    return hashlib.sha256("".join(text.split()).encode("utf-8")).hexdigest()[:12]


def normalise(text: str) -> str:
    """Text without whitespace and punctuation, for n-gram comparisons."""
    return _NOT_TEXT.sub("", text)


def char_ngrams(text: str, n: int) -> set[str]:
    text = normalise(text)
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def ngram_share(part: str, whole: str, n: int) -> float:
    """Share of ``part``'s character n-grams that also occur in ``whole``."""
    grams = char_ngrams(part, n)
    return len(grams & char_ngrams(whole, n)) / len(grams) if grams else 0.0


def read_phrasing_files(folder: Path | None) -> tuple[list[PhrasingFile], list[str]]:
    """Parse every ``*.yaml`` under ``folder``; unreadable files are reported, not raised."""
    if folder is None or not Path(folder).is_dir():
        return [], []
    files: list[PhrasingFile] = []
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            data = load_yaml(path) or {}
            doc = str(data["doc"]).strip()
            articles = list(data.get("articles") or [])
        except Exception as exc:  # a broken file must not stop indexing
            problems.append(f"{path.name}：无法读取（{exc}）")
            continue
        files.append(PhrasingFile(path, doc, articles))
    return files, problems


def attach(
    files: Iterable[PhrasingFile],
    articles: dict[tuple[str, str], str],
    resolve: Callable[[str], str | None],
) -> Attached:
    """Match file entries to indexed articles ``{(doc, label): text}``.

    ``resolve`` maps a document name to an indexed title. Entries for documents that are not indexed are
    skipped quietly (the knowledge may hold only some documents); a changed article, an unknown label or an
    answer that is not verbatim in its article is reported.
    """
    out = Attached()
    for file in files:
        title = resolve(file.doc)
        if title is None:
            continue
        for entry in file.articles:
            label = str(entry.get("label", "")).strip()
            text = articles.get((title, label))
            where = f"{file.path.name} {label}"
            if text is None:
                out.problems.append(f"{where}：《{title}》中没有这一条")
                continue
            if str(entry.get("fingerprint", "")) != article_fingerprint(text):
                out.problems.append(f"{where}：条文已改动（指纹不符），其问法已忽略")
                continue
            for item in entry.get("phrasings") or []:
                question = str(item.get("q", "")).strip()
                answer = str(item.get("answer", "")).strip()
                voice = str(item.get("voice", "site")).strip()
                if not question or not answer:
                    out.problems.append(f"{where}：问法或答句为空")
                elif answer not in text:
                    out.problems.append(f"{where}：答句不是条文原文：{answer[:30]}")
                else:
                    out.phrasings.append(Phrasing(title, label, question, answer, voice))
    return out
