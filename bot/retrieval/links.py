"""Link duty articles to the penalty articles that enforce them (and back).

A penalty article either names the duty article (违反本条例第二十九条规定) or describes the breach in
the duty's own words; the second case is resolved by BM25 similarity within the same document.
"""

from __future__ import annotations

import re

import bm25s
import numpy as np

from bot.ingest.models import Chunk
from bot.numerals import NUM_PATTERN, to_int
from bot.retrieval.tokenizer import Tokenizer

_REF = re.compile(rf"第({NUM_PATTERN})条")
# Boilerplate of penalty clauses that says nothing about which duty was breached.
_BOILERPLATE = re.compile(
    r"违反本(法|条例|规定|办法)规定|责令(限期)?改正|处[^，；。]*?罚款|没收违法所得|降低资质等级|吊销[^，；。]*|"
    r"停业整顿|依法追究刑事责任|构成犯罪的|情节严重的|有下列行为之一的|由[^，；。]*?部门"
)


def explicit_refs(chunk: Chunk) -> list[int]:
    """Article numbers of the same document that a chunk names (not those of another 《document》)."""
    body = chunk.text[len(chunk.label):]
    numbers = []
    for match in _REF.finditer(body):
        before = body[max(0, match.start() - 14): match.start()]
        if "》" in before:
            continue
        number = to_int(match.group(1))
        if number is not None and number != chunk.article_no:
            numbers.append(number)
    return numbers


def build_links(chunks: list[Chunk], tokenizer: Tokenizer) -> dict[str, list[str]]:
    """Map chunk id -> linked chunk ids: penalty -> duties and duty -> penalties."""
    weighted: dict[str, dict[str, float]] = {}

    def add(a: str, b: str, weight: float) -> None:
        if a != b:
            row = weighted.setdefault(a, {})
            row[b] = max(row.get(b, 0.0), weight)

    by_doc: dict[str, list[int]] = {}
    for i, chunk in enumerate(chunks):
        by_doc.setdefault(chunk.doc, []).append(i)
    for indices in by_doc.values():
        duties = [i for i in indices if not chunks[i].penalty and chunks[i].article_no is not None]
        penalties = [i for i in indices if chunks[i].penalty]
        if not duties or not penalties:
            continue
        by_number: dict[int, list[int]] = {}
        for i in duties:
            by_number.setdefault(chunks[i].article_no or 0, []).append(i)
        retriever = bm25s.BM25()
        retriever.index([tokenizer.tokens(chunks[i].text) or ["∅"] for i in duties], show_progress=False)
        for p in penalties:
            refs = [(i, 1e9) for n in explicit_refs(chunks[p]) for i in by_number.get(n, [])]
            if not refs:
                # A penalty article often lists several breaches as items: each item is matched on its own.
                for clause in _clauses(chunks[p].text):
                    refs.extend(_closest_duties(retriever, duties, tokenizer.tokens(clause)))
            for d, weight in refs:
                add(chunks[p].id, chunks[d].id, weight)
                add(chunks[d].id, chunks[p].id, 0.0)
        # A duty's penalties, closest first: score the penalty clauses with the duty's own words.
        stripped = bm25s.BM25()
        stripped.index([tokenizer.tokens(_BOILERPLATE.sub(" ", chunks[p].text)) or ["∅"] for p in penalties],
                       show_progress=False)
        column = {chunks[p].id: j for j, p in enumerate(penalties)}
        for d in duties:
            row = weighted.get(chunks[d].id)
            if not row:
                continue
            query = [t for t in tokenizer.tokens(chunks[d].text) if t in stripped.vocab_dict]
            scores = stripped.get_scores(query) if query else np.zeros(len(penalties))
            for penalty_id in row:
                row[penalty_id] = float(scores[column[penalty_id]])
    # Strongest link first.
    return {a: sorted(row, key=lambda b: -row[b]) for a, row in weighted.items()}


_ITEM_LINE = re.compile(r"^[（(][一二三四五六七八九十\d]+[）)]")


def _clauses(text: str) -> list[str]:
    """The breaches a penalty article describes: its items, or the whole text when it has none."""
    items = [line for line in text.split("\n") if _ITEM_LINE.match(line.strip())]
    return [_BOILERPLATE.sub(" ", clause) for clause in (items or [text])]


def _closest_duties(retriever: bm25s.BM25, duties: list[int], tokens: list[str]) -> list[tuple[int, float]]:
    """Up to two duty chunks closest (BM25) to a breach's words."""
    query = [t for t in tokens if t in retriever.vocab_dict]
    if not query:
        return []
    scores = retriever.get_scores(query)
    best = int(np.argmax(scores))
    if scores[best] <= 0:
        return []
    return [(duties[j], float(scores[j])) for j in np.argsort(-scores)[:2] if scores[j] >= 0.85 * scores[best]]
