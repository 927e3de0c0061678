"""Plain data records for documents and their chunks."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field

KINDS = {
    "law": "法律",
    "administrative_regulation": "行政法规",
    "local_regulation": "地方性法规",
    "judicial_interpretation": "司法解释",
    "notice": "通知/工作方案",
    "training": "培训资料",
}


class IngestError(Exception):
    """A file that cannot be read as a document; the message says why, in Chinese."""


@dataclass
class Chunk:
    """One article (or plan section), or one part of an over-long article."""

    doc: str  # document title, as in its heading
    label: str  # 第三十条, or the section heading
    text: str  # the chunk's text, starting with its label for articles
    chapter: str = ""  # chapter path, e.g. "第八章 罚则"
    article_no: int | None = None
    part: int = 0  # 0 for a whole article, 1.. for parts of a split one
    kind: str = ""
    penalty: bool = False  # lies in a 法律责任/罚则 chapter
    id: str = ""

    @property
    def hash(self) -> str:
        """Content hash; the embedding cache key together with the embedder id."""
        data = f"{self.doc}\n{self.chapter}\n{self.label}\n{self.text}".encode()
        return hashlib.sha256(data).hexdigest()[:32]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Document:
    """A parsed document with its metadata and chunks."""

    title: str
    kind: str
    path: str
    sha256: str
    date: str = ""  # ISO version date, when known
    chunks: list[Chunk] = field(default_factory=list)

    def meta(self) -> dict:
        return {
            "title": self.title,
            "kind": self.kind,
            "path": self.path,
            "sha256": self.sha256,
            "date": self.date,
            "chunks": len(self.chunks),
        }


def join_parts(parts: list[str]) -> str:
    """The whole article from the texts of its parts (each part repeats the article's head once)."""
    if len(parts) <= 1:
        return parts[0] if parts else ""
    head = os.path.commonprefix(parts)
    head = head[: head.rfind("\n") + 1] if "\n" in head else ""
    return head + "\n".join(p[len(head):] for p in parts)


def article_texts(chunks: list[Chunk]) -> dict[tuple[str, str], str]:
    """``{(doc, label): whole article text}`` for a list of chunks in document order."""
    parts: dict[tuple[str, str], list[str]] = {}
    for chunk in chunks:
        parts.setdefault((chunk.doc, chunk.label), []).append(chunk.text)
    return {key: join_parts(texts) for key, texts in parts.items()}
