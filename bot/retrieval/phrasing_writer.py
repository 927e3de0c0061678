"""Phrasings written by an LLM for articles that have none (uploaded documents), cached and validated.

Each article is sent once; the reply is cached by a hash of the article, so re-indexing costs nothing. A
phrasing is kept only when its answering sentence is verbatim in the article.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlite_utils

from bot.retrieval.phrasings import VOICES, Phrasing

log = logging.getLogger(__name__)

PROMPT = (
    "你为建设工程法规问答系统编写“问法”。给你一条条文，请写出 3 到 5 个一线人员（项目经理、质量员、安全员、监理、"
    "建设单位代表）可能提出、且正由这条条文回答的问题：口语化的、考试式的、以及 3 到 12 个字的关键词短语各有。"
    "不要照抄条文。每个问题附上条文中回答它的那一句原文（逐字摘抄）。"
    '只输出 JSON 数组，例如 [{"q": "问题", "voice": "site|exam|fragment", "answer": "条文原句"}]。'
)
_JSON_ARRAY = re.compile(r"\[.*\]", re.S)


class PhrasingWriter(Protocol):
    """Writes phrasings for one article: returns the raw reply (a JSON array as text)."""

    id: str

    def write(self, doc: str, label: str, text: str) -> str: ...


class LLMPhrasingWriter:
    """Asks a chat-completions endpoint (see :class:`bot.llm_client.ChatClient`)."""

    def __init__(self, client) -> None:
        self.client = client
        self.id = f"llm:{client.model}"

    def write(self, doc: str, label: str, text: str) -> str:
        return self.client.complete(PROMPT, f"《{doc}》{text}")


def parse_reply(reply: str, doc: str, label: str, article: str) -> list[Phrasing]:
    """The valid phrasings in a reply: a question, a known voice, an answer found verbatim in the article."""
    match = _JSON_ARRAY.search(reply or "")
    try:
        items = json.loads(match.group(0)) if match else []
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        question, answer = str(item.get("q", "")).strip(), str(item.get("answer", "")).strip()
        voice = str(item.get("voice", "site")).strip()
        if question and len(question) <= 120 and answer and answer in article:
            out.append(Phrasing(doc, label, question, answer, voice if voice in VOICES else "site"))
    return out


def write_missing(
    writer: PhrasingWriter, articles: dict[tuple[str, str], str], covered: set[str], cache_path: Path,
    progress: Callable[[str], None],
) -> list[Phrasing]:
    """Phrasings for the articles of documents not in ``covered`` (cached replies reused)."""
    wanted = [(doc, label, text) for (doc, label), text in articles.items() if doc not in covered]
    if not wanted:
        return []
    db = sqlite_utils.Database(cache_path)
    table = db.table("replies")
    if not table.exists():
        table.create({"writer": str, "hash": str, "reply": str}, pk=("writer", "hash"))
    out: list[Phrasing] = []
    try:
        for n, (doc, label, text) in enumerate(wanted, start=1):
            digest = hashlib.sha256(f"{doc}\n{label}\n{text}".encode()).hexdigest()[:32]
            rows = list(db.query("select reply from replies where writer = ? and hash = ?", [writer.id, digest]))
            if rows:
                reply = rows[0]["reply"]
            else:
                progress(f"语言模型编写问法 {n}/{len(wanted)}")
                try:
                    reply = writer.write(doc, label, text)
                except Exception as exc:  # an unreachable model must not stop indexing …
                    log.warning("phrasing writer failed for %s %s (%s); the remaining %d articles wait for the "
                                "next re-index", doc, label, exc, len(wanted) - n)
                    break  # … nor hold it up for a timeout per article

                table.upsert({"writer": writer.id, "hash": digest, "reply": reply}, pk=("writer", "hash"))
            out.extend(parse_reply(reply, doc, label, text))
    finally:
        db.close()
    return out
